"""Counting the events the switches drop, so admins know what they are not seeing.

Counts accumulate in this process's memory and are added to ``DroppedCount`` rows by
one upsert every ``AUDIT_DROPPED_FLUSH_SECONDS``: from a timer thread that the first
drop starts (so a drop shows within seconds even when no other event follows it), from
the recording path when a flush is due, from the Celery beat task, and at exit. Never a
database write per dropped event; a process that dies loses at most the counts of its
last seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from . import config
from .models import DroppedCount

_lock = threading.Lock()
_counts: Counter[tuple[datetime, str, str]] = Counter()
_last_flush = time.monotonic()


def count(type_name: str, groups: Iterable[str]) -> None:
    """One event of ``type_name`` dropped because of these groups' switches ("" for
    the global switch)."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    with _lock:
        for group in groups:
            _counts[(hour, type_name, group)] += 1
    _start_timer()


_timer: threading.Thread | None = None
# Off in the test suite, whose tests roll back what they wrote: a thread's flush would
# commit one test's counts for the next to find (the timer's own test turns it on).
TIMER_ENABLED = True


def _start_timer() -> None:
    """The flushing thread of this process, started once (again in a forked child)."""
    global _timer
    if not TIMER_ENABLED or (_timer is not None and _timer.is_alive()):
        return
    with _lock:
        if _timer is None or not _timer.is_alive():
            _timer = threading.Thread(target=_flush_forever, name="audit-dropped", daemon=True)
            _timer.start()


def _flush_forever() -> None:
    from django.db import close_old_connections

    while True:
        time.sleep(config.dropped_flush_seconds() / 2)
        if not _counts:
            continue
        with contextlib.suppress(Exception):  # the counts stay for the next try
            maybe_flush()
        close_old_connections()  # this thread's connection, as a request would


def _forget_timer() -> None:
    global _timer
    _timer = None


os.register_at_fork(after_in_child=_forget_timer)


def maybe_flush() -> None:
    """Flush when one is due, unless inside a transaction: the counts of the whole
    process would go into the caller's, and be lost with it if it rolls back. The timer
    thread, the beat or a later call outside a transaction flushes them then."""
    if (
        _counts
        and time.monotonic() - _last_flush >= config.dropped_flush_seconds()
        and not transaction.get_connection().in_atomic_block
    ):
        flush()


def flush() -> int:
    """Add the pending counts to the database; returns how many rows were touched."""
    global _last_flush
    with _lock:
        pending = list(_counts.items())
        _counts.clear()
        _last_flush = time.monotonic()
    if not pending:
        return 0
    table = DroppedCount._meta.db_table
    sql = (
        f"INSERT INTO {table} (hour, event_type, {connection.ops.quote_name('group')}, count) "
        f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(pending))} "
        f"ON CONFLICT (hour, event_type, {connection.ops.quote_name('group')}) "
        f"DO UPDATE SET count = {table}.count + excluded.count"
    )
    params: list[datetime | str | int] = []  # hour, type, group, count per row
    for (hour, type_name, group), n in pending:
        params += [hour, type_name, group, n]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except Exception:
        with _lock:  # keep them for the next flush rather than lose them
            for key, n in pending:
                _counts[key] += n
        raise
    return len(pending)


def pending() -> dict[tuple[datetime, str, str], int]:
    with _lock:
        return dict(_counts)


def reset() -> None:
    """Forget unflushed counts (tests)."""
    with _lock:
        _counts.clear()


def _flush_at_exit() -> None:
    with contextlib.suppress(Exception):  # the database may be gone at interpreter exit
        flush()


atexit.register(_flush_at_exit)
