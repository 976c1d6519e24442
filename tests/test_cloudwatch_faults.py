"""Faults: the endpoint down for a while, parallel workers, a crash between CloudWatch's
answer and the outbox delete, and a worker process killed mid-batch. Nothing is lost;
a record is sent twice only when a worker died after CloudWatch took it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from audit.recording import build_event, record_events
from cloudwatch_export import config, export, outbox
from cloudwatch_export.models import OutboxEntry, StreamStatus

from .cloudwatch_helpers import (
    Flaky,
    configure,
    connect_refused,
    create_stream,
    events_in,
    free_port,
    logs_client,
    moto_url,
    read_timeout,
    record_ids,
    start_moto_on,
)

ROOT = Path(__file__).resolve().parent.parent


def store(count: int, type_name: str = "log") -> list[int]:
    result = record_events([build_event(type_name, f"r{i}") for i in range(count)])
    return result.accepted


def later(seconds: float) -> Any:
    moment = timezone.now() + timedelta(seconds=seconds)
    return lambda: moment


@pytest.fixture
def quick_retries(settings: Any) -> None:
    settings.CLOUDWATCH_EXPORT_SEND_ATTEMPTS = 2
    settings.CLOUDWATCH_EXPORT_SEND_BACKOFF_SECONDS = 0.01


def test_records_wait_while_the_endpoint_is_down_and_all_arrive_once_later(
    db: Any, quick_retries: None
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = configure({"log": "outage"}, url=url)
    first = store(30)

    report = export.drain()
    assert report.sent == 0 and "Could not reach" in report.error
    assert OutboxEntry.objects.filter(attempts=1, claim=None).count() == 30
    assert "Could not reach" in OutboxEntry.objects.first().last_error  # type: ignore[union-attr]
    assert "Could not reach" in StreamStatus.objects.get(stream="outage").last_error
    assert export.drain().sent == 0  # backing off: nothing is even tried
    assert "Could not reach" in export.drain(clock=later(60)).error  # still down

    second = store(20)  # records keep coming during the outage
    server = start_moto_on(port)
    try:
        report = export.drain(clock=later(3600))
        assert report.error == "" and report.sent == 50
        delivered = record_ids(events_in(settings.log_group, "outage", url))
        assert sorted(delivered) == sorted(first + second)  # all of them, none twice
        assert export.drain(clock=later(7200)).sent == 0
    finally:
        server.stop()
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_do_not_send_the_same_record_twice(settings: Any) -> None:
    settings.CLOUDWATCH_EXPORT_CLAIM_SIZE = 20
    group = configure({"log": "parallel"}).log_group
    stored = store(240)
    reports: list[export.DrainReport] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            reports.append(export.drain())
        except BaseException as exc:  # surfaced below, in the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert sum(report.sent for report in reports) == 240
    assert sum(1 for report in reports if report.sent) >= 2  # they did share the work
    delivered = record_ids(events_in(group, "parallel"))
    assert sorted(delivered) == sorted(stored)


def test_a_crash_after_cloudwatch_accepted_resends_at_most_once(
    db: Any, monkeypatch: Any, settings: Any
) -> None:
    settings.CLOUDWATCH_EXPORT_CLAIM_SIZE = 10
    group = configure({"log": "crash"}).log_group
    stored = store(25)
    real_complete = outbox.complete

    def die_once(*args: Any, **kwargs: Any) -> int:
        monkeypatch.setattr(outbox, "complete", real_complete)
        raise RuntimeError("killed between PutLogEvents and the delete")

    monkeypatch.setattr(outbox, "complete", die_once)
    with pytest.raises(RuntimeError):
        export.drain()
    # The batch in flight (the first claim) reached CloudWatch but its rows are still
    # leased, as is the claim taken meanwhile, which was not sent: a stream's next
    # batch goes only after the previous one's rows are deleted. Nobody takes them now...
    assert export.drain().sent == 5
    # ...and once the lease is over, they go: the one batch again, counted as resent,
    # and the claim that never left for the first time.
    report = export.drain(clock=later(3600))
    assert report.sent == 20 and report.resent == 10
    counts = Counter(record_ids(events_in(group, "crash")))
    assert set(counts) == set(stored)
    assert sorted(counts.values()) == [1] * 15 + [2] * 10
    assert StreamStatus.objects.get(stream="crash").resent_total == 10


def test_a_streams_next_batch_goes_only_after_the_previous_ones_rows_are_deleted(
    db: Any, monkeypatch: Any, settings: Any
) -> None:
    """So that a crash, at any moment, leaves at most one batch per stream that
    CloudWatch may hold while the outbox still does."""
    settings.CLOUDWATCH_EXPORT_BATCH_EVENTS = 10
    group = configure({"log": "in_turn"}).log_group
    create_stream(group, "in_turn")
    stored = store(45)
    steps: list[tuple[str, int]] = []
    logs = Flaky(logs_client())
    real_put, real_complete = logs.put_log_events, outbox.complete

    def put(**kwargs: Any) -> Any:
        steps.append(("send", len(kwargs["logEvents"])))
        return real_put(**kwargs)

    def complete(claim: Any, entry_ids: list[int]) -> int:
        steps.append(("delete", len(entry_ids)))
        return real_complete(claim, entry_ids)

    monkeypatch.setattr(logs, "put_log_events", put)
    monkeypatch.setattr(outbox, "complete", complete)
    report = export.drain(logs=logs)
    assert report.sent == 45 and report.streams["in_turn"].batches == 5
    assert steps == [("send", 10), ("delete", 10)] * 4 + [("send", 5), ("delete", 5)]
    assert sorted(record_ids(events_in(group, "in_turn"))) == sorted(stored)


def test_a_failed_batch_waits_out_a_backoff_and_the_rows_not_sent_go_back_as_they_were(
    db: Any, quick_retries: None, settings: Any
) -> None:
    settings.CLOUDWATCH_EXPORT_BATCH_EVENTS = 10
    group = configure({"log": "refused"}).log_group
    create_stream(group, "refused")
    store(30)
    logs = Flaky(logs_client(), connect_refused(), connect_refused())
    report = export.drain(logs=logs)
    assert report.sent == 0 and "Could not reach" in report.error
    assert report.retries == 1 and report.resent == 0  # the request never left
    assert len(logs.calls) == 2  # one batch, tried twice; the drain stopped there
    now = timezone.now()
    tried = OutboxEntry.objects.filter(attempts=1)
    assert tried.count() == 10 and not tried.filter(next_attempt_at__lte=now).exists()
    assert set(tried.values_list("maybe_delivered", flat=True)) == {False}
    untried = OutboxEntry.objects.filter(attempts=0, claim=None, next_attempt_at__lte=now)
    assert untried.count() == 20 and "Could not reach" not in untried[0].last_error
    report = export.drain(clock=later(60))
    assert report.sent == 30 and report.resent == 0 and report.error == ""
    assert len(events_in(group, "refused")) == 30


def test_timed_out_sends_are_logged_and_counted_as_resent_now_and_when_sent_later(
    db: Any, quick_retries: None, settings: Any, caplog: Any
) -> None:
    """Both tries reached CloudWatch (their answers were lost), the batch failed; its
    rows carry the doubt to the next drain, which counts them as resent again."""
    settings.CLOUDWATCH_EXPORT_BATCH_EVENTS = 10
    group = configure({"log": "doubt"}).log_group
    create_stream(group, "doubt")
    stored = store(10)
    logs = Flaky(logs_client(), read_timeout(), read_timeout(), deliver_first=True)
    report = export.drain(logs=logs)
    assert report.sent == 0 and "did not answer in time" in report.error
    assert (report.retries, report.timeouts, report.resent) == (1, 2, 10)
    assert set(OutboxEntry.objects.values_list("maybe_delivered", flat=True)) == {True}
    messages = [r.getMessage() for r in caplog.records if r.name == "cloudwatch_export"]
    assert any("timed out (attempt 1 of 2" in m and "retrying in" in m for m in messages)
    assert any("timed out (attempt 2 of 2" in m and "giving up for now" in m for m in messages)
    assert any("a batch of 10 records to stream 'doubt' failed" in m for m in messages)

    report = export.drain(clock=later(60))
    assert report.sent == 10 and report.resent == 10 and report.error == ""
    assert "10 records resent" in report.warning
    status = StreamStatus.objects.get(stream="doubt")
    assert status.resent_total == 20 and status.sent_total == 10
    copies = Counter(record_ids(events_in(group, "doubt")))
    assert set(copies) == set(stored) and set(copies.values()) == {3}


def test_leases_are_short_and_a_heartbeat_renews_them(db: Any) -> None:
    assert config.lease_seconds() == 30 and config.heartbeat_seconds() == 10
    configure({"log": "beat"})
    store(3)
    now = timezone.now() + timedelta(seconds=1)
    live = outbox.claim(now=now)
    assert live is not None
    ids = [entry.id for entry in live.entries]
    assert outbox.renew([live], ids, now=now + timedelta(seconds=20)) == 3
    assert outbox.claim(now=now + timedelta(seconds=31)) is None  # renewed: still held
    taken = outbox.claim(now=now + timedelta(seconds=51))  # not renewed since: a dead one
    assert taken is not None and len(taken.entries) == 3
    assert outbox.renew([live], ids, now=now + timedelta(seconds=52)) == 0  # not its own


class BlackHole:
    """A TCP endpoint that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def _wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing(black_hole: BlackHole) -> None:
    settings = configure({"log": "killed"}, url=f"http://127.0.0.1:{black_hole.port}")
    stored = store(60)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        # The group's retention is asked before anything is claimed (no lease is held
        # while that call may hang): a short timeout lets it give up and claim.
        "DJANGO_SETTINGS_MODULE": "tests.cloudwatch_worker_settings",
        "CLOUDWATCH_EXPORT_READ_TIMEOUT": "3",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "cloudwatch_export", "--once"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # It has claimed every row and is waiting on CloudWatch: kill it there.
        _wait_for(lambda: OutboxEntry.objects.filter(claim__isnull=False).count() == 60)
        _wait_for(lambda: len(black_hole.accepted) >= 2)  # DescribeLogGroups, PutLogEvents
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert OutboxEntry.objects.count() == 60
    assert export.drain().sent == 0  # the dead worker's lease still holds them

    configure({"log": "killed"}, group=settings.log_group, url=moto_url())
    report = export.drain(clock=later(3600))
    assert report.sent == 60 and report.error == ""
    assert sorted(record_ids(events_in(settings.log_group, "killed"))) == sorted(stored)
    assert not OutboxEntry.objects.exists()
