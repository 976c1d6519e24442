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
