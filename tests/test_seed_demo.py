"""``manage.py seed_demo``: the founders, newcomers and six weeks of their use of the
platform, played in time order through the platform's own code.

The history is seeded once for the module, inside a transaction rolled back at its
end: each test reads it in a savepoint of its own.
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F, Max, Min
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from audit.models import AuditRecord, EntityLink, SessionKind, Source, UserSession
from catalog.kinds import KINDS
from catalog.models import Comment, Connection, Query
from demo import calendar, errors, seed
from demo.people import NEWCOMERS, PEOPLE
from demo.plan import MAX_STEPS

# The history the tests read is laid out from a fixed moment: the plan's random draws
# follow the calendar (weekdays, who sits when), so a history ending on another date is
# another history, and on some dates the regression's return drew no occurrence.
SEEDED_AT = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)


def _seed() -> str:
    out = StringIO()
    with mock.patch.object(seed, "seed", functools.partial(seed.seed, now=SEEDED_AT)):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), fast:
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _seed()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def history(seeded: str, db: Any) -> str:
    return seeded


def test_the_founders_can_sign_in_and_the_output_says_how(history: str) -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"analysts", "engineers", "viewers"}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    alice = User.objects.get(username="alice")
    assert alice.check_password("alice-demo")
    assert alice.groups.filter(name="analysts").exists()
    assert User.objects.get(username="dave").groups.filter(name="viewers").exists()
    token = Token.objects.get(user=alice)
    assert token.key in history and "alice-demo" in history and "http://127.0.0.1:8000/" in history
    assert "6 weeks" in history and "10 people joined" in history


def test_six_weeks_of_varied_activity_with_a_weekday_rhythm(history: str) -> None:
    records = AuditRecord.objects.all()
    assert 5000 <= records.count() <= 15000
    span = records.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["last"] - span["first"] > timedelta(days=40)
    assert span["last"] <= datetime.now(UTC)
    assert records.values("type").distinct().count() >= 30
    assert records.filter(user__isnull=True, source=Source.SERVER).exists()  # the worker
    by_weekday = Counter(
        at.weekday()
        for at in records.filter(source=Source.CLIENT).values_list("created_at", flat=True)
    )
    weekday = sum(by_weekday[day] for day in range(5)) / 5
    weekend = (by_weekday[5] + by_weekday[6]) / 2
    assert weekend < weekday / 3, by_weekday


def test_records_are_stored_in_time_order(history: str, client: Client) -> None:
    """Ids follow times, so every newest-first list is newest first (issue: a week-old
    record above yesterday's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT created_at, LEAD(created_at) OVER (ORDER BY id) AS "
            "next_at FROM audit_auditrecord) AS pairs WHERE next_at < created_at"
        )
        assert cursor.fetchone()[0] == 0
    alice = User.objects.get(username="alice")
    client.force_login(alice)
    page = client.get("/api/audit/events/?user=alice&limit=200").json()["results"]
    stamps = [item["timestamp"] for item in page]
    assert stamps == sorted(stamps, reverse=True)
    newest = AuditRecord.objects.filter(user=alice).latest("created_at")
    assert page[0]["id"] == newest.pk
    html = client.get("/activity/users/alice/").content.decode()
    shown = [int(pk) for pk in re.findall(r'data-record="(\d+)"', html)]
    times = dict(AuditRecord.objects.filter(pk__in=shown).values_list("pk", "created_at"))
    assert len(shown) >= 20
    assert [times[pk] for pk in shown] == sorted(times.values(), reverse=True)
    assert times[shown[0]] == newest.created_at


def test_every_change_record_is_change_trackings_own(history: str) -> None:
    """Edits carry a field diff and link their entity (and its project): they were made
    by saving the entity, not written to look like it."""
    tracked = [f"{kind}-{what}" for kind in KINDS for what in ("created", "edited")]
    tracked += ["query-transformations-edited", "job-transformations-edited"]
    changes = AuditRecord.objects.filter(type__name__in=tracked)
    assert changes.filter(type__name="query-edited").count() >= 3
    for record in changes.prefetch_related("links"):
        assert record.changes, record
        kinds_linked = {link.content_type.model for link in record.links.all()}
        assert kinds_linked, record
        if record.type.name.endswith("-edited"):
            for change in record.changes.values():
                assert set(change) == {"old", "new"}, record.changes
        assert "changed" not in record.params
    linked_to_project = changes.filter(type__name="query-edited", links__role="project").distinct()
    assert linked_to_project.exists()
    for password in Connection.objects.values_list("password", flat=True):
        assert not AuditRecord.objects.filter(changes__icontains=password).exists()


def test_every_error_links_what_it_happened_in_and_groups_by_fingerprint(history: str) -> None:
    errors_ = AuditRecord.objects.filter(type__name="error")
    assert errors_.count() >= 40
    assert not errors_.filter(links__isnull=True).exists()
    assert not errors_.filter(fingerprint="").exists()
    groups = errors_.values("fingerprint").distinct().count()
    assert groups == len(errors.ERRORS)
    # The regression: the filter error stops after its fix and comes back.
    first_day = AuditRecord.objects.aggregate(first=Min("created_at"))["first"]
    start = first_day.replace(hour=0, minute=0, second=0, microsecond=0)
    recursion = errors_.filter(message__startswith="RangeError")
    days = {(at - start).days for at in recursion.values_list("created_at", flat=True)}
    assert days & set(range(0, 21)) and days & set(range(32, 42))
    assert not days & set(range(22, 31))
    # A server error carries a Python traceback and links the job that failed.
    server = errors_.filter(source=Source.SERVER).first()
    assert server is not None and "Traceback" in server.stack_trace
    assert server.links.filter(content_type__model="job").exists()


