"""The outbox: records waiting for CloudWatch, claimed by workers in leased batches.

A worker claims the oldest ready rows of one stream in a short transaction (on
PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``, so parallel workers take different
rows; SQLite serialises writers anyway) and marks them with its claim token and a lease
(``next_attempt_at`` in the future), which it renews while it works. Before a batch goes
to PutLogEvents its rows are marked ``maybe_delivered``; once CloudWatch accepted the
batch they are deleted, before the stream's next batch goes. A worker that dies leaves
its rows to the next claim once the lease passes: delivery is at least once, a crash
resends at most the one batch per stream that was in flight, and such resends are
counted.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Min, Q, QuerySet

from audit import StoredRecord
from audit.models import EventType

from . import config
from .models import ExportSettings, OutboxEntry, StreamMapping, StreamStatus
from .queries import id_list

MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class ClaimedEntry:
    id: int
    record_id: int
    attempts: int  # this claim included
    maybe_delivered: bool = False  # an earlier send may have delivered it


@dataclass(slots=True, eq=False)  # compared and hashed by identity
class Claim:
    """Rows of one stream that this worker holds until ``lease_until``."""

    token: uuid.UUID
    stream: str
    entries: list[ClaimedEntry]
    lease_until: datetime


# --- filling ----------------------------------------------------------------------


def current_map() -> dict[int, str]:
    """Event type id -> stream, or nothing while the export is disabled; the seals'
    records (``trail-sealed``) go to the witness stream, when there is one."""
    mapping = dict(
        StreamMapping.objects.filter(settings__enabled=True).values_list("event_type_id", "stream")
    )
    witness = (
        ExportSettings.objects.filter(enabled=True)
        .exclude(seal_stream="")
        .values_list("seal_stream", flat=True)
        .first()
    )
    if witness:
        sealed = EventType.objects.filter(name="trail-sealed").values_list("pk", flat=True).first()
        if sealed is not None:
            mapping.setdefault(sealed, witness)
    return mapping


def enqueue(records: Iterable[StoredRecord]) -> int:
    """Queue the mapped ones of freshly stored records (the non-PostgreSQL path; on
    PostgreSQL the trigger of migration 0002 does the same in SQL)."""
    mapping = current_map()
    if not mapping:
        return 0
    rows = [
        OutboxEntry(
            record_id=record.id, stream=mapping[record.type_id], record_time=record.created_at
        )
        for record in records
        if record.id is not None and record.type_id in mapping
    ]
    OutboxEntry.objects.bulk_create(rows)
    return len(rows)


# --- claiming and settling -----------------------------------------------------------


def _ready(now: datetime) -> QuerySet[OutboxEntry]:
    return OutboxEntry.objects.filter(set_aside_reason="", next_attempt_at__lte=now)


_CLAIM = """
UPDATE {table} SET claim = %s, next_attempt_at = %s, attempts = attempts + 1
WHERE {claimed}
RETURNING id, record_id, attempts, maybe_delivered
"""
_OLDEST = """
SELECT id FROM {table}
WHERE stream = %s AND set_aside_reason = '' AND next_attempt_at <= %s
ORDER BY id LIMIT %s {lock}
"""


def has_ready(now: datetime) -> bool:
    """Whether any row is ready to be claimed."""
    return _ready(now).exists()


def _db_time(moment: datetime) -> Any:
    return OutboxEntry._meta.get_field("next_attempt_at").get_db_prep_value(moment, connection)


def _claim_sql() -> str:
    """The UPDATE that marks the oldest ready rows of a stream. On PostgreSQL the rows
    are picked (and locked, skipping those another worker holds) as an array the UPDATE
    finds through the primary key: as ``id IN (...)`` the planner joins the whole outbox
    to them, a scan of every waiting row for each claim."""
    table = OutboxEntry._meta.db_table
    if connection.vendor == "postgresql":
        oldest = _OLDEST.format(table=table, lock="FOR UPDATE SKIP LOCKED")
        return _CLAIM.format(table=table, claimed=f"id = ANY(ARRAY({oldest}))")
    lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    oldest = _OLDEST.format(table=table, lock=lock)
    return _CLAIM.format(table=table, claimed=f"id IN ({oldest})")


def claim(
    *,
    now: datetime,
    limit: int | None = None,
    stream: str | None = None,
    exclude: Iterable[str] = (),
) -> Claim | None:
    """Claim up to ``limit`` of the oldest ready rows of ``stream``, or else of the
    stream (other than those in ``exclude``) whose ready row is the oldest; None when
    nothing is ready. Picking the stream is a statement of its own, in the same short
    transaction as the one UPDATE ... RETURNING that marks and returns the rows."""
    limit = limit or config.claim_size()
    lease_until = now + timedelta(seconds=config.lease_seconds())
    token = uuid.uuid4()
    sql = _claim_sql()
    opts = OutboxEntry._meta
    # Given the stream, the one UPDATE is a transaction by itself.
    with transaction.atomic() if stream is None else nullcontext():
        if stream is None:
            stream = (
                _ready(now)
                .exclude(stream__in=list(exclude))
                .order_by("id")
                .select_for_update(skip_locked=True)
                .values_list("stream", flat=True)
                .first()
            )
            if stream is None:
                return None
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                [
                    opts.get_field("claim").get_db_prep_value(token, connection),
                    _db_time(lease_until),
                    stream,
                    _db_time(now),
                    limit,
                ],
            )
            rows = sorted(cursor.fetchall())
    if not rows:  # nothing ready, or another worker took them between the statements
        return None
    entries = [
        ClaimedEntry(pk, record_id, attempts, bool(maybe))
        for pk, record_id, attempts, maybe in rows
    ]
    return Claim(token=token, stream=stream, entries=entries, lease_until=lease_until)


def renew(claims: Iterable[Claim], entry_ids: list[int], *, now: datetime) -> int:
    """The heartbeat: push the lease of the rows this worker still holds (``entry_ids``,
    of ``claims``) forward, so that only a dead worker's rows go to others. Rows whose
    lease was lost to another worker are left to it. Returns the rows renewed."""
    claims = list(claims)
    if not claims or not entry_ids:
        return 0
    lease_until = now + timedelta(seconds=config.lease_seconds())
    for held in claims:
        held.lease_until = lease_until
    return _held(entry_ids, claims).update(next_attempt_at=lease_until)


def mark_sending(entry_ids: list[int]) -> None:
    """These rows are about to go to PutLogEvents: from now on a send of them may have
    delivered them, should this worker die before it deletes them."""
    if entry_ids:
        OutboxEntry.objects.filter(id__in=id_list(entry_ids)).update(maybe_delivered=True)


Claims = Claim | Iterable[Claim]  # a batch may hold rows of several claims of its stream


def _held(entry_ids: list[int], claims: Claims) -> QuerySet[OutboxEntry]:
    """These rows, as long as one of ``claims`` still holds them."""
    tokens = [claims.token] if isinstance(claims, Claim) else [held.token for held in claims]
    return OutboxEntry.objects.filter(id__in=id_list(entry_ids), claim__in=tokens)


def complete(claim: Claims, entry_ids: list[int]) -> int:
    """CloudWatch accepted these: they leave the outbox (unless the lease was lost and
    another worker claimed them meanwhile, which then owns them)."""
    if not entry_ids:
        return 0
    deleted, _ = _held(entry_ids, claim).delete()
    return deleted


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff between claims of rows that failed, capped."""
    seconds = config.retry_base_seconds() * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, config.retry_max_seconds()))


