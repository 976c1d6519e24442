"""Usage analysis counts exactly: known events of known users at known times, asked by
day, week and hour, in UTC and in New York, filtered by type, level, user and group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

import audit
from analysis import rollups
from analysis.models import TypeHour, UserDay
from audit import AuditContext, bind
from tests.analysis_helpers import api, at, usage

pytestmark = pytest.mark.django_db


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def story(staff: User) -> dict[str, User]:
    """Monday 2 to Monday 9 November 2026 (New York is UTC-5 then)."""
    g1, g2 = Group.objects.create(name="g1"), Group.objects.create(name="g2")
    u1 = User.objects.create_user("u1")
    u2 = User.objects.create_user("u2")
    u3 = User.objects.create_user("u3")
    u1.groups.add(g1)
    u2.groups.add(g1, g2)
    u3.groups.add(g2)
    at(u1, t(2, 10), "log")
    at(u2, t(2, 12), "dialog-ok")
    at(u1, t(2, 23, 30), "log")  # Monday 18:30 in New York
    at(u1, t(3, 3), "error", level="error", stack_trace="Error: x\n    at f (a.js:1:2)")
    at(None, t(3, 5), "job-start")  # Tuesday 00:00 in New York: no user
    at(u2, t(4, 1), "log")  # Tuesday 20:00 in New York
    at(u3, t(8, 23), "log")  # Sunday: the first week's last day
    at(u1, t(9, 10), "log")  # the second week
    return {"u1": u1, "u2": u2, "u3": u3}


MON_TO_WED = {"since": "2026-11-02T00:00:00Z", "until": "2026-11-05T00:00:00Z"}


def test_days_in_utc(story, staff) -> None:
    answer = usage(api(staff), **MON_TO_WED)
    assert answer["bucket"] == "day"
    assert [(b["events"], b["users"]) for b in answer["series"]] == [(3, 2), (2, 1), (1, 1)]
    assert answer["totals"] == {"events": 6, "users": 2, "sessions": 3}
    assert answer["types"][0] == {"type": "log", "events": 3, "users": 2}
    assert {row["type"]: (row["events"], row["users"]) for row in answer["types"]} == {
        "log": (3, 2),
        "dialog-ok": (1, 1),
        "error": (1, 1),
        "job-start": (1, 0),
    }
    assert [(row["user"], row["events"], row["sessions"]) for row in answer["users"]] == [
        ("u1", 3, 1),
        ("u2", 2, 1),
    ]
    assert answer["users"][0]["last_seen"].startswith("2026-11-03T03:00")


def test_days_in_new_york(story, staff) -> None:
    answer = usage(api(staff), since="2026-11-02", until="2026-11-04T23:59", tz="America/New_York")
    assert answer["since"].startswith("2026-11-02T00:00:00-05:00")
    assert answer["until"].startswith("2026-11-05T00:00:00-05:00")
    assert [(b["events"], b["users"]) for b in answer["series"]] == [(4, 2), (2, 1), (0, 0)]
    assert answer["totals"]["events"] == 6 and answer["totals"]["users"] == 2


def test_a_week_counts_each_user_once(story, staff) -> None:
    answer = usage(api(staff), since="2026-11-02", until="2026-11-15", bucket="week")
    assert [(b["start"][:10], b["events"], b["users"]) for b in answer["series"]] == [
        ("2026-11-02", 7, 3),
        ("2026-11-09", 1, 1),
    ]
    assert answer["totals"]["users"] == 3  # u1 on three days and two weeks: once


def test_hours_with_their_zeros(story, staff) -> None:
    answer = usage(
        api(staff), since="2026-11-02T10:00:00Z", until="2026-11-02T13:00:00Z", bucket="hour"
    )
    assert [(b["start"][11:16], b["events"], b["users"]) for b in answer["series"]] == [
        ("10:00", 1, 1),
        ("11:00", 0, 0),
        ("12:00", 1, 1),
    ]


@pytest.mark.parametrize(
    ("filters", "events", "users", "sessions"),
    [
        ({"type": "log"}, 3, 2, 3),
        ({"level": "error"}, 1, 1, 3),
        ({"user": "u1"}, 3, 1, 1),
        ({"group": "g2"}, 2, 1, 1),
        ({"group": "g1,g2"}, 5, 2, 2),
        ({"user": "u1", "type": "error"}, 1, 1, 1),
    ],
)
def test_filters(story, staff, filters, events, users, sessions) -> None:
    answer = usage(api(staff), **MON_TO_WED, **filters)
    assert answer["totals"] == {"events": events, "users": users, "sessions": sessions}
    assert sum(bucket["events"] for bucket in answer["series"]) == events


def test_a_record_counts_as_soon_as_it_is_stored(staff, user) -> None:
    """Answers fold the pending counts first: nothing waits for the beat."""
    client = api(staff)
    before = usage(client)["totals"]["events"]
    response = client.post(
        "/api/audit/events/", [{"type": "log"}, {"type": "dialog-ok"}], format="json"
    )
    assert response.status_code == 202
    assert usage(client)["totals"]["events"] == before + 2


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"bucket": "month"}, "bucket"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "until"),
        ({"since": "2020-01-01", "bucket": "hour"}, "since"),
        ({"type": "no-such-type"}, "type"),
        ({"level": "loud"}, "level"),
        ({"user": "nobody"}, "user"),
        ({"group": "nowhere"}, "group"),
    ],
)
def test_a_bad_question_is_a_400_naming_it(staff, params, named) -> None:
    response = api(staff).get("/api/audit/analysis/usage/", params)
    assert response.status_code == 400
    assert named in response.json()


@pytest.mark.parametrize("bucket", ["hour", "day", "week"])
def test_a_period_of_too_many_buckets_is_refused_before_they_are_listed(
    staff, bucket, monkeypatch
) -> None:
    """Two centuries of hours were two million buckets listed (seconds of CPU) before the
    count was compared with the limit; the period's length is compared first."""
    from analysis.period import MAX_BUCKETS, Question

    listed: list[str] = []
    listing = Question.buckets
    monkeypatch.setattr(
        Question, "buckets", lambda self: listed.append(self.bucket) or listing(self)
    )
    params = {"since": "1970-01-02", "until": "2199-12-31", "bucket": bucket}
    response = api(staff).get("/api/audit/analysis/usage/", params)
    assert response.status_code == 400
    assert f"more than {MAX_BUCKETS[bucket]} {bucket}s" in response.json()["since"][0]
    assert listed == []
    # A period just within the limit is still answered.
    assert (
        api(staff)
        .get(
            "/api/audit/analysis/usage/",
            {"since": "2026-11-01T00:00:00Z", "until": "2026-11-01T20:00:00Z", "bucket": bucket},
        )
        .status_code
        == 200
    )


