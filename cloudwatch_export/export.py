"""Draining the outbox: claim, render, check the window, batch, send, settle.

This is the one function the Celery task, ``manage.py cloudwatch_export`` and the
benchmark call. Each stream being drained has a lane: rows claimed for it (a claim
is ``CLOUDWATCH_EXPORT_CLAIM_SIZE`` rows), rendered into events, and at most one
PutLogEvents batch in flight. When CloudWatch accepts a batch its outbox rows are
deleted, and only then does the stream's next batch go, so a worker killed at any
moment leaves at most one batch per stream that CloudWatch may have stored but the
outbox still holds: a crash resends at most that batch, and counts it as resent.
Different streams travel at once (``CLOUDWATCH_EXPORT_CONCURRENT_SENDS`` lanes), and
while batches are in flight this thread claims and renders the next rows, so the round
trips to CloudWatch overlap with the database work; the database is only ever touched
from this thread.

Claimed rows are leased for ``CLOUDWATCH_EXPORT_LEASE_SECONDS`` (30) and the lease of
every row still held is renewed every ``CLOUDWATCH_EXPORT_HEARTBEAT_SECONDS`` (10)
while the drain works, however long a send takes; the rows of a worker that died go to
another worker within one lease. Rows claimed but not yet sent are never resent by a
crash, only delayed.

It stops claiming at the first batch that fails for a reason other than its content
(endpoint down, throttled past the retries, bad keys): that batch's rows go back to
the outbox with a backoff, the rows claimed but not sent yet go back as they were, and
hammering a sick endpoint with more claims would only delay its recovery. Retries and
timeouts are logged as they happen (logger ``cloudwatch_export``, warning) and reported
per stream, as are the records sent again after a send that may have delivered them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError
from django.db import transaction
from django.utils import timezone

from . import batcher, config, connection, messages, outbox, witness
from .crypto import DecryptionError
from .models import ExportSettings, OutboxEntry, StreamMapping
from .sender import Sender, SendResult

logger = logging.getLogger("cloudwatch_export")

MAX_PROBLEMS = 5  # distinct retried errors kept in a report


@dataclass(slots=True)
class StreamReport:
    sent: int = 0
    batches: int = 0
    set_aside: int = 0
    dropped: int = 0  # records purged before they could be sent
    retries: int = 0  # PutLogEvents calls made again after a retryable error
    timeouts: int = 0  # calls that timed out
    resent: int = 0  # records sent again after a send that may have delivered them


@dataclass(slots=True)
class DrainReport:
    streams: dict[str, StreamReport] = field(default_factory=dict)
    skipped: str = ""  # why nothing was tried (disabled, not configured)
    error: str = ""  # why the drain stopped early
    problems: list[str] = field(default_factory=list)  # errors retried ("stream: ...")
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(stream.sent for stream in self.streams.values())

    @property
    def set_aside(self) -> int:
        return sum(stream.set_aside for stream in self.streams.values())

    @property
    def retries(self) -> int:
        return sum(stream.retries for stream in self.streams.values())

    @property
    def timeouts(self) -> int:
        return sum(stream.timeouts for stream in self.streams.values())

    @property
    def resent(self) -> int:
        return sum(stream.resent for stream in self.streams.values())

    @property
    def warning(self) -> str:
        """Retries and resends in words ("" when there were none): a drain that got
        everything through after timeouts says so, even with no error."""
        if not self.retries and not self.resent:
            return ""
        parts = []
        if self.retries:
            timeouts = counted(self.timeouts, "timeout", "timeouts")
            parts.append(f"{counted(self.retries, 'retry', 'retries')} ({timeouts})")
        if self.resent:
            parts.append(
                f"{counted(self.resent, 'record', 'records')} resent (possible duplicates)"
            )
        text = ", ".join(parts)
        return f"{text}: {'; '.join(self.problems)}" if self.problems else text

    @property
    def eventful(self) -> bool:
        return bool(self.sent or self.error or self.set_aside or self.retries or self.resent)

    def stream(self, name: str) -> StreamReport:
        return self.streams.setdefault(name, StreamReport())

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "set_aside": self.set_aside,
            "retries": self.retries,
            "timeouts": self.timeouts,
            "resent": self.resent,
            "streams": {
                name: {
                    "sent": s.sent,
                    "batches": s.batches,
                    "set_aside": s.set_aside,
                    "dropped": s.dropped,
                    "retries": s.retries,
                    "timeouts": s.timeouts,
                    "resent": s.resent,
                }
                for name, s in self.streams.items()
            },
            "skipped": self.skipped,
            "error": self.error,
            "warning": self.warning,
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
    except (DecryptionError, BotoCoreError, ValueError) as exc:
        # A setting boto3 refuses (a region or endpoint stored before it was checked):
        # no send can work until it is changed, so say so where the status page looks.
        report.error = _setup_error(exc)
        _record_setup_error(report.error, clock())
        logger.warning("cloudwatch export: %s", report.error)
        return report
    sender = Sender(logs, settings.log_group, endpoint=settings.endpoint_url, sleep=sleep)
    with ThreadPoolExecutor(config.concurrent_sends(), thread_name_prefix="cloudwatch") as pool:
        _Drain(
            sender,
            pool,
            settings.message_format,
            report,
            clock,
            budget,
            started,
            seal_stream=settings.seal_stream,
        ).run()
    report.seconds = time.monotonic() - started
    if report.error or report.warning:
        logger.warning("cloudwatch export: %s", report.as_dict())
    elif report.eventful:
        logger.info("cloudwatch export: %s", report.as_dict())
    return report


def _setup_error(exc: Exception) -> str:
    if isinstance(exc, DecryptionError):
        return str(exc)
    return f"The settings cannot make a CloudWatch Logs client: {exc}. Fix them in Settings -> Log."


def _record_setup_error(error: str, now: datetime) -> None:
    """The error on the status of every stream with records waiting (or mapped)."""
    streams = set(
        OutboxEntry.objects.filter(set_aside_reason="").values_list("stream", flat=True).distinct()
    )
    streams |= set(StreamMapping.objects.values_list("stream", flat=True))
    for stream in sorted(streams):
        outbox.record_batch(stream, sent=0, resent=0, error=error, now=now)


@dataclass(slots=True, eq=False)
class _Lane:
    """One stream's rows held by this drain: a pool of rendered events waiting, and
    at most one batch in flight."""

    stream: str
    pool: list[batcher.Event] = field(default_factory=list)
    # Every row held, in the pool or in flight: entry id -> its claim and claimed entry.
    held: dict[int, tuple[outbox.Claim, outbox.ClaimedEntry]] = field(default_factory=dict)
    batch: list[batcher.Event] = field(default_factory=list)
    sending: Future[SendResult] | None = None
    batch_resent: int = 0  # events of the batch in flight that an earlier send may have delivered
    exhausted: bool = False  # nothing more to claim for it in this drain

    @property
    def finished(self) -> bool:
        return self.sending is None and not self.pool and self.exhausted

    def owners(
        self, events: Iterable[batcher.Event]
    ) -> dict[outbox.Claim, list[outbox.ClaimedEntry]]:
        found: dict[outbox.Claim, list[outbox.ClaimedEntry]] = defaultdict(list)
        for event in events:
            claimed, entry = self.held[event.entry_id]
            found[claimed].append(entry)
        return found


class _Drain:
    def __init__(
        self,
        sender: Sender,
        pool: ThreadPoolExecutor,
        message_format: str,
        report: DrainReport,
        clock: Callable[[], datetime],
        budget: float | None,
        started: float,
        seal_stream: str = "",
    ) -> None:
        self.sender, self.pool, self.message_format = sender, pool, message_format
        self.seal_stream = seal_stream
        self.report, self.clock = report, clock
        self.deadline = None if budget is None else started + budget
        self.lanes: dict[str, _Lane] = {}
        self.claim_size = config.claim_size()
        self.batch_events = config.batch_events()
        self.concurrency = config.concurrent_sends()
        self.heartbeat = config.heartbeat_seconds()
        self.next_beat = time.monotonic() + self.heartbeat
        self.stopped = False  # no more claims: budget spent, or a batch failed
        self.no_new_streams = False
        self.primed = False

    def run(self) -> None:
        while True:
            self._settle(self._done(timeout=0))
            self._launch_idle()
            self._beat_if_due()
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self._stop()
            if self._claim_next():
                continue
            sending = [lane.sending for lane in self.lanes.values() if lane.sending]
            if not sending:
                return
            self._settle(self._done(timeout=max(0.0, self.next_beat - time.monotonic())))

    # --- database work between sends -------------------------------------------------

    def _claim_next(self) -> bool:
        """Claim the rows most needed now, if any: for a stream whose lane ran dry,
        else for a stream not drained yet, else ahead for a lane with little left.
        False when there was nothing to do."""
        if self.stopped:
            return False
        if not self.primed:
            # Asked before any row is held: a stalled endpoint may keep this thread
            # for a whole timeout, during which no heartbeat renews a lease.
            self.primed = True
            if not outbox.has_ready(self.clock()):
                self.no_new_streams = True
                return False
            self.sender.retention_days()
            return True
        lanes = list(self.lanes.values())
        dry = [lane for lane in lanes if not lane.exhausted and not lane.pool and not lane.sending]
        if dry:
            self._fill(dry[0])
            return True
        if len(lanes) < self.concurrency and not self.no_new_streams:
            claimed = outbox.claim(now=self.clock(), limit=self.claim_size, exclude=self.lanes)
            if claimed is None:
                self.no_new_streams = True
            else:
                lane = self.lanes[claimed.stream] = _Lane(claimed.stream)
                self._add(lane, claimed)
            return True
        hungry = [lane for lane in lanes if not lane.exhausted and len(lane.pool) < self.claim_size]
        if hungry:
            self._fill(min(hungry, key=lambda lane: len(lane.pool)))
            return True
        return False

    def _fill(self, lane: _Lane) -> None:
        claimed = outbox.claim(now=self.clock(), limit=self.claim_size, stream=lane.stream)
        if claimed is None:
            lane.exhausted = True
            self._forget_if_finished(lane)
        else:
            self._add(lane, claimed)

    def _add(self, lane: _Lane, claimed: outbox.Claim) -> None:
        """Render a claim, set aside what CloudWatch would refuse, pool the rest."""
        stream = self.report.stream(lane.stream)
        rendered = messages.render(
            [entry.record_id for entry in claimed.entries], self.message_format
        )
        gone = [entry.id for entry in claimed.entries if entry.record_id not in rendered]
        if gone:
            stream.dropped += outbox.drop(claimed, gone)
        events = []
        for entry in claimed.entries:
            if (found := rendered.get(entry.record_id)) is not None:
                events.append(
                    batcher.make_event(entry.id, entry.record_id, found.timestamp, found.message)
                )
                lane.held[entry.id] = (claimed, entry)
        now = self.clock()
        ready, refused = batcher.split_window(
            events, now=batcher.millis(now), retention_days=self.sender.retention_days()
        )
        if refused:
            outbox.set_aside(claimed, refused, now=now)
            stream.set_aside += len(refused)
            for entry_id in refused:
                del lane.held[entry_id]
        lane.pool += ready
        self._forget_if_finished(lane)

    def _beat_if_due(self) -> None:
        """Renew the lease of every row still held, so that a slow send, or a long
        series of retries, never hands live rows to another worker."""
        if time.monotonic() < self.next_beat:
            return
        self.next_beat = time.monotonic() + self.heartbeat
        held = [item for lane in self.lanes.values() for item in lane.held.items()]
        if held:
            claims = {claimed for _, (claimed, _) in held}
            outbox.renew(claims, [entry_id for entry_id, _ in held], now=self.clock())

    def _stop(self, *, give_back: bool = False) -> None:
        """No more claims. With ``give_back`` (a batch failed) the rows claimed but not
        sent go back to the outbox as they were; otherwise (the budget is spent) the
        lanes still send what they hold, at most about two claims each."""
        self.stopped = True
        for lane in list(self.lanes.values()):
            lane.exhausted = True
            if give_back and lane.pool:
                for claimed, entries in lane.owners(lane.pool).items():
                    outbox.unclaim(claimed, entries, now=self.clock())
                for event in lane.pool:
                    del lane.held[event.entry_id]
                lane.pool = []
            self._forget_if_finished(lane)

    def _forget_if_finished(self, lane: _Lane) -> None:
        if lane.finished and not lane.held:
            self.lanes.pop(lane.stream, None)

    # --- sending and settling -----------------------------------------------------------

    def _launch_idle(self) -> None:
        for lane in list(self.lanes.values()):
            if lane.sending is None and lane.pool:
                self._submit(lane, self._next_batch(lane))

    def _next_batch(self, lane: _Lane) -> list[batcher.Event]:
        """Take the lane's next batch from its pool and mark its rows as handed to
        PutLogEvents (before the call: should this process die during it, the next
        worker counts their send as a resend)."""
        batch, lane.pool = batcher.take(lane.pool, self.batch_events)
        outbox.mark_sending([event.entry_id for event in batch])
        lane.batch_resent = sum(
            1 for event in batch if lane.held[event.entry_id][1].maybe_delivered
        )
        return batch

    def _submit(self, lane: _Lane, batch: list[batcher.Event]) -> None:
        lane.batch = batch
        lane.sending = self.pool.submit(self.sender.send, lane.stream, batch)

    def _done(self, *, timeout: float) -> list[_Lane]:
        by_future = {lane.sending: lane for lane in self.lanes.values() if lane.sending}
        if not by_future:
            return []
        done, _ = wait(by_future, timeout=timeout, return_when=FIRST_COMPLETED)
        return [by_future[future] for future in done]

    def _settle(self, lanes: list[_Lane]) -> None:
        """Record each finished batch's outcome and send the lane's next batch. The
        accepted rows are deleted in the same transaction that marks the next batch's
        rows, and the next batch goes only after it committed: at most one batch per
        stream is ever stored in CloudWatch and still in the outbox."""
        for lane in lanes:
            assert lane.sending is not None
            result = lane.sending.result()
            lane.sending = None
            with transaction.atomic():
                failed = self._record(lane, result)
                if failed:
                    self._stop(give_back=True)
                batch = self._next_batch(lane) if lane.pool else None
            if batch:
                self._submit(lane, batch)
            self._forget_if_finished(lane)

    def _record(self, lane: _Lane, result: SendResult) -> bool:
        """Accepted rows leave the outbox, refused ones are set aside, failed ones wait
        for a later claim after a backoff. True when the batch failed."""
        now = self.clock()
        stream = self.report.stream(lane.stream)
        resent = lane.batch_resent + result.resent
        stream.retries += result.retries
        stream.timeouts += result.timeouts
        stream.resent += resent
        for problem in result.problems:
            line = f"{lane.stream}: {problem}"
            if line not in self.report.problems and len(self.report.problems) < MAX_PROBLEMS:
                self.report.problems.append(line)
        if result.accepted:
            owners = lane.owners(result.accepted)
            outbox.complete(list(owners), [event.entry_id for event in result.accepted])
            stream.sent += len(result.accepted)
            stream.batches += 1
            if lane.stream == self.seal_stream:
                witness.witnessed([event.record_id for event in result.accepted], now)
        if result.rejected:
            owners = lane.owners(event for event in lane.batch if event.entry_id in result.rejected)
            outbox.set_aside(list(owners), result.rejected, now=now)
            stream.set_aside += len(result.rejected)
        if result.failed:
            for claimed, entries in lane.owners(result.failed).items():
                outbox.release(claimed, entries, result.error, now=now, uncertain=result.uncertain)
            self.report.error = self.report.error or f"{lane.stream}: {result.error}"
            logger.warning(
                "cloudwatch export: a batch of %d records to stream %r failed: %s; they wait "
                "in the outbox and the drain stops",
                len(result.failed),
                lane.stream,
                result.error,
                extra={"stream": lane.stream, "batch_size": len(result.failed)},
            )
        error = result.error if result.failed else (result.problems[-1] if result.problems else "")
        outbox.record_batch(
            lane.stream, sent=len(result.accepted), resent=resent, error=error, now=now
        )
        for event in lane.batch:
            del lane.held[event.entry_id]
        lane.batch = []
        return bool(result.failed)


def counted(number: int, one: str, many: str) -> str:
    """ "1 batch", "3 batches": the report in words, for the command and the log."""
    return f"{number} {one if number == 1 else many}"
