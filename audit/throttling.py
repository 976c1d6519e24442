"""The ingest limits per user: requests and events per time window.

Why not DRF's ``ScopedRateThrottle``: it counts requests only, so one request of 1,000
events cost what a request of one did; it keeps a list of every request's time per user
(6,000 floats pickled and written back on each request at the default rate), and a
burst fills that list for a whole minute; and without a shared cache each process
counts alone. Here each user has two counters per fixed window, requests and events,
that hold across every server process:

- with Redis (``REDIS_URL``), raised together in one round trip (a pipeline of
  ``INCRBY`` and ``EXPIRE NX``);
- without it, or while it is away (``audit.shared_cache``), in the database: one upsert
  per counter (``audit.models.IngestCounter``), rows of past windows removed now and
  then.

A trusted service's token (``audit.trust``) has limits of its own, since one service
may post for many users. A fixed window lets a client spend its budget at the end of
one window and again at the start of the next: at most twice the rate over a short
stretch, never more, and a refused client waits until the window ends, not longer.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from rest_framework.exceptions import Throttled

from . import config, shared_cache

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: int
    text: str


def parse_rate(text: str, setting: str) -> Rate:
    """``"6000/min"`` as a ``Rate``; ``ValueError`` naming the setting otherwise."""
    match = _RATE.match(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{setting} must look like 6000/min (N/sec, /min, /hour or /day)")
    return Rate(int(match.group(1)), _SECONDS[match.group(2)[0]], text.strip())


def charge(user: Any, events: int, *, service: bool = False, now: float | None = None) -> None:
    """Count one request of ``events`` events against ``user``'s limits (a trusted
    ``service``'s own limits), or raise DRF's ``Throttled`` (429 with ``Retry-After``)
    naming the limit that was hit. A refused request is not counted: its events were not
    stored, and the client will resend them."""
    now = time.time() if now is None else now
    ident = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
    if service:
        limits = [
            ("requests", "AUDIT_SERVICE_INGEST_THROTTLE", config.service_request_rate(), 1),
            ("events", "AUDIT_SERVICE_INGEST_EVENT_THROTTLE", config.service_event_rate(), events),
        ]
    else:
        limits = [
            ("requests", "AUDIT_INGEST_THROTTLE", config.ingest_request_rate(), 1),
            ("events", "AUDIT_INGEST_EVENT_THROTTLE", config.ingest_event_rate(), events),
        ]
    counters = []
    for what, setting, text, delta in limits:
        rate = parse_rate(text, setting)
        window = int(now // rate.seconds) * rate.seconds
        counters.append(Counter(ident, what, window, rate, delta, setting))
    totals = _add(counters, sign=1)
    for counter, total in zip(counters, totals, strict=True):
        if total > counter.rate.count:
            _add(counters, sign=-1)
            wait = counter.window + counter.rate.seconds - now
            raise Throttled(
                wait=wait,
                detail=(
                    f"Too many {counter.what}: the limit is {counter.rate.text} per "
                    f"{'service token' if service else 'user'} ({counter.setting}); this "
                    f"request would make {total}. Retry in "
                    f"{int(wait) + 1} s with the same event ids: nothing of this request "
                    "was stored."
                ),
            )


@dataclass(frozen=True, slots=True)
class Counter:
    ident: str
    what: str
    window: int  # start, in seconds since 1970
    rate: Rate
    delta: int
    setting: str

    @property
    def key(self) -> str:
        return f"audit:ingest:{self.ident}:{self.what}:{self.rate.seconds}:{self.window}"


def _add(counters: list[Counter], *, sign: int) -> list[int]:
    """Add each counter's delta (times ``sign``); the new totals. Redis when the cache is
    Redis and up, else the database."""
    cache = caches["default"]
    if _is_redis(cache):
        found = shared_cache.call(lambda c: _add_redis(c, counters, sign), lambda: None)
        if found is not None:
            return found
    return _add_database(counters, sign)


def _add_redis(cache: Any, counters: list[Counter], sign: int) -> list[int]:
    client = cache._cache.get_client(write=True)
    pipe = client.pipeline(transaction=False)
    for counter in counters:
        full = cache.make_and_validate_key(counter.key)
        pipe.incrby(full, sign * counter.delta)
        pipe.expire(full, counter.rate.seconds + 1, nx=True)
    replies = pipe.execute()
    return [int(value) for value in replies[::2]]


_UPSERT = """
INSERT INTO audit_ingestcounter (ident, what, window_start, count, expires_at)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (ident, what, window_start)
DO UPDATE SET count = audit_ingestcounter.count + excluded.count
RETURNING count
"""
_CLEAN_EVERY = 1000  # requests between removals of past windows, per process
_charges = itertools.count()


def _add_database(counters: list[Counter], sign: int) -> list[int]:
    """One upsert per counter, each committed on its own (never part of the ingest's
    transaction: a count must stand whether or not the events are stored)."""
    from django.db import connection, transaction

    totals = []
    with transaction.atomic(), connection.cursor() as cursor:
        for counter in counters:
            expires = counter.window + counter.rate.seconds + 1
            cursor.execute(
                _UPSERT,
                [counter.ident, counter.what, counter.window, sign * counter.delta, expires],
            )
            totals.append(int(cursor.fetchone()[0]))
        if next(_charges) % _CLEAN_EVERY == 0:
            cursor.execute(
                "DELETE FROM audit_ingestcounter WHERE expires_at < %s", [int(time.time())]
            )
    return totals


def _is_redis(cache: Any) -> bool:
    from django.core.cache.backends.redis import RedisCache

    return isinstance(cache, RedisCache)