def test_rollups_equal_a_rebuild_from_the_records(story) -> None:
    """Folding as records come, and recounting everything, give the same rollups."""
    rollups.fold()
    folded = (
        sorted(TypeHour.objects.values_list("hour", "type_id", "level", "events")),
        sorted(UserDay.objects.values_list("day", "user_id", "events")),
    )
    from audit.models import AuditRecord

    assert rollups.rebuild() == AuditRecord.objects.count()
    assert (
        sorted(TypeHour.objects.values_list("hour", "type_id", "level", "events")),
        sorted(UserDay.objects.values_list("day", "user_id", "events")),
    ) == folded


@pytest.mark.django_db
def test_sessions_per_day_and_their_median_length(user) -> None:
    """Counted and the median taken by the database: of an even count, the upper middle;
    a session-day's length grows as its later records are folded in."""
    from analysis import period, queries
    from audit import sessions
    from audit.context import SessionRef
    from audit.models import SessionKind

    day = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    for n, minutes in enumerate((10, 20, 30, 40)):
        start = day + timedelta(hours=n)
        with audit.backdated(start):
            opened = sessions.open_session(user, SessionKind.BROWSER)
        ref = SessionRef(pk=opened.pk, uuid=opened.uuid, user_id=user.pk)
        for moment in (start, start + timedelta(minutes=minutes)):
            with audit.backdated(moment), bind(AuditContext(user=user, session=ref)):
                audit.log("log", "x")
            rollups.fold()  # the second record lengthens a session-day already counted
    question = period.parse(
        {"since": "2026-03-01", "until": "2026-03-07", "tz": "UTC"}, now=day + timedelta(days=5)
    )
    queries.usage(question)  # folds
    answer = queries.sessions_by_day(question)
    assert answer["series"] == [0, 0, 0, 4, 0, 0] and answer["total"] == 4
    assert answer["median_minutes"] == 30.0


