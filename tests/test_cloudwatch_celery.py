"""A real Celery beat (its own process) and worker on Redis ship records end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections

import audit
from cloudwatch_export.models import OutboxEntry

from .cloudwatch_helpers import configure, events_in, record_ids

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_beat_and_a_worker_drain_the_outbox(tmp_path: Path) -> None:
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from auditproj.celery import app

    def close_connections(**kwargs: object) -> None:
        """The worker thread's database connection would outlive the test database."""
        connections.close_all()

    settings = configure({"log": "celery_log", "error": "celery_errors"})
    stored = [audit.log("log", f"via celery {i}") for i in range(5)]
    stored.append(audit.log("error", "an error"))
    assert OutboxEntry.objects.count() == 6
    app.control.purge()  # ticks queued by an earlier run must not count here
    env = {**os.environ, "CLOUDWATCH_EXPORT_INTERVAL": "1"}
    beat = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "auditproj", "beat",
            "--schedule", str(tmp_path / "beat-schedule"), "--max-interval", "1",
            "--loglevel", "WARNING",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1):
            deadline = time.monotonic() + 45
            while OutboxEntry.objects.exists():
                assert beat.poll() is None, beat.stderr.read().decode() if beat.stderr else ""
                assert time.monotonic() < deadline, "the outbox was not drained"
                time.sleep(0.2)
            audit.log("log", "a later one")  # the next tick takes it too
            while OutboxEntry.objects.exists():
                assert time.monotonic() < deadline, "the later record was not drained"
                time.sleep(0.2)
    finally:
        task_postrun.disconnect(close_connections)
        beat.terminate()
        beat.wait(10)
    shipped = record_ids(events_in(settings.log_group, "celery_log"))
    assert sorted(shipped)[:5] == sorted(stored[:5]) and len(shipped) == 6
    assert record_ids(events_in(settings.log_group, "celery_errors")) == [stored[5]]
