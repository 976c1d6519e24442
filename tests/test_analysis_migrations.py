"""The migrations that added rollups to a trail already counted make them from what the
trail's rollups already hold: going back before them and forward again gives what the
fold made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

import audit
from analysis import rollups
from analysis.models import EntityDelta, EntityWeek, ErrorWeek, SessionDay, UsersDay
from catalog.models import Project
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


def _link_deltas(project: Project) -> list[tuple[bool, int]]:
    return sorted(
        EntityDelta.objects.filter(object_id=str(project.pk)).values_list("changed", "events")
    )


def _has_is_change() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'analysis_is_change'")
        return cursor.fetchone() is not None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_links_are_judged_by_their_own_type_after_0013_and_as_before_without_it() -> None:
    """A bulk edit of a project is a change of it, a log linking it is a use, whichever
    trigger functions judge them: 0013's, which read the link's type, or 0004's, which
    read what the records' trigger left, which going back to 0012 brings back."""
    owner = User.objects.create_user("judge")
    project = Project.objects.create(name="judged", owner=owner)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("analysis")[0]
    rollups.fold()
    EntityDelta.objects.all().delete()
    seen = []
    with as_owner():
        try:
            steps = [(("analysis", "0012_pending_records"), True), (latest, False)]
            for target, functions in steps:
                _migrate(target)
                assert _has_is_change() is functions
                # A bulk update is stored as a batch: the statement triggers count it.
                Project.objects.filter(pk=project.pk).update(name=f"judged {len(seen)}")
                audit.log("log", "a use", entities=[("project", str(project.pk))])
                seen.append(_link_deltas(project))
                EntityDelta.objects.filter(object_id=str(project.pk)).delete()
        finally:
            _migrate(latest)
    assert seen == [[(False, 1), (True, 1)], [(False, 1), (True, 1)]]
