"""The export's tunables, each read through one function (``audit.config``'s style).

Read at call time, not import time, so ``override_settings`` works in tests. None of
them is needed in production: the defaults are what the README documents.
"""

from __future__ import annotations

from django.conf import settings


def _number(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def encryption_keys() -> list[str]:
    """``AUDIT_ENCRYPTION_KEY``: comma-separated secrets, the first one encrypts and all
    of them decrypt (rotation). Empty: a key derived from ``SECRET_KEY`` (and its
    fallbacks), so a fresh install needs nothing, at the price of tying the stored
    secret to ``SECRET_KEY``."""
    raw = str(getattr(settings, "AUDIT_ENCRYPTION_KEY", "") or "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def claim_size() -> int:
    """Outbox rows one worker claims at a time: one PutLogEvents call's worth at most."""
    return int(_number("CLOUDWATCH_EXPORT_CLAIM_SIZE", 10_000))


def lease_seconds() -> float:
    """How long claimed rows stay invisible to other workers. A worker that dies leaves
    its rows to others once this passes; a live one extends it as batches settle. Keep
    it above the worst send: attempts x (connect + read timeout) plus the pauses."""
    return _number("CLOUDWATCH_EXPORT_LEASE_SECONDS", 300)


def concurrent_sends() -> int:
    """PutLogEvents calls one worker keeps in flight: a claim's batches go out together,
    so the round trips overlap (CloudWatch no longer orders calls to a stream)."""
    return max(1, int(_number("CLOUDWATCH_EXPORT_CONCURRENT_SENDS", 4)))


def send_attempts() -> int:
    """PutLogEvents tries per batch for throttling, 5xx and network errors."""
    return int(_number("CLOUDWATCH_EXPORT_SEND_ATTEMPTS", 4))


def send_backoff_seconds() -> float:
    """First pause between those tries; it doubles each time (with jitter)."""
    return _number("CLOUDWATCH_EXPORT_SEND_BACKOFF_SECONDS", 0.5)


def retry_base_seconds() -> float:
    """After a failed batch its records wait this long times 2**attempts (capped below)
    before a worker claims them again, so a dead endpoint is not hammered."""
    return _number("CLOUDWATCH_EXPORT_RETRY_BASE_SECONDS", 5)


def retry_max_seconds() -> float:
    return _number("CLOUDWATCH_EXPORT_RETRY_MAX_SECONDS", 15 * 60)


def drain_budget_seconds() -> float:
    """One beat task stops claiming after this long, so tasks do not pile up behind a
    huge backlog; the next tick carries on."""
    return _number("CLOUDWATCH_EXPORT_DRAIN_BUDGET_SECONDS", 50)


def connect_timeout() -> float:
    return _number("CLOUDWATCH_EXPORT_CONNECT_TIMEOUT", 5)


def read_timeout() -> float:
    return _number("CLOUDWATCH_EXPORT_READ_TIMEOUT", 30)
