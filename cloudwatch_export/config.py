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
    """Outbox rows one worker claims (and renders) at a time. Small enough that the
    database work of one claim takes about as long as one PutLogEvents round trip, so
    the next claim is ready when the stream's batch in flight comes back. Claimed rows
    that were never sent are not resent by a crash, only delayed by the lease."""
    return max(1, int(_number("CLOUDWATCH_EXPORT_CLAIM_SIZE", 2_000)))


def batch_events() -> int:
    """Events per PutLogEvents call at most (CloudWatch's own limit, 10,000, is the
    ceiling; the 1 MiB limit applies as well). A crash resends at most one batch per
    stream, so a smaller value bounds the duplicates a crash can make."""
    return max(1, min(int(_number("CLOUDWATCH_EXPORT_BATCH_EVENTS", 10_000)), 10_000))


def lease_seconds() -> float:
    """How long claimed rows stay invisible to other workers. A live worker renews the
    lease of the rows it holds every ``heartbeat_seconds`` (a slow or retried send does
    not lose them); a worker that dies leaves them to others once this passes."""
    return _number("CLOUDWATCH_EXPORT_LEASE_SECONDS", 30)


def heartbeat_seconds() -> float:
    """How often a working drain renews its leases: a third of the lease by default,
    so two renewals can be late before another worker may take the rows."""
    return _number("CLOUDWATCH_EXPORT_HEARTBEAT_SECONDS", lease_seconds() / 3)


def concurrent_sends() -> int:
    """PutLogEvents calls one worker keeps in flight, each to a different stream: one
    stream never has more than one batch in flight per worker, and the next one goes
    only after the outbox rows of the previous one are deleted, so a crash resends at
    most one batch per stream (CloudWatch no longer orders calls to a stream, so
    several workers may still send to the same stream at once)."""
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
