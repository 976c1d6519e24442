"""Validating incoming events with a compiled schema (msgspec), one event at a time.

A DRF serializer per event costs milliseconds; msgspec converts and type-checks a
decoded event in about a microsecond, which is what lets one request carry hundreds
of events. Each event is checked on its own so that a bad one is reported by index and
never costs the good ones sent with it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from . import config, registry
from .levels import LEVELS


class EntityIn(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    id: str | int
    role: str = ""


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    type: str = "log"
    message: str = ""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    level: str | None = None
    stackTrace: str | None = None
    entities: list[EntityIn] = msgspec.field(default_factory=list)
    timestamp: datetime | None = None
    id: uuid.UUID | None = None


@dataclass(slots=True)
class EntityRef:
    kind: registry.EntityKind
    object_id: str
    role: str


@dataclass(slots=True)
class ValidEvent:
    """An event that passed validation; ``params_json`` is the encoded params."""

    type: str
    message: str
    params: dict[str, Any]
    params_json: str
    level: str | None
    stack_trace: str
    entities: list[EntityRef]
    client_time: datetime | None
    uuid: uuid.UUID | None
    changes_json: str | None = None


class EventErrors(Exception):
    """The event is invalid; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


# msgspec ends its message with " - at `$.field[0].id`": the field names the error, the
# rest of the path stays in the words.
_PATH = re.compile(r" - at `\$\.?([A-Za-z_]+)([^`]*)`$")
_encoder = msgspec.json.Encoder()
# PostgreSQL can store no NUL character in text or jsonb: refuse it per event rather
# than fail the whole batch at insert time.
_NUL = "contains a NUL character (\\u0000), which cannot be stored"
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of containers in ``value``, stopping once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(item, dict):
            stack.extend(
                (child, depth + 1) for child in item.values() if isinstance(child, dict | list)
            )
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return deepest


def validate(raw: Any) -> ValidEvent:
    """Turn one decoded JSON value into a ``ValidEvent`` or raise ``EventErrors``."""
    if not isinstance(raw, dict):
        raise EventErrors({"non_field_errors": ["an event must be a JSON object"]})
    try:
        event = msgspec.convert(raw, EventIn)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH.search(text)
        if match is None:
            raise EventErrors({"non_field_errors": [text]}) from None
        words = text[: match.start()]
        if match.group(2):
            words += f" (at {match.group(2).lstrip('.')})"
        raise EventErrors({match.group(1): [words]}) from None

    errors: dict[str, list[str]] = {}
    if "\x00" in event.message:
        errors["message"] = [_NUL]
    elif len(event.message) > (limit := config.max_message_length()):
        errors["message"] = [
            f"is {len(event.message)} characters; the limit is {limit} (AUDIT_MAX_MESSAGE_LENGTH)"
        ]
    if event.level is not None and event.level not in LEVELS:
        errors["level"] = [f"must be one of {', '.join(sorted(LEVELS))}"]

    stack_trace = event.stackTrace
    if stack_trace is None and isinstance(event.params.get("stackTrace"), str):
        stack_trace = event.params["stackTrace"]  # the specification passes it in params
    stack_trace = stack_trace or ""
    if "\x00" in stack_trace:
        errors["stackTrace"] = [_NUL]
    elif len(stack_trace) > (limit := config.max_stack_trace_length()):
        errors["stackTrace"] = [
            f"is {len(stack_trace)} characters; the limit is {limit} (AUDIT_MAX_STACK_TRACE_LENGTH)"
        ]

    params_json = _encoder.encode(event.params).decode()
    depth_limit = config.max_params_depth()
    # Counting brackets is C-fast and bounds the depth: walk only when it could be over.
    if (
        params_json.count("{") + params_json.count("[") > depth_limit
        and _depth(event.params, depth_limit) > depth_limit
    ):
        errors["params"] = [f"is nested deeper than {depth_limit} levels (AUDIT_MAX_PARAMS_DEPTH)"]
    elif "\\u0000" in params_json:
        errors["params"] = [_NUL]
    elif len(params_json) > (limit := config.max_params_bytes()):
        errors["params"] = [
            f"is {len(params_json)} bytes as JSON; the limit is {limit} (AUDIT_MAX_PARAMS_BYTES)"
        ]

    entities, entity_errors = _entities(event.entities)
    if entity_errors:
        errors["entities"] = entity_errors

    client_time = event.timestamp
    if client_time is not None:
        if client_time.tzinfo is None:
            client_time = client_time.replace(tzinfo=UTC)
        if problem := _client_time_problem(client_time):
            errors["timestamp"] = [problem]
    if errors:
        raise EventErrors(errors)
    return ValidEvent(
        type=event.type,
        message=event.message,
        params=event.params,
        params_json=params_json,
        level=event.level,
        stack_trace=stack_trace,
        entities=entities,
        client_time=client_time,
        uuid=event.id,
    )


def _client_time_problem(client_time: datetime) -> str | None:
    """Why a client's time is refused, or None. The window keeps every stored time one
    that the database, Python and CloudWatch can read back (year 1 at +14:00 is a time
    PostgreSQL stores but Python cannot load), and a clock that is merely wrong by a
    few hours still gets through."""
    now = datetime.now(UTC)
    max_age = config.client_time_max_age_days()
    ahead = config.client_time_max_ahead_seconds()
    if client_time < now - timedelta(days=max_age):
        return (
            f"is more than {max_age} days in the past (AUDIT_CLIENT_TIME_MAX_AGE_DAYS); "
            "send the time the event happened"
        )
    if client_time > now + timedelta(seconds=ahead):
        return (
            f"is more than {ahead} seconds ahead of the server's clock "
            "(AUDIT_CLIENT_TIME_MAX_AHEAD_SECONDS)"
        )
    return None


def _entities(items: list[EntityIn]) -> tuple[list[EntityRef], list[str]]:
    errors: list[str] = []
    if len(items) > (limit := config.max_entities_per_event()):
        return [], [f"{len(items)} entities; the limit is {limit} (AUDIT_MAX_ENTITIES_PER_EVENT)"]
    refs: list[EntityRef] = []
    for position, item in enumerate(items):
        kind = registry.get(item.type)
        if kind is None:
            known = ", ".join(registry.kinds())
            errors.append(f"[{position}] unknown entity kind {item.type!r} (known: {known})")
            continue
        try:
            object_id = kind.parse_id(item.id)
        except ValueError as exc:
            errors.append(f"[{position}] id {item.id!r} is not a valid {item.type} id: {exc}")
            continue
        if item.role and not ROLE_RE.match(item.role):
            errors.append(f"[{position}] role must be lowercase letters, digits, '_' or '-'")
            continue
        refs.append(EntityRef(kind=kind, object_id=object_id, role=item.role))
    return refs, errors