def test_sittings_are_signed_in_sessions_of_one_person(history: str) -> None:
    browser = UserSession.objects.filter(kind=SessionKind.BROWSER)
    assert browser.count() >= 250
    for session in browser.order_by("?")[:40]:
        assert session.started_at <= session.last_seen_at <= session.ended_at
        assert session.ip and session.user_agent
        own = list(session.records.order_by("id").values_list("type__name", flat=True))
        assert own[0] == "user-signed-in" and own[-1] == "user-signed-out"
        assert 4 <= len(own) <= 2 * MAX_STEPS + 2
    records = AuditRecord.objects.all()
    assert not records.filter(user__isnull=False).exclude(user_id=F("session__user_id")).exists()
    assert not records.filter(user__isnull=True, session__user__isnull=False).exists()
    assert not records.filter(source=Source.CLIENT, client_time__isnull=True).exists()


def test_a_person_never_sits_twice_at_once(history: str) -> None:
    sittings = UserSession.objects.filter(kind=SessionKind.BROWSER).order_by("user", "started_at")
    previous = None
    for session in sittings:
        if previous is not None and previous.user_id == session.user_id:
            assert session.started_at > previous.ended_at, (previous, session)
        previous = session


def test_newcomers_are_invited_then_join_over_the_weeks(history: str) -> None:
    first_sign_ins = []
    for person in NEWCOMERS:
        user = User.objects.get(username=person.username)
        assert user.is_active and user.check_password(person.password)
        assert set(user.groups.values_list("name", flat=True)) == set(person.groups)
        invited = AuditRecord.objects.get(type__name="user-invited", links__object_id=str(user.pk))
        assert invited.user.username == "admin"
        first = AuditRecord.objects.filter(type__name="user-signed-in", user=user).earliest("id")
        assert invited.created_at < first.created_at
        first_sign_ins.append(first.created_at)
        assert AuditRecord.objects.filter(type__name="tutorial-completed", user=user).exists()
    assert first_sign_ins == sorted(first_sign_ins)
    assert first_sign_ins[-1] - first_sign_ins[0] > timedelta(days=21)


def test_entities_end_in_the_state_their_history_tells(history: str, client: Client) -> None:
    for spec in KINDS.values():
        assert spec.model.objects.count() >= 3, spec.kind
    owners = set()
    for spec in KINDS.values():
        owners |= set(spec.model.objects.values_list("owner__username", flat=True))
    assert owners >= {"alice", "bob", "carol"}
    assert Query.objects.filter(published=True).exists()
    assert Query.objects.filter(shared_with_groups__name="analysts").exists()

    query = Query.objects.get(name="Top customers by revenue")
    links = EntityLink.objects.filter(content_type__model="query", object_id=str(query.pk))
    mine = AuditRecord.objects.filter(pk__in=links.values("record_id"))
    last_text = mine.filter(type__name="query-edited", changes__has_key="text").latest("id")
    assert last_text.changes["text"]["new"] == query.text
    assert mine.earliest("id").type.name == "query-created"
    assert query.created_at == mine.earliest("id").created_at
    assert Comment.objects.filter(object_id=query.pk).count() >= 3

    client.force_login(User.objects.get(username="alice"))
    response = client.get(f"/api/audit/entities/query/{query.pk}/activity/?limit=500")
    assert response.status_code == 200
    seen = {item["type"].replace("-silent", "") for item in response.json()["results"]}
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
    assert len({item["user"] for item in response.json()["results"]}) >= 3


def test_seed_demo_twice_duplicates_nothing(history: str) -> None:
    users, records, sessions = (
        User.objects.count(),
        AuditRecord.objects.count(),
        UserSession.objects.count(),
    )
    entities = {kind: spec.model.objects.count() for kind, spec in KINDS.items()}
    output = _seed()
    assert User.objects.count() == users
    assert AuditRecord.objects.count() == records
    assert UserSession.objects.count() == sessions
    assert {kind: spec.model.objects.count() for kind, spec in KINDS.items()} == entities
    assert "already there" in output


def test_sittings_follow_the_weekday_rhythm() -> None:
    rng = random.Random(3)
    first_day = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    for index, person in enumerate(PEOPLE):
        found = calendar.sittings(rng, person, index, first_day, seed.DAYS)
        starts = [sitting.start for sitting in found]
        assert starts == sorted(starts)
        assert starts[0] >= first_day + timedelta(days=person.joins_on_day)
    weekdays = Counter(
        sitting.start.weekday()
        for index, person in enumerate(PEOPLE)
        for sitting in calendar.sittings(rng, person, index, first_day, seed.DAYS)
    )
    assert weekdays[1] > 4 * weekdays[6]
