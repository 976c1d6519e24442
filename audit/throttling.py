"""The ingest limits per user: requests and events per time window.

Why not DRF's ``ScopedRateThrottle``: it counts requests only, so one request of 1,000
events cost what a request of one did, and it keeps a list of every request's time per
user in the cache (6,000 floats pickled and written back on each request at the
default rate). Here each user has two counters per fixed window, requests and events,
raised together in one round trip to Redis (a pipeline of ``INCRBY`` and ``EXPIRE NX``);
with another cache backend, by ``add`` and ``incr``.

The counters live in Django's cache, so with ``REDIS_URL`` the limit holds across every
server process. Without Redis the cache is each process's own memory and each process
counts alone: N processes let through up to N times the limit (``make run`` serves
from one process, so there it is exact).

A fixed window lets a client spend its budget at the end of one window and again at
the start of the next: at most twice the rate over a short stretch, never more.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from rest_framework.exceptions import Throttled

from . import config

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


def charge(user: Any, events: int, *, now: float | None = None) -> None:
    """Count one request of ``events`` events against ``user``'s limits, or raise DRF's
    ``Throttled`` (429 with ``Retry-After``) naming the limit that was hit. A refused
    request is not counted: its events were not stored, and the client will resend."""
    now = time.time() if now is None else now
    ident = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else "anonymous"
    limits = [
        ("requests", "AUDIT_INGEST_THROTTLE", config.ingest_request_rate(), 1),
        ("events", "AUDIT_INGEST_EVENT_THROTTLE", config.ingest_event_rate(), events),
    ]
    counters = []
    for what, setting, text, delta in limits:
        rate = parse_rate(text, setting)
        counters.append((what, setting, rate, _key(ident, what, rate, now), delta))
    totals = _add([(key, delta, rate.seconds) for _, _, rate, key, delta in counters])
    for (what, setting, rate, _, _), total in zip(counters, totals, strict=True):
        if total > rate.count:
            _add([(key, -delta, r.seconds) for _, _, r, key, delta in counters])
            wait = rate.seconds - (now % rate.seconds)
            raise Throttled(
                wait=wait,
                detail=(
                    f"Too many {what}: the limit is {rate.text} per user ({setting}); "
                    f"this request would make {total}. Retry in {int(wait) + 1} s with "
                    "the same event ids: nothing of this request was stored."
                ),
            )


def _key(ident: str, what: str, rate: Rate, now: float) -> str:
    return f"audit:ingest:{ident}:{what}:{rate.seconds}:{int(now // rate.seconds)}"


def _add(items: list[tuple[str, int, int]]) -> list[int]:
    """Add each delta to its counter (created with its time to live), in one round trip
    on Redis; the new totals."""
    cache = caches["default"]
    client = _redis_client(cache)
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for key, delta, ttl in items:
            full = cache.make_and_validate_key(key)
            pipe.incrby(full, delta)
            pipe.expire(full, ttl + 1, nx=True)
        replies = pipe.execute()
        return [int(value) for value in replies[::2]]
    totals = []
    for key, delta, ttl in items:
        cache.add(key, 0, ttl + 1)
        try:
            totals.append(cache.incr(key, delta))
        except ValueError:  # expired between add and incr
            cache.set(key, max(delta, 0), ttl + 1)
            totals.append(max(delta, 0))
    return totals


def _redis_client(cache: Any) -> Any:
    """The raw Redis client behind Django's cache, when the cache is Redis."""
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(write=True)
