"""Draining the outbox: claim, render, check the window, batch, send, settle.

This is the one function the Celery task, ``manage.py cloudwatch_export`` and the
benchmark call. A claim's batches are sent together by a small thread pool, and the
next claim is rendered while they travel, so the round trips to CloudWatch overlap
with the database work. It stops claiming at the first batch that fails for a reason
other than its content (endpoint down, throttled past the retries, bad keys): the rows
go back to the outbox with a backoff, and hammering a sick endpoint with more claims
would only delay its recovery. Should the process die, every row in flight is still
leased in the outbox and is sent again once the lease ends: at least once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from . import batcher, config, connection, messages, outbox
from .crypto import DecryptionError
from .models import ExportSettings
from .sender import Sender, SendResult

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamReport:
    sent: int = 0
    batches: int = 0
    set_aside: int = 0
    dropped: int = 0  # records purged before they could be sent


@dataclass(slots=True)
class DrainReport:
    streams: dict[str, StreamReport] = field(default_factory=dict)
    skipped: str = ""  # why nothing was tried (disabled, not configured)
    error: str = ""  # why the drain stopped early
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(stream.sent for stream in self.streams.values())

    @property
    def set_aside(self) -> int:
        return sum(stream.set_aside for stream in self.streams.values())

    def stream(self, name: str) -> StreamReport:
        return self.streams.setdefault(name, StreamReport())

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "set_aside": self.set_aside,
            "streams": {
                name: {
                    "sent": s.sent,
                    "batches": s.batches,
                    "set_aside": s.set_aside,
                    "dropped": s.dropped,
                }
                for name, s in self.streams.items()
            },
            "skipped": self.skipped,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def drain(
    *,
    budget: float | None = None,
    clock: Callable[[], datetime] = timezone.now,
    logs: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Ship what waits until the outbox has nothing ready, something fails, or
    ``budget`` seconds have passed. ``logs`` replaces the boto3 client (tests)."""
    started = time.monotonic()
    report = DrainReport()
    settings = ExportSettings.objects.filter().first()
    if settings is None or not settings.enabled:
        report.skipped = "the export is disabled"
        return report
    if not settings.log_group or not settings.region:
        report.skipped = "the export has no log group or region"
        return report
    try:
        logs = logs or connection.client(settings)
    except DecryptionError as exc:
        report.error = str(exc)
        return report
    sender = Sender(logs, settings.log_group, endpoint=settings.endpoint_url, sleep=sleep)
    # A two-stage pipeline: while one claim's batches are in flight, the next claim is
    # taken and rendered; the database is only ever touched from this thread.
    with ThreadPoolExecutor(config.concurrent_sends(), thread_name_prefix="cloudwatch") as pool:
        in_flight: _Shipment | None = None
        while True:
            shipment = None
            if not report.error and (budget is None or time.monotonic() - started < budget):
                claimed = outbox.claim(now=clock())
                if claimed is not None:
                    shipment = _prepare(
                        claimed, sender, pool, settings.message_format, report, clock
                    )
            if in_flight is not None:
                _settle(in_flight, report, clock)
            in_flight = shipment
            if in_flight is None:
                break
    report.seconds = time.monotonic() - started
    if report.sent or report.error or report.set_aside:
        logger.info("cloudwatch export: %s", report.as_dict())
    return report


@dataclass(slots=True)
class _Shipment:
    """One claim's batches, sent (or being sent) by the pool."""

    claimed: outbox.Claim
    sends: list[Future[SendResult]]


def _prepare(
    claimed: outbox.Claim,
    sender: Sender,
    pool: ThreadPoolExecutor,
    message_format: str,
    report: DrainReport,
    clock: Callable[[], datetime],
) -> _Shipment:
    """Render a claim, set aside what CloudWatch would refuse, and send the rest."""
    stream = report.stream(claimed.stream)
    rendered = messages.render([entry.record_id for entry in claimed.entries], message_format)
    gone = [entry.id for entry in claimed.entries if entry.record_id not in rendered]
    if gone:
        stream.dropped += outbox.drop(claimed, gone)
    events = [
        batcher.make_event(entry.id, entry.record_id, found.timestamp, found.message)
        for entry in claimed.entries
        if (found := rendered.get(entry.record_id)) is not None
    ]
    now = clock()
    ready, refused = batcher.split_window(
        events, now=batcher.millis(now), retention_days=sender.retention_days()
    )
    if refused:
        outbox.set_aside(claimed, refused, now=now)
        stream.set_aside += len(refused)
    sends = [pool.submit(sender.send, claimed.stream, batch) for batch in batcher.plan(ready)]
    return _Shipment(claimed, sends)


def _settle(shipment: _Shipment, report: DrainReport, clock: Callable[[], datetime]) -> None:
    """Record each batch's outcome: accepted rows leave the outbox, refused ones are set
    aside, failed ones wait for a later claim (and the drain stops, via report.error)."""
    claimed = shipment.claimed
    stream = report.stream(claimed.stream)
    by_id = {entry.id: entry for entry in claimed.entries}
    for done in shipment.sends:
        result = done.result()
        now = clock()
        if (claimed.lease_until - now).total_seconds() < config.lease_seconds() / 2:
            outbox.extend(claimed, now=now)  # slow retries: keep the rows still in flight
        if result.accepted:
            outbox.complete(claimed, [event.entry_id for event in result.accepted])
            outbox.record_success(claimed.stream, len(result.accepted), now=now)
            stream.sent += len(result.accepted)
            stream.batches += 1
        if result.rejected:
            outbox.set_aside(claimed, result.rejected, now=now)
            stream.set_aside += len(result.rejected)
        if result.failed:
            unsent = [by_id[event.entry_id] for event in result.failed]
            outbox.release(claimed, unsent, result.error, now=now)
            outbox.record_error(claimed.stream, result.error, now=now)
            report.error = report.error or f"{claimed.stream}: {result.error}"
