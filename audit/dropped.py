"""Counting the events the switches drop, so admins know what they are not seeing.

Counts accumulate in this process's memory and are added to ``DroppedCount`` rows by
one upsert every ``FLUSH_SECONDS`` (from the recording path when it is due, from the
Celery beat task, and at exit): never a database write per dropped event. A process
that dies loses at most the counts of its last few seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from .models import DroppedCount

FLUSH_SECONDS = 10.0

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


def maybe_flush() -> None:
    if _counts and time.monotonic() - _last_flush >= FLUSH_SECONDS:
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
    params: list[object] = []
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