def release(
    claim: Claims,
    entries: list[ClaimedEntry],
    error: str,
    *,
    now: datetime,
    uncertain: bool = False,
) -> None:
    """Sending failed: the rows wait for a later claim, after a backoff. ``uncertain``:
    some attempt may have delivered them (a timeout), so their next send is a resend;
    otherwise they keep what they knew before this send (``mark_sending`` set it)."""
    groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for entry in entries:
        groups[entry.attempts, uncertain or entry.maybe_delivered].append(entry.id)
    for (attempts, maybe), ids in groups.items():
        _held(ids, claim).update(
            claim=None,
            next_attempt_at=now + retry_delay(attempts),
            last_error=error,
            maybe_delivered=maybe,
        )


def unclaim(claim: Claims, entries: list[ClaimedEntry], *, now: datetime) -> None:
    """Give back rows this worker claimed but never sent (the drain stopped early):
    ready again at once, and this claim does not count as an attempt."""
    if entries:
        _held([entry.id for entry in entries], claim).update(
            claim=None, next_attempt_at=now, attempts=F("attempts") - 1
        )


def set_aside(claim: Claims, reasons: dict[int, str], *, now: datetime) -> None:
    """CloudWatch would refuse (or refused) these rows: keep them for an admin. A
    refused event is not stored, so sending it again later is no resend."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    for entry_id, reason in reasons.items():
        by_reason[reason[:MAX_REASON]].append(entry_id)
    for reason, ids in by_reason.items():
        _held(ids, claim).update(
            claim=None, set_aside_reason=reason, set_aside_at=now, maybe_delivered=False
        )


def drop(claim: Claim, entry_ids: list[int]) -> int:
    """Rows whose record is gone (the retention purge took it): nothing to send."""
    return complete(claim, entry_ids)


# --- admin actions ---------------------------------------------------------------------


def retry(entries: QuerySet[OutboxEntry], *, now: datetime) -> int:
    """Put set-aside rows back in line, as new (after the cause was dealt with)."""
    return entries.exclude(set_aside_reason="").update(
        set_aside_reason="", set_aside_at=None, attempts=0, last_error="", next_attempt_at=now
    )


def discard(entries: QuerySet[OutboxEntry]) -> int:
    """Give up on set-aside rows: they will never be exported (the records stay)."""
    deleted, _ = entries.exclude(set_aside_reason="").delete()
    return deleted


# --- status ----------------------------------------------------------------------


def record_success(stream: str, count: int, *, now: datetime, resent: int = 0) -> None:
    record_batch(stream, sent=count, resent=resent, error="", now=now)


def record_batch(stream: str, *, sent: int, resent: int, error: str, now: datetime) -> None:
    """One batch's outcome, in one statement: what arrived, what was sent again, and the
    last error met on the way (retried or not)."""
    values: dict[str, object] = {"last_success_at": now} if sent else {}
    if error:
        values |= {"last_error": error, "last_error_at": now}
    _status(stream, sent=sent, resent=resent, **values)


def record_error(stream: str, error: str, *, now: datetime, resent: int = 0) -> None:
    record_batch(stream, sent=0, resent=resent, error=error, now=now)


def _status(stream: str, *, sent: int = 0, resent: int = 0, **values: object) -> None:
    counts = {"sent_total": F("sent_total") + sent, "resent_total": F("resent_total") + resent}
    updated = StreamStatus.objects.filter(stream=stream).update(**counts, **values)
    if not updated:
        StreamStatus.objects.bulk_create(
            [StreamStatus(stream=stream)], ignore_conflicts=True, unique_fields=["stream"]
        )
        StreamStatus.objects.filter(stream=stream).update(**counts, **values)


@dataclass(slots=True)
class StreamSummary:
    """One line of the admin's status page."""

    stream: str
    event_types: list[str] = field(default_factory=list)
    waiting: int = 0
    set_aside: int = 0
    oldest_enqueued_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    sent_total: int = 0
    resent_total: int = 0

    def oldest_age(self, now: datetime) -> timedelta | None:
        return now - self.oldest_enqueued_at if self.oldest_enqueued_at else None


