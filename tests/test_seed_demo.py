"""``manage.py seed_demo``: demo people and four weeks of plausible, linked activity."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db.models import F, Max, Min
from rest_framework.authtoken.models import Token

from audit import demo
from audit.models import AuditRecord, EntityLink, SessionKind, Source, UserSession


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
    output = _seed()
    assert User.objects.count() == users
    assert AuditRecord.objects.count() == records
    assert UserSession.objects.count() == sessions
    assert "already" in output


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
