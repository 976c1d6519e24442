"""Records cannot be changed: by the database on PostgreSQL, and only the purge deletes.

Whoever asks is refused: the tables' owner by the guard (append-only), the application's
role (``audit.db_roles``, as ``.ci/run`` runs the suite) already by its privileges."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit import clock, logger
from audit.models import AuditRecord, EntityLink
from audit.recording import build_event, record_events

pytestmark = pytest.mark.django_db

REFUSED = "append-only|permission denied"


@pytest.mark.postgres
def test_database_refuses_update_of_a_record(user) -> None:
    record_id = logger.log("log", "original", entities=[user])
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AuditRecord.objects.filter(pk=record_id).update(message="forged")
    assert AuditRecord.objects.get(pk=record_id).message == "original"


@pytest.mark.postgres
def test_database_refuses_delete_of_a_record_and_of_a_link(user) -> None:
    record_id = logger.log("log", "x", entities=[user])
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        EntityLink.objects.filter(record_id=record_id).delete()
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditrecord WHERE id = %s", [record_id])
    assert AuditRecord.objects.filter(pk=record_id).exists()


def test_purge_removes_only_records_older_than_the_cutoff(user) -> None:
    old = timezone.now() - timedelta(days=400)
    with clock.backdated(old):
        record_events([build_event("log", "old", entities=[user]) for _ in range(3)])
    logger.log("log", "recent", entities=[user])
    out = StringIO()
    call_command("audit_purge", "--older-than-days", "365", "--batch-size", "2", stdout=out)
    # What remains: the recent record, and the trail's own records of the seals and the
    # purge (which the purge keeps: they are newer).
    kept = AuditRecord.objects.exclude(type__name__startswith="trail-")
    assert list(kept.values_list("message", flat=True)) == ["recent"]
    assert EntityLink.objects.filter(record__type__name="log").count() == 1
    # Whole sealed blocks go, one transaction each: the three old records are one block.
    assert "Deleted 3 records" in out.getvalue() and "deleted 3/3" in out.getvalue()


def test_purge_dry_run_deletes_nothing() -> None:
    with clock.backdated(timezone.now() - timedelta(days=30)):
        record_events([build_event("log", "old")])
    out = StringIO()
    call_command("audit_purge", "--older-than-days", "7", "--dry-run", stdout=out)
    assert "1 records" in out.getvalue()
    assert AuditRecord.objects.count() == 1


def test_purge_refuses_a_nonsense_age() -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("audit_purge", "--older-than-days", "0")
    for past_year_one in ("1000000", "99999999999"):  # an OverflowError before
        with pytest.raises(CommandError, match="at most 365000"):
            call_command("audit_purge", "--older-than-days", past_year_one)
