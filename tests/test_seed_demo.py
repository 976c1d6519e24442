"""``manage.py seed_demo``: demo people, four weeks of plausible, linked activity, and the
platform's entities with their histories."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db.models import F, Max, Min
from django.test import Client
from rest_framework.authtoken.models import Token

from audit import demo
from audit.models import AuditRecord, EntityLink, SessionKind, Source, UserSession
from catalog import demo as catalog_demo
from catalog.kinds import KINDS
from catalog.models import Comment, Connection, Query


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_creates_people_and_a_spread_of_activity() -> None:
    output = _seed()

    assert set(Group.objects.values_list("name", flat=True)) >= {"analysts", "engineers", "viewers"}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    alice = User.objects.get(username="alice")
    assert alice.check_password("alice-demo")
    assert alice.groups.filter(name="analysts").exists()
    assert User.objects.get(username="dave").groups.filter(name="viewers").exists()
    token = Token.objects.get(user=alice)
    assert token.key in output and "alice-demo" in output and "http://127.0.0.1:8000/" in output

    records = AuditRecord.objects.all()
    assert 3000 <= records.count() <= 6000
    span = records.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["last"] - span["first"] > timedelta(days=14)
    assert span["last"] <= datetime.now(UTC)
    assert records.values("type").distinct().count() >= 20
    assert records.filter(type__name="error").exclude(fingerprint="").exists()
    assert records.filter(user__isnull=True, source=Source.SERVER).exists()
    assert EntityLink.objects.filter(content_type__model="group").exists()
    assert EntityLink.objects.filter(content_type__model="user").exclude(name="").exists()

    browser = UserSession.objects.filter(kind=SessionKind.BROWSER)
    assert browser.count() >= 5 * demo.WEEKS
    for session in browser.filter(user=alice)[:10]:
        assert session.started_at <= session.last_seen_at < session.ended_at
        assert session.last_seen_at < datetime.now(UTC) - timedelta(hours=1)
        assert session.ip and session.user_agent
        own = session.records.all()
        assert 5 <= own.count() <= 40
        assert set(own.values_list("user_id", flat=True)) == {alice.pk}
    # A record's user is always its session's user (none for the server's sessions).
    assert not records.filter(user__isnull=False).exclude(user_id=F("session__user_id")).exists()
    assert not records.filter(user__isnull=True, session__user__isnull=False).exists()


@pytest.mark.django_db
def test_seed_demo_twice_duplicates_nothing() -> None:
    _seed()
    users, records, sessions = (
        User.objects.count(),
        AuditRecord.objects.count(),
        UserSession.objects.count(),
    )
    entities = {kind: spec.model.objects.count() for kind, spec in KINDS.items()}
    comments = Comment.objects.count()
    output = _seed()
    assert User.objects.count() == users
    assert AuditRecord.objects.count() == records
    assert UserSession.objects.count() == sessions
    assert {kind: spec.model.objects.count() for kind, spec in KINDS.items()} == entities
    assert Comment.objects.count() == comments
    assert "already" in output and "Demo entities were already there" in output


@pytest.mark.django_db
def test_seed_demo_creates_entities_of_every_kind_with_histories(client: Client) -> None:
    output = _seed()
    for spec in KINDS.values():
        assert spec.model.objects.count() >= 3, spec.kind
        assert spec.label_plural.lower() in output
    owners = set()
    for spec in KINDS.values():
        owners |= set(spec.model.objects.values_list("owner__username", flat=True))
    assert owners >= {"alice", "bob", "carol"}
    assert Query.objects.filter(published=True).exists()
    assert Query.objects.filter(shared_with_groups__name="analysts").exists()

    history = AuditRecord.objects.filter(session__client=catalog_demo.SEED_CLIENT)
    types = set(history.values_list("type__name", flat=True))
    assert {f"{kind}-created" for kind in KINDS} <= types
    assert {
        "query-edited",
        "query-transformations-edited",
        "job-transformations-edited",
        "connection-edited",
        "entity-shared",
        "query-start",
        "table-produced",
        "query-published",
        "comment-posted",
        "project-opened",
    } <= types
    span = history.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["last"] - span["first"] > timedelta(days=14)
    assert span["last"] < datetime.now(UTC) - timedelta(hours=1)
    assert history.values("user").distinct().count() >= 4
    assert not history.exclude(user_id=F("session__user_id")).exists()
    for session in UserSession.objects.filter(client=catalog_demo.SEED_CLIENT):
        assert 5 <= session.records.count() <= 40
        assert session.started_at <= session.last_seen_at < session.ended_at
    # Secrets never reach a record in clear.
    for password in Connection.objects.values_list("password", flat=True):
        assert not history.filter(changes__icontains=password).exists()

    # An entity's page state is the last value its history records.
    query = Query.objects.get(name="Top customers by revenue")
    links = EntityLink.objects.filter(content_type__model="query", object_id=str(query.pk))
    mine = history.filter(pk__in=links.values("record_id"))
    last_text = mine.filter(type__name="query-edited", changes__has_key="text").latest("id")
    assert last_text.changes["text"]["new"] == query.text
    assert mine.earliest("created_at").type.name == "query-created"
    assert query.created_at == mine.earliest("created_at").created_at
    assert Comment.objects.filter(object_id=query.pk).count() >= 3

    # ... and its owner reads that history through the activity API.
    client.force_login(User.objects.get(username="alice"))
    response = client.get(f"/api/audit/entities/query/{query.pk}/activity/?limit=200")
    assert response.status_code == 200
    seen = {item["type"] for item in response.json()["results"]}
    assert {
        "query-created",
        "query-edited",
        "query-transformations-edited",
        "entity-shared",
        "query-start",
        "table-produced",
        "comment-posted",
        "query-published",
    } <= seen
    users = {item["user"] for item in response.json()["results"]}
    assert len(users) >= 3


def test_stories_are_5_to_40_events_of_known_types() -> None:
    rng = random.Random(1)
    cast = demo.Cast(
        users={
            name: User(pk=i + 1, username=name)
            for i, name in enumerate(["alice", "bob", "carol", "dave"])
        },
        groups={name: Group(pk=i + 1, name=name) for i, name in enumerate(demo.GROUPS)},
    )
    for persona in demo.PERSONAS:
        for _ in range(20):
            steps = demo.story(rng, persona, cast)
            assert 5 <= len(steps) <= 40


def test_batches_split_by_source_and_window() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    client = demo.Step("log", "a")
    server = demo.Step("query-start", "b", source=Source.SERVER)
    timed = [
        (start + timedelta(minutes=m), step)
        for m, step in [(1, client), (2, server), (3, client), (20, client)]
    ]
    batches = demo._batches(timed, start)
    assert [[step.source for _, step in batch] for batch in batches] == [
        [Source.SERVER],
        [Source.CLIENT, Source.CLIENT],
        [Source.CLIENT],
    ]
