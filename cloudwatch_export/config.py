"""The export's settings: the one place their names, defaults and bounds are written.

Read through the functions below at call time (``audit.AppSettings``), so
``override_settings`` works in tests and the environment reaches them through the
project's ``settings.py``. None of them is needed in production: the defaults are what
the README documents, and ``manage.py check`` names any value that cannot be used.
"""

from __future__ import annotations

from audit import AppSettings, Setting

SETTINGS = AppSettings(
    Setting(
        "AUDIT_ENCRYPTION_KEY",
        "",
        "Fernet key(s) for secrets at rest (the CloudWatch secret key), comma-separated, "
        "newest first",
        kind="text",
    ),
    Setting("CLOUDWATCH_EXPORT_CLAIM_SIZE", 2000, "outbox rows one worker claims", minimum=1),
    Setting(
        "CLOUDWATCH_EXPORT_BATCH_EVENTS",
        10_000,
        "events per PutLogEvents call (and at most 1 MiB)",
        minimum=1,
        maximum=10_000,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_LEASE_SECONDS",
        30.0,
        "how long claimed rows stay another worker's",
        kind="float",
        minimum=0.5,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_HEARTBEAT_SECONDS",
        None,
        "how often a working drain renews its leases (a third of the lease)",
        kind="float",
        minimum=0.1,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_CONCURRENT_SENDS",
        4,
        "streams one worker sends to at once, one batch each",
        minimum=1,
        maximum=64,
    ),
    Setting("CLOUDWATCH_EXPORT_SEND_ATTEMPTS", 4, "tries per batch", minimum=1, maximum=20),
    Setting(
        "CLOUDWATCH_EXPORT_SEND_BACKOFF_SECONDS",
        0.5,
        "first pause between tries (doubling, with jitter)",
        kind="float",
        minimum=0,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_RETRY_BASE_SECONDS",
        5.0,
        "a failed batch's records wait this x 2^attempts",
        kind="float",
        minimum=0,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_RETRY_MAX_SECONDS",
        900.0,
        "... at most this long",
        kind="float",
        minimum=0,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_DRAIN_BUDGET_SECONDS",
        50.0,
        "one beat task stops claiming after this long",
        kind="float",
        minimum=1,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_CONNECT_TIMEOUT",
        5.0,
        "seconds to connect to CloudWatch",
        kind="float",
        minimum=0.1,
    ),
    Setting(
        "CLOUDWATCH_EXPORT_READ_TIMEOUT",
        30.0,
        "seconds to wait for CloudWatch's answer",
        kind="float",
        minimum=0.1,
    ),
)


def encryption_keys() -> list[str]:
    """``AUDIT_ENCRYPTION_KEY``: comma-separated secrets, the first one encrypts and all
    of them decrypt (rotation). Empty: a key derived from ``SECRET_KEY`` (and its
    fallbacks), so a fresh install needs nothing, at the price of tying the stored
    secret to ``SECRET_KEY``."""
    raw = SETTINGS("AUDIT_ENCRYPTION_KEY")
    return [part.strip() for part in raw.split(",") if part.strip()]


def claim_size() -> int:
    """Outbox rows one worker claims (and renders) at a time. Small enough that the
    database work of one claim takes about as long as one PutLogEvents round trip, so
    the next claim is ready when the stream's batch in flight comes back. Claimed rows
    that were never sent are not resent by a crash, only delayed by the lease."""
    return SETTINGS("CLOUDWATCH_EXPORT_CLAIM_SIZE")


def batch_events() -> int:
    """Events per PutLogEvents call at most (CloudWatch's own limit, 10,000, is the
    ceiling; the 1 MiB limit applies as well). A crash resends at most one batch per
    stream, so a smaller value bounds the duplicates a crash can make."""
    return SETTINGS("CLOUDWATCH_EXPORT_BATCH_EVENTS")


def lease_seconds() -> float:
    """How long claimed rows stay invisible to other workers. A live worker renews the
    lease of the rows it holds every ``heartbeat_seconds`` (a slow or retried send does
    not lose them); a worker that dies leaves them to others once this passes."""
    return SETTINGS("CLOUDWATCH_EXPORT_LEASE_SECONDS")


def heartbeat_seconds() -> float:
    """How often a working drain renews its leases: a third of the lease by default,
    so two renewals can be late before another worker may take the rows."""
    return SETTINGS("CLOUDWATCH_EXPORT_HEARTBEAT_SECONDS") or lease_seconds() / 3


def concurrent_sends() -> int:
    """PutLogEvents calls one worker keeps in flight, each to a different stream: one
    stream never has more than one batch in flight per worker, and the next one goes
    only after the outbox rows of the previous one are deleted, so a crash resends at
    most one batch per stream (CloudWatch no longer orders calls to a stream, so
    several workers may still send to the same stream at once)."""
    return SETTINGS("CLOUDWATCH_EXPORT_CONCURRENT_SENDS")


def send_attempts() -> int:
    """PutLogEvents tries per batch for throttling, 5xx and network errors."""
    return SETTINGS("CLOUDWATCH_EXPORT_SEND_ATTEMPTS")


def send_backoff_seconds() -> float:
    """First pause between those tries; it doubles each time (with jitter)."""
    return SETTINGS("CLOUDWATCH_EXPORT_SEND_BACKOFF_SECONDS")


def retry_base_seconds() -> float:
    """After a failed batch its records wait this long times 2**attempts (capped below)
    before a worker claims them again, so a dead endpoint is not hammered."""
    return SETTINGS("CLOUDWATCH_EXPORT_RETRY_BASE_SECONDS")


def retry_max_seconds() -> float:
    return SETTINGS("CLOUDWATCH_EXPORT_RETRY_MAX_SECONDS")


def drain_budget_seconds() -> float:
    """One beat task stops claiming after this long, so tasks do not pile up behind a
    huge backlog; the next tick carries on."""
    return SETTINGS("CLOUDWATCH_EXPORT_DRAIN_BUDGET_SECONDS")


def connect_timeout() -> float:
    return SETTINGS("CLOUDWATCH_EXPORT_CONNECT_TIMEOUT")


def read_timeout() -> float:
    return SETTINGS("CLOUDWATCH_EXPORT_READ_TIMEOUT")
