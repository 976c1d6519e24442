"""Crashes and stalls with real parts: moto's server in a process of its own, an exporter
process (``manage.py cloudwatch_export``) killed with SIGKILL in the middle of a drain,
and moto stopped with SIGSTOP for longer than the read timeout.

What must hold: a killed exporter resends at most the one PutLogEvents batch it had in
flight, and another worker takes its rows within the 30 s lease; a stall is logged as a
timeout and a retry, the resent records are counted, and every record arrives, with
duplicates confined to the one batch that was in flight."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from audit.recording import build_event, record_events
from cloudwatch_export import export, outbox
from cloudwatch_export.models import OutboxEntry, StreamStatus

from .cloudwatch_helpers import MotoProcess, SlowProxy, configure, events_in, record_ids

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100  # events per PutLogEvents call in these tests: many batches per drain


def store(count: int) -> list[int]:
    stored: list[int] = []
    for start in range(0, count, 500):
        events = [build_event("log", f"r{i}") for i in range(start, min(count, start + 500))]
        stored += record_events(events).accepted
    return stored


def duplicates(group: str, stream: str, url: str, stored: list[int]) -> Counter[int]:
    """Record id -> copies beyond the first, after checking that every record arrived
    and nothing else did."""
    counts = Counter(record_ids(events_in(group, stream, url)))
    assert set(counts) == set(stored), "every record arrives, and only those"
    return Counter({record: count - 1 for record, count in counts.items() if count > 1})


@pytest.fixture
def moto() -> Iterator[MotoProcess]:
    server = MotoProcess()
    yield server
    server.stop()


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_exporter_resends_one_batch_at_most_and_its_rows_return_within_30_s(
    moto: MotoProcess, monkeypatch: Any
) -> None:
    proxy = SlowProxy(moto.port, delay=0.05)  # CloudWatch stores, the answer travels
    try:
        settings = configure({"log": "killed_drain"}, url=proxy.url)
        stored = store(5000)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "cloudwatch_export", "--once"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": _database_url(),
                "DJANGO_SETTINGS_MODULE": "tests.cloudwatch_worker_settings",
                "CLOUDWATCH_EXPORT_BATCH_EVENTS": str(BATCH),
            },  # the lease, the heartbeat and the claim size are the defaults
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while OutboxEntry.objects.count() > 2500:  # half of it shipped: kill it there
                assert worker.poll() is None, worker.stderr.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the exporter made no progress"
                time.sleep(0.02)
            assert worker.poll() is None, "the exporter finished before it could be killed"
            worker.kill()
            killed = time.monotonic()
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        left = OutboxEntry.objects.count()
        held = set(
            OutboxEntry.objects.filter(
                claim__isnull=False, next_attempt_at__gt=timezone.now()
            ).values_list("id", flat=True)
        )
        assert held, "the dead exporter held rows under its lease"
        # A second worker (this process) drains until the outbox is empty; the dead one's
        # rows come back to it once their lease (30 s, last renewed before the kill) ends.
        picked: list[float] = []  # when the second worker claimed rows of the dead one
        real_claim = outbox.claim

        def claim(**kwargs: Any) -> outbox.Claim | None:
            claimed = real_claim(**kwargs)
            if claimed and not picked and {entry.id for entry in claimed.entries} & held:
                picked.append(time.monotonic() - killed)
            return claimed

        monkeypatch.setattr(outbox, "claim", claim)
        reports: list[export.DrainReport] = []
        while OutboxEntry.objects.exists():
            assert time.monotonic() - killed < 45, "the dead exporter's rows never came back"
            reports.append(export.drain())
            time.sleep(0.1)
        assert picked and picked[0] <= 30.5, picked  # the lease, and one poll of the drain
        assert all(report.error == "" for report in reports)
        assert sum(report.sent for report in reports) == left
        # At most the one batch that was in flight when the exporter died arrived twice.
        # It is counted as resent, whether or not it had arrived (the dead exporter
        # could not know), and no other record is.
        copies = duplicates(settings.log_group, "killed_drain", moto.url, stored)
        assert len(copies) <= BATCH and set(copies.values()) <= {1}, copies
        resent = sum(report.resent for report in reports)
        assert resent == BATCH
        assert StreamStatus.objects.get(stream="killed_drain").resent_total == resent
    finally:
        proxy.close()


@pytest.mark.django_db(transaction=True)
def test_a_stall_longer_than_the_read_timeout_is_logged_retried_counted_and_bounded(
    moto: MotoProcess, settings: Any, caplog: Any
) -> None:
    settings.CLOUDWATCH_EXPORT_READ_TIMEOUT = 2
    settings.CLOUDWATCH_EXPORT_BATCH_EVENTS = BATCH
    settings.CLOUDWATCH_EXPORT_SEND_ATTEMPTS = 6
    settings.CLOUDWATCH_EXPORT_SEND_BACKOFF_SECONDS = 0.1
    settings.CLOUDWATCH_EXPORT_LEASE_SECONDS = 2  # renewed every 2/3 s while it waits
    group = configure({"log": "stalled"}, url=moto.url).log_group
    stored = store(2000)
    stall = 6.0  # two or three read timeouts, three leases
    claimable_during_stall: list[int] = []

    def stall_mid_drain() -> None:
        try:
            deadline = time.monotonic() + 30
            while OutboxEntry.objects.count() > 1500 and time.monotonic() < deadline:
                time.sleep(0.005)
            moto.pause()
            time.sleep(stall - 1.5)  # over two leases in: none of the rows is up for grabs
            claimable_during_stall.append(
                OutboxEntry.objects.filter(next_attempt_at__lte=timezone.now()).count()
            )
            time.sleep(1.5)
        finally:
            moto.resume()
            connections.close_all()

    caplog.set_level(logging.WARNING, logger="cloudwatch_export")
    staller = threading.Thread(target=stall_mid_drain)
    staller.start()
    try:
        report = export.drain()
    finally:
        staller.join(30)
    assert claimable_during_stall == [0], "the heartbeat kept the leases of the live drain"
    assert report.error == "" and report.sent == len(stored)

    warnings = [r for r in caplog.records if r.name == "cloudwatch_export" and r.levelno >= 30]
    timeouts = [r for r in warnings if "timed out" in r.getMessage()]
    assert len(timeouts) >= 2  # 6 s of silence, 2 s per attempt
    first = timeouts[0]
    assert (first.stream, first.attempt, first.batch_size) == ("stalled", 1, BATCH)  # type: ignore[attr-defined]
    assert first.error_class == "ReadTimeoutError"  # type: ignore[attr-defined]
    text = first.getMessage()
    assert "'stalled'" in text and "attempt 1 of 6" in text and f"batch of {BATCH} events" in text
    assert "ReadTimeoutError" in text and "did not answer in time" in text and "retrying" in text
    # The drain's own summary is a warning too, and says what was retried.
    assert report.retries == len(timeouts) and report.timeouts == len(timeouts)
    assert "retries" in report.warning and "ReadTimeoutError" in report.warning
    assert any("cloudwatch export:" in r.getMessage() for r in warnings)

    # Each retry after a timeout is a resend of the batch; all of them are counted...
    assert report.resent == report.streams["stalled"].resent == len(timeouts) * BATCH
    status = StreamStatus.objects.get(stream="stalled")
    assert status.resent_total == report.resent and status.sent_total == len(stored)
    assert "did not answer in time" in status.last_error
    # ...and the copies CloudWatch took while the exporter waited belong to that one
    # batch: at most one copy per timed-out attempt, of at most one batch's records.
    copies = duplicates(group, "stalled", moto.url, stored)
    assert len(copies) <= BATCH and max(copies.values(), default=0) <= len(timeouts)
    assert sum(copies.values()) <= report.resent
    assert not OutboxEntry.objects.exists()
