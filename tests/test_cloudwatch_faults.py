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
from cloudwatch_export import export, outbox
from cloudwatch_export.models import OutboxEntry, StreamStatus

from .cloudwatch_helpers import (
    configure,
    events_in,
    free_port,
    moto_url,
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
    # The rows in flight (the first claim, and the next one the pipeline had already
    # sent) reached CloudWatch but are still leased: nobody takes them now...
    assert export.drain().sent == 5
    # ...and once the lease is over, they go again: duplicates, never a loss.
    assert export.drain(clock=later(3600)).sent == 20
    counts = Counter(record_ids(events_in(group, "crash")))
    assert set(counts) == set(stored)
    assert sorted(counts.values()) == [1] * 5 + [2] * 20


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
        "DJANGO_SETTINGS_MODULE": "auditproj.settings",
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
        _wait_for(lambda: bool(black_hole.accepted))
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
