"""The shared cache (Redis with ``REDIS_URL``), used so that its absence degrades the
service and never fails it.

The trail must keep accepting records while Redis is away: every read of the audit
system's own cache entries (switch rules, group ids, token sessions, session touches,
ingest counters) goes through here. When a call fails, the cache is marked down for
``AUDIT_CACHE_RETRY_SECONDS`` (so a dead Redis costs one failed attempt per interval, not one per
request), the caller gets its fallback (usually: ask the database, or count in this
process), and one warning says what degrades; one line says when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from . import config

logger = logging.getLogger("audit.cache")

T = TypeVar("T")

_lock = threading.Lock()
_down_until = 0.0
_down_since: float | None = None


def _errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency
        return (OSError,)
    return (RedisError, OSError)


_ERRORS = _errors()


def available() -> bool:
    """False while the cache is marked down after a failure."""
    return time.monotonic() >= _down_until


def call(operation: Callable[[BaseCache], T], fallback: Callable[[], T]) -> T:
    """``operation(cache)``, or ``fallback()`` when the cache is down or fails now."""
    if not available():
        return fallback()
    try:
        result = operation(caches["default"])
    except _ERRORS as exc:
        _mark_down(exc)
        return fallback()
    _mark_up()
    return result


def _mark_down(exc: BaseException) -> None:
    global _down_until, _down_since
    with _lock:
        _down_until = time.monotonic() + config.cache_retry_seconds()
        if _down_since is None:
            _down_since = time.monotonic()
            logger.warning(
                "The shared cache is unavailable (%s: %s). Degraded until it is back: "
                "switch rules are read from the database (each process keeps them for "
                "at most a second), ingest limits are counted in the database, token "
                "sessions are found in the database.",
                type(exc).__name__,
                exc,
            )


def _mark_up() -> None:
    global _down_since
    if _down_since is None:
        return
    with _lock:
        if _down_since is not None:
            logger.warning("The shared cache is back after %.1f s.", time.monotonic() - _down_since)
            _down_since = None


def reset() -> None:
    """Forget a past failure (tests)."""
    global _down_until, _down_since
    with _lock:
        _down_until, _down_since = 0.0, None