def test_the_entity_panel_counts_uses_and_changes_exactly(staff) -> None:
    """Kinds, the most used and the most changed entities of the period, from one pass
    over the entity rollup: a change is a change-shaped type linking its entity in no
    role; every link is a use; a link outside the period counts nothing."""
    from zoneinfo import ZoneInfo

    from analysis import queries
    from analysis.period import Question

    u = User.objects.create_user("u")
    busy, calm, quiet = (Group.objects.create(name=name) for name in ("busy", "calm", "quiet"))
    at(u, t(2, 10), "group-edited", entities=[busy])
    at(u, t(2, 11), "group-edited", entities=[busy])
    at(u, t(3, 9), "group-edited", entities=[calm])
    at(u, t(3, 10), "log", entities=[busy, calm, quiet])
    at(u, t(3, 11), "log", entities=[quiet, ("user", u.pk, "reviewer")])
    at(u, t(4, 12), "group-edited", entities=[("group", quiet.pk, "reviewer")])  # a role: a use
    at(u, t(6, 12), "group-edited", entities=[quiet])  # after the period
    rollups.fold()
    question = Question(since=t(2, 0), until=t(5, 0), bucket="day", tz=ZoneInfo("UTC"))
    answer = queries.entities(question, limit=2)
    assert answer["kinds"] == [
        {"kind": "group", "used": 5, "changed": 3},
        {"kind": "user", "used": 1, "changed": 0},
    ]
    assert [(row["name"], row["events"]) for row in answer["used"]] == [("busy", 3), ("quiet", 3)]
    assert [(row["kind"], row["id"]) for row in answer["used"]] == [
        ("group", str(busy.pk)),
        ("group", str(quiet.pk)),
    ]
    assert [(row["name"], row["events"]) for row in answer["changed"]] == [
        ("busy", 2),
        ("calm", 1),
    ]


@pytest.mark.django_db
def test_the_entity_panel_sums_whole_weeks_and_the_days_at_the_ends(staff) -> None:
    """The panel reads the period's whole weeks from the week rollup and its other days
    from the day rollup: any span of days gives each entity's uses and changes as the
    records say, a day at either end neither lost nor counted twice."""
    from collections import Counter
    from zoneinfo import ZoneInfo

    from analysis import queries
    from analysis.period import Question

    u = User.objects.create_user("u")
    groups = [Group.objects.create(name=f"g{n}") for n in range(7)]
    stored: list[tuple[int, int, bool]] = []  # (day of November, group, a change)
    for day in range(1, 26):
        used = groups[day % 7]  # each day its own group (of the week's seven)
        at(u, datetime(2026, 11, day, 12, tzinfo=UTC), "log", entities=[used])
        stored.append((day, day % 7, False))
        if day % 3 == 0:
            changed = groups[(day * 2) % 7]
            at(u, datetime(2026, 11, day, 13, tzinfo=UTC), "group-edited", entities=[changed])
            stored.append((day, (day * 2) % 7, True))
    rollups.fold()
    for first, last in ((1, 25), (2, 15), (3, 9), (9, 22), (10, 16), (16, 16), (4, 24)):
        question = Question(
            since=datetime(2026, 11, first, tzinfo=UTC),
            until=datetime(2026, 11, last, tzinfo=UTC) + timedelta(days=1),
            bucket="day",
            tz=ZoneInfo("UTC"),
        )
        answer = queries.entities(question, limit=50)
        inside = [(g, change) for day, g, change in stored if first <= day <= last]
        used = Counter(f"g{g}" for g, _change in inside)
        changed = Counter(f"g{g}" for g, change in inside if change)
        assert {row["name"]: row["events"] for row in answer["used"]} == used, (first, last)
        assert {row["name"]: row["events"] for row in answer["changed"]} == changed
        assert answer["kinds"] == [
            {"kind": "group", "used": len(inside) - changed.total(), "changed": changed.total()}
        ]
