"""Newest first is newest first: record ids follow record times on every path.

Lists page by record id; that is only the order of time if no path can store a record
older than one already stored. Live paths stamp the server's clock; the one way to
store the past, ``audit.clock.backdated``, refuses to go back before the newest record.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

import audit
from audit import clock
from audit.context import AuditContext, bind
from audit.models import AuditRecord, UserSession
from catalog.models import Project


def _inversions() -> int:
    """Records whose next record by id is older: none, whatever the path."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT created_at, LEAD(created_at) OVER (ORDER BY id) AS "
            "next_at FROM audit_auditrecord) AS pairs WHERE next_at < created_at"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_backdated_record_older_than_the_newest_is_refused(user: User) -> None:
    now = timezone.now()
    with clock.backdated(now - timedelta(days=3)):
        audit.log("log", "three days ago", user=user)
    audit.log("log", "now", user=user)

    with (
        pytest.raises(clock.OutOfOrder, match="kept in the order of their time"),
        clock.backdated(now - timedelta(days=1)),
    ):
        audit.log("log", "yesterday, after today's", user=user)

    assert list(AuditRecord.objects.order_by("id").values_list("message", flat=True)) == [
        "three days ago",
        "now",
    ]
    assert _inversions() == 0


@pytest.mark.django_db
def test_a_replay_in_time_order_is_stored_at_its_own_times(user: User) -> None:
    start = timezone.now() - timedelta(days=10)
    for day in range(5):
        with clock.backdated(start + timedelta(days=day)):
            audit.log("log", f"day {day}", user=user)
    times = list(AuditRecord.objects.order_by("id").values_list("created_at", flat=True))
    assert times == [start + timedelta(days=day) for day in range(5)]


def test_the_future_cannot_be_backdated_to() -> None:
    with (
        pytest.raises(clock.OutOfOrder, match="future"),
        clock.backdated(timezone.now() + timedelta(hours=1)),
    ):
        pass
    with (
        pytest.raises(ValueError, match="aware"),
        clock.backdated(timezone.now().replace(tzinfo=None)),
    ):
        pass


@pytest.mark.django_db
def test_tracked_saves_and_sessions_take_the_replayed_time(user: User) -> None:
    """Change tracking (one statement on PostgreSQL) and session openings follow the
    clock too, so a replayed history is whole."""
    at = timezone.now() - timedelta(days=2)
    with clock.backdated(at), bind(AuditContext(user=user)):
        project = Project.objects.create(name="Replayed", owner=user)
        project.description = "edited in the past"
        project.save()
    records = list(AuditRecord.objects.order_by("id"))
    assert [record.type.name for record in records] == ["project-created", "project-edited"]
    assert {record.created_at for record in records} == {at}
    session = UserSession.objects.get(pk=records[0].session_id)
    assert session.started_at == at


@pytest.mark.django_db
def test_an_out_of_order_tracked_save_is_refused_and_rolled_back(user: User) -> None:
    audit.log("log", "now", user=user)
    with (
        pytest.raises(clock.OutOfOrder),
        clock.backdated(timezone.now() - timedelta(days=1)),
        bind(AuditContext(user=user)),
    ):
        Project.objects.create(name="Too late to be early", owner=user)
    assert not Project.objects.filter(name="Too late to be early").exists()
    assert AuditRecord.objects.count() == 1


@pytest.mark.django_db
def test_the_lists_read_newest_first_after_a_replay(user: User, staff: User) -> None:
    from rest_framework.test import APIClient

    start = timezone.now() - timedelta(days=20)
    for day in range(0, 20, 2):
        with clock.backdated(start + timedelta(days=day)):
            audit.log("log", f"day {day}", user=user)
    client = APIClient()
    client.force_login(staff)
    results: list[dict[str, Any]] = client.get("/api/audit/events/?limit=100").json()["results"]
    stamps = [item["timestamp"] for item in results]
    assert stamps == sorted(stamps, reverse=True)
    assert results[0]["message"] == "day 18"


@pytest.mark.django_db
def test_a_trail_with_newer_records_gets_no_backdated_history() -> None:
    """The demo never stores the past behind records already there: it says why."""
    audit.log("log", "a record of today")
    output = _seed_demo()
    assert "no history was added" in output
    assert AuditRecord.objects.count() == 1 + Token.objects.count()  # and token-created
    assert User.objects.filter(username="alice").exists()


def _seed_demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()
