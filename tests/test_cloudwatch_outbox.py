"""Filling the outbox in the storing transaction, on every insert path, and claiming it.

On PostgreSQL a statement trigger does it (and ``records_stored`` keeps no listeners,
so tracked saves stay on their one-statement path); elsewhere a receiver does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import audit
from audit.models import AuditRecord
from audit.signals import records_stored
from catalog.models import Project
from cloudwatch_export import outbox
from cloudwatch_export.models import ExportSettings, OutboxEntry

from .cloudwatch_helpers import configure
from .conftest import post_events


def queued() -> dict[int, str]:
    return dict(OutboxEntry.objects.values_list("record_id", "stream"))


def ids_of(type_name: str) -> set[int]:
    return set(AuditRecord.objects.filter(type__name=type_name).values_list("id", flat=True))


@pytest.mark.postgres
def test_on_postgres_the_trigger_fills_it_and_records_stored_has_no_listener(db: Any) -> None:
    assert not records_stored.has_listeners()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_auditrecord'::regclass "
            "AND tgname = 'cloudwatch_export_enqueue'"
        )
        assert cursor.fetchall() == [("cloudwatch_export_enqueue",)]


def test_elsewhere_a_records_stored_receiver_fills_it(db: Any) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL uses the trigger")
    assert records_stored.has_listeners()


def test_mapped_types_are_queued_unmapped_are_not(db: Any) -> None:
    configure({"log": "app_log", "error": "app_errors"})
    audit.log("log", "one")
    audit.log("error", "two")
    audit.log("warning", "not mapped")
    assert queued() == {
        min(ids_of("log")): "app_log",
        min(ids_of("error")): "app_errors",
    }
    entry = OutboxEntry.objects.get(stream="app_log")
    record = AuditRecord.objects.get(pk=entry.record_id)
    assert entry.record_time == record.created_at
    assert entry.attempts == 0 and entry.claim is None and entry.set_aside_reason == ""
    assert entry.next_attempt_at <= timezone.now() + timedelta(seconds=1)


def test_the_outbox_rolls_back_with_the_records(db: Any) -> None:
    configure({"log": "app_log"})
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.log("log", "rolled back")
        assert len(queued()) == 1
        raise RuntimeError
    assert queued() == {} and not ids_of("log")


def test_a_batch_from_the_ingest_api_is_queued_in_its_statement(db: Any, token_client: Any) -> None:
    """20 events: on PostgreSQL the JSON-document insert path (over 16 rows)."""
    configure({"log": "app_log", "menu-click": "app_clicks"})
    events = [{"type": "log" if i % 2 else "menu-click", "message": f"e{i}"} for i in range(20)]
    events.append({"type": "query-run", "message": "unmapped"})
    answer = post_events(token_client, events)
    assert answer.status_code == 202, answer.content
    assert len(answer.json()["accepted"]) == 21
    assert queued() == {
        **{pk: "app_log" for pk in ids_of("log")},
        **{pk: "app_clicks" for pk in ids_of("menu-click")},
    }
    assert len(queued()) == 20
    # Oldest first: outbox order follows record order.
    entries = list(OutboxEntry.objects.order_by("id").values_list("record_id", flat=True))
    assert entries == sorted(entries)


def test_a_small_batch_is_queued_too(db: Any, token_client: Any) -> None:
    configure({"log": "app_log"})
    answer = post_events(token_client, [{"type": "log", "message": "a"}, {"message": "b"}])
    assert answer.status_code == 202
    assert set(queued()) == set(answer.json()["accepted"])


def test_a_tracked_save_is_queued_on_its_own_statement(db: Any, user: User, settings: Any) -> None:
    """With the record in the save's statement; a staged change's record is queued by
    the same trigger when it is stored."""
    settings.AUDIT_DEFERRED_TRACKING = 0
    configure({"project-created": "app_changes", "project-edited": "app_changes"})
    with CaptureQueriesContext(connection) as captured:
        project = Project.objects.create(name="Sales", owner=user)
    if connection.vendor == "postgresql":
        # The record rode on the model's INSERT through audit_insert_record: the trigger
        # fired inside that statement, with no statement of the exporter's own.
        sql = [query["sql"] for query in captured.captured_queries]
        assert any("audit_insert_record(" in statement for statement in sql)
        assert not any("cloudwatch" in statement for statement in sql)
    project.name = "Sales 2025"
    project.save()
    assert sorted(queued().values()) == ["app_changes", "app_changes"]
    assert set(queued()) == ids_of("project-created") | ids_of("project-edited")


def test_bulk_created_tracked_rows_are_queued(db: Any, user: User) -> None:
    configure({"project-created": "app_changes"})
    Project.objects.bulk_create([Project(name=f"p{i}", owner=user) for i in range(3)])
    assert len(queued()) == 3


def test_changing_the_map_affects_records_stored_from_then_on(db: Any) -> None:
    settings = configure({"log": "first"})
    audit.log("log", "before")
    configure({"log": "second"}, group=settings.log_group)
    audit.log("log", "after")
    configure({"error": "errors"}, group=settings.log_group)
    audit.log("log", "unmapped now")
    before, after, _unmapped = sorted(ids_of("log"))
    assert queued() == {before: "first", after: "second"}


def test_nothing_is_queued_while_the_export_is_disabled(db: Any) -> None:
    configure({"log": "app_log"}, enabled=False)
    audit.log("log", "quiet")
    assert queued() == {}
    assert not ExportSettings.objects.get().enabled


# --- claims --------------------------------------------------------------------------


def _fill(count: int, stream: str = "app_log") -> None:
    configure({"log": stream})
    for i in range(count):
        audit.log("log", f"r{i}")


def test_claims_take_the_oldest_ready_rows_and_never_the_same_twice(db: Any) -> None:
    _fill(5)
    now = timezone.now() + timedelta(seconds=1)
    first = outbox.claim(now=now, limit=3)
    second = outbox.claim(now=now, limit=3)
    assert first is not None and second is not None
    first_ids = [e.record_id for e in first.entries]
    second_ids = [e.record_id for e in second.entries]
    assert first_ids == sorted(ids_of("log"))[:3] and len(second_ids) == 2
    assert not set(first_ids) & set(second_ids)
    assert outbox.claim(now=now) is None
    assert all(e.attempts == 1 for e in first.entries)


@pytest.mark.postgres
def test_a_claim_finds_its_rows_by_key_without_reading_the_whole_outbox(
    db: Any, on_postgres: bool
) -> None:
    """A backlog of 100,000 rows is drained in 50 claims: as ``id IN (subquery)`` the
    planner scanned every waiting row for each of them."""
    if not on_postgres:
        pytest.skip("the plan of PostgreSQL's claim")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cloudwatch_export_outboxentry (record_id, stream, record_time) "
            "SELECT g, 's' || mod(g, 3), now() FROM generate_series(1, 5000) AS g"
        )
        # What autovacuum would know of such a backlog (a role that does not own the
        # table is only warned, and the planner goes on guessing).
        cursor.execute("ANALYZE cloudwatch_export_outboxentry")
    with CaptureQueriesContext(connection) as statements:
        claimed = outbox.claim(now=timezone.now() + timedelta(seconds=1), stream="s1", limit=500)
    assert claimed is not None and len(claimed.entries) == 500
    (update,) = [q["sql"] for q in statements.captured_queries if q["sql"].startswith("\nUPDATE")]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + update)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" not in plan, plan


def test_a_lost_lease_hands_the_rows_to_the_next_claim(db: Any, settings: Any) -> None:
    settings.CLOUDWATCH_EXPORT_LEASE_SECONDS = 60
    _fill(2)
    now = timezone.now() + timedelta(seconds=1)
    dead = outbox.claim(now=now)
    assert dead is not None and outbox.claim(now=now + timedelta(seconds=59)) is None
    taken = outbox.claim(now=now + timedelta(seconds=61))
    assert taken is not None and len(taken.entries) == 2
    assert all(e.attempts == 2 for e in taken.entries)
    # The dead worker's late completion deletes nothing that is no longer its own.
    assert outbox.complete(dead, [e.id for e in dead.entries]) == 0
    assert outbox.complete(taken, [e.id for e in taken.entries]) == 2


def test_released_rows_wait_out_a_growing_backoff(db: Any, settings: Any) -> None:
    settings.CLOUDWATCH_EXPORT_RETRY_BASE_SECONDS = 10
    _fill(1)
    now = timezone.now() + timedelta(seconds=1)
    claimed = outbox.claim(now=now)
    assert claimed is not None
    outbox.release(claimed, claimed.entries, "endpoint down", now=now)
    entry = OutboxEntry.objects.get()
    assert entry.last_error == "endpoint down" and entry.claim is None
    assert entry.next_attempt_at == now + timedelta(seconds=10)
    assert outbox.claim(now=now + timedelta(seconds=9)) is None
    again = outbox.claim(now=now + timedelta(seconds=10))
    assert again is not None
    outbox.release(again, again.entries, "still down", now=now)
    assert OutboxEntry.objects.get().next_attempt_at == now + timedelta(seconds=20)


def test_set_aside_rows_wait_for_an_admin_to_retry_or_discard_them(db: Any) -> None:
    _fill(3)
    now = timezone.now() + timedelta(seconds=1)
    claimed = outbox.claim(now=now)
    assert claimed is not None
    first, second, third = claimed.entries
    outbox.set_aside(claimed, {first.id: "too old", second.id: "too old"}, now=now)
    outbox.release(claimed, [third], "x", now=now - timedelta(days=1))
    assert [e.id for e in outbox.claim(now=now).entries] == [third.id]  # type: ignore[union-attr]
    everything = OutboxEntry.objects.all()
    assert outbox.retry(everything.filter(id=first.id), now=now) == 1
    assert outbox.discard(everything) == 1  # only the one still set aside
    assert set(everything.values_list("id", flat=True)) == {first.id, third.id}
    retried = OutboxEntry.objects.get(id=first.id)
    assert retried.set_aside_reason == "" and retried.attempts == 0


def test_summary_counts_per_stream(db: Any) -> None:
    _fill(2, stream="a")
    now = timezone.now() + timedelta(seconds=1)
    claimed = outbox.claim(now=now)
    assert claimed is not None
    outbox.set_aside(claimed, {claimed.entries[0].id: "too old"}, now=now)
    outbox.record_success("a", 5, now=now)
    outbox.record_error("a", "throttled", now=now)
    (line,) = outbox.summary()
    assert (line.stream, line.event_types, line.waiting, line.set_aside) == ("a", ["log"], 1, 1)
    assert line.sent_total == 5 and line.last_error == "throttled"
    assert line.oldest_enqueued_at is not None


def test_the_export_settings_are_audited_without_the_secret(db: Any) -> None:
    configure({"log": "app_log"})
    records = AuditRecord.objects.filter(type__name__startswith="cloudwatch-settings-")
    assert records.exists()
    text = json.dumps(list(records.values_list("changes", flat=True)))
    assert "wJalrXUtnFEMI" not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert AuditRecord.objects.filter(type__name="cloudwatch-stream-map-created").exists()
