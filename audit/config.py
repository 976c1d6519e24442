"""The audit system's settings, each read through one function.

Reading settings at call time (not import time) keeps ``override_settings`` working in
tests and keeps every default documented in one place.
"""

from __future__ import annotations

from django.conf import settings


def _get(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def max_batch() -> int:
    """Events accepted in one ingest request."""
    return _get("AUDIT_MAX_BATCH", 1000)


def max_body_bytes() -> int:
    """Size of one ingest request body."""
    return _get("AUDIT_MAX_BODY_BYTES", 5 * 1024 * 1024)


def max_params_bytes() -> int:
    """Size of one event's ``params`` once encoded as JSON."""
    return _get("AUDIT_MAX_PARAMS_BYTES", 16 * 1024)


def max_params_depth() -> int:
    """Nesting depth of one event's ``params`` (the object itself is depth 1)."""
    return _get("AUDIT_MAX_PARAMS_DEPTH", 8)


def max_message_length() -> int:
    return _get("AUDIT_MAX_MESSAGE_LENGTH", 4096)


def max_stack_trace_length() -> int:
    return _get("AUDIT_MAX_STACK_TRACE_LENGTH", 32 * 1024)


def max_entities_per_event() -> int:
    return _get("AUDIT_MAX_ENTITIES_PER_EVENT", 50)


def max_custom_types() -> int:
    """Custom event types (``logger.log(..., 'my_log')``) registered on first use."""
    return _get("AUDIT_MAX_CUSTOM_TYPES", 200)


def max_custom_types_per_user() -> int:
    """Custom event types one user's clients may register: one user cannot use up the
    server's whole budget (``max_custom_types``) and lock everyone else out."""
    return _get("AUDIT_MAX_CUSTOM_TYPES_PER_USER", 20)


def client_time_max_age_days() -> int:
    """How far back a client's ``timestamp`` may be. Older ones are refused per event:
    a time the server cannot read back (year 1, year 9999) would break every page that
    shows the record, for good, since records cannot be changed."""
    return _get("AUDIT_CLIENT_TIME_MAX_AGE_DAYS", 365)


def client_time_max_ahead_seconds() -> int:
    """How far ahead of the server's clock a client's ``timestamp`` may be."""
    return _get("AUDIT_CLIENT_TIME_MAX_AHEAD_SECONDS", 24 * 3600)


def ingest_request_rate() -> str:
    """Ingest requests per user, as ``N/sec|min|hour|day``."""
    return str(getattr(settings, "AUDIT_INGEST_THROTTLE", "6000/min"))


def service_request_rate() -> str:
    """Ingest requests per trusted service token (``audit.trust``)."""
    return str(getattr(settings, "AUDIT_SERVICE_INGEST_THROTTLE", "60000/min"))


def service_event_rate() -> str:
    """Ingested events per trusted service token: a service posts for many users."""
    return str(getattr(settings, "AUDIT_SERVICE_INGEST_EVENT_THROTTLE", "3000000/min"))


def ingest_event_rate() -> str:
    """Ingested events per user, as ``N/sec|min|hour|day``: a request of 1,000 events
    costs 1,000 of this budget, not one."""
    return str(getattr(settings, "AUDIT_INGEST_EVENT_THROTTLE", "120000/min"))


def token_session_idle_seconds() -> int:
    """A token client's session ends after this long without a request."""
    return _get("AUDIT_TOKEN_SESSION_IDLE_SECONDS", 30 * 60)


def retention_days() -> int:
    """Default age after which ``audit_purge`` removes records."""
    return _get("AUDIT_RETENTION_DAYS", 365)


def limits() -> dict[str, int]:
    """The limits a client needs to know, as the config endpoint reports them."""
    return {
        "max_batch": max_batch(),
        "max_body_bytes": max_body_bytes(),
        "max_params_bytes": max_params_bytes(),
        "max_params_depth": max_params_depth(),
        "max_message_length": max_message_length(),
        "max_stack_trace_length": max_stack_trace_length(),
        "max_entities_per_event": max_entities_per_event(),
    }