def summary() -> list[StreamSummary]:
    """Per stream (mapped now, waiting, or shipped to before): what waits and how the
    last sends went. One grouped query over the outbox."""
    found: dict[str, StreamSummary] = {}

    def line(stream: str) -> StreamSummary:
        return found.setdefault(stream, StreamSummary(stream))

    mapped = StreamMapping.objects.values_list("stream", "event_type__name")
    for stream, type_name in mapped.order_by("event_type__name"):
        line(stream).event_types.append(type_name)
    waiting = Q(set_aside_reason="")
    counts = OutboxEntry.objects.values("stream").annotate(
        waiting=Count("id", filter=waiting),
        set_aside=Count("id", filter=~waiting),
        oldest=Min("enqueued_at", filter=waiting),
    )
    for row in counts.order_by():
        item = line(row["stream"])
        item.waiting, item.set_aside, item.oldest_enqueued_at = (
            row["waiting"],
            row["set_aside"],
            row["oldest"],
        )
    for status in StreamStatus.objects.all():
        item = line(status.stream)
        item.last_success_at = status.last_success_at
        item.last_error, item.last_error_at = status.last_error, status.last_error_at
        item.sent_total, item.resent_total = status.sent_total, status.resent_total
    return sorted(found.values(), key=lambda item: item.stream)
