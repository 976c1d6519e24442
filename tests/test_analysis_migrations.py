"""The migrations that added rollups to a trail already counted make them from what the
trail's rollups already hold: going back before them and forward again gives what the
fold made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analysis import rollups
from analysis.models import EntityWeek, ErrorWeek, SessionDay, UsersDay
from tests.analysis_helpers import at
from tests.pg_roles import as_owner

BEFORE_WEEKS = ("analysis", "0005_error_days_count_in_their_index")


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def _snapshot() -> dict[str, list]:
    return {
        "error weeks": sorted(
            (w.fingerprint, w.week, w.events, w.mon, w.sun, bytes(w.users or b"").hex())
            if not isinstance(w.users, str)
            else (w.fingerprint, w.week, w.events, w.mon, w.sun, w.users)
            for w in ErrorWeek.objects.all()
        ),
        "entity weeks": sorted(
            EntityWeek.objects.values_list(
                "week", "content_type_id", "object_id", "changed", "events"
            )
        ),
        "day events": sorted(UsersDay.objects.values_list("day", "type_id", "level", "events")),
        "session lengths": sorted(SessionDay.objects.values_list("session_id", "length_us")),
    }


@pytest.mark.django_db(transaction=True)
def test_the_week_rollups_and_new_columns_are_made_from_what_is_kept() -> None:
    people = [User.objects.create_user(f"m{n}") for n in range(3)]
    group = Group.objects.create(name="linked")
    start = datetime(2026, 10, 28, 9, tzinfo=UTC)  # a Wednesday: weeks cut at both ends
    for n in range(16):
        when = start + timedelta(days=n, minutes=7 * n)
        at(people[n % 3], when, "error", stack_trace=f"Error: e{n % 2}\n    at f (a.js:1:1)")
        at(people[n % 2], when + timedelta(minutes=30), "log", entities=[group])
        at(None, when + timedelta(hours=1), "log")
    rollups.fold()
    made = _snapshot()
    assert all(made.values()) and any(length for _s, length in made["session lengths"])
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("analysis")[0]
    with as_owner():  # (on PostgreSQL the application role may not change tables)
        try:
            _migrate(BEFORE_WEEKS)
            _migrate(latest)
        finally:
            _migrate(latest)
    assert _snapshot() == made
