"""Admitting a client's events: the one step that decides, event by event, what is
stored and what is refused, and says why.

``admit`` runs every check a client's event must pass, in one place, and collects every
refusal by index: the shape and the limits (a compiled msgspec schema: a DRF serializer
per event costs milliseconds, msgspec about a microsecond, which is what lets one
request carry hundreds of events), the type's name (an existing type, or a new custom
one within the caps; never one only the server records), and the entities (only those
the client's user may view). A bad event never costs the good ones sent with it.
Server code builds its events with ``recording.build_event`` and is trusted with all of
this but the type, which ``recording`` resolves.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from . import config, event_types, registry, storable
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
    type_info: event_types.TypeInfo | None = None  # set once the type is resolved


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
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")


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


@dataclass(frozen=True)
class Unreadable:
    """An event of a batch whose value the body's decoder could not read as one it may
    store (``api.parsing``): refused by index, naming the field, like any bad event."""

    field: str
    problem: str


def validate(raw: Any) -> ValidEvent:
    """Turn one decoded JSON value into a ``ValidEvent`` or raise ``EventErrors``."""
    if isinstance(raw, Unreadable):  # named by its field when it is one of ours
        field = raw.field if raw.field in EventIn.__struct_fields__ else "non_field_errors"
        raise EventErrors({field: [raw.problem]})
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
    elif storable.has_nul(params_json):
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


Rejection = dict[str, Any]  # {"index": i, "errors": {field: [message, ...]}}

SERVER_ONLY = (
    "%r is recorded by the server itself when it happens; clients cannot post it "
    "(only an API token of a trusted service may)"
)


def admit(
    raw_events: Sequence[Any], *, user: Any, trusted: bool
) -> tuple[list[tuple[int, ValidEvent]], list[Rejection]]:
    """The events of a client's batch that may be stored (with their index and
    resolved type), and the refusals of the others, by index.

    A client that is not a ``trusted`` service (``audit.trust``) may neither post the
    types only the server records, nor register new names against more than its user's
    cap, nor link a record to an entity its user may not view; the refusal of a link
    reads the same whether the entity exists or not."""
    valid: list[tuple[int, ValidEvent]] = []
    rejected: list[Rejection] = []
    client_user = user if not trusted and getattr(user, "is_authenticated", False) else None
    for index, raw in enumerate(raw_events):
        try:
            valid.append((index, validate(raw)))
        except EventErrors as exc:
            rejected.append({"index": index, "errors": exc.errors})
    if not trusted:
        valid = _linkable_only(valid, user, rejected)
    # Types last: resolving a new name registers it, against its user's cap, and an
    # event refused for its links must leave no type behind.
    admitted: list[tuple[int, ValidEvent]] = []
    for index, event in valid:
        try:
            event.type_info = _client_type(event.type, client_user, trusted)
        except EventErrors as exc:
            rejected.append({"index": index, "errors": exc.errors})
            continue
        admitted.append((index, event))
    rejected.sort(key=lambda item: item["index"])
    return admitted, rejected


def _client_type(name: str, client_user: Any, trusted: bool) -> event_types.TypeInfo:
    try:
        info = event_types.resolve(name, client_user=client_user)
    except event_types.UnknownType as exc:
        raise EventErrors({"type": [str(exc)]}) from None
    if info.server_only and not trusted:
        raise EventErrors({"type": [SERVER_ONLY % info.name]})
    return info


def _linkable_only(
    admitted: list[tuple[int, ValidEvent]], user: Any, rejected: list[Rejection]
) -> list[tuple[int, ValidEvent]]:
    """The events whose entities ``user`` may view; the others are refused by index.

    One query per kind for the whole batch. Staff may view every entity, so their
    links are not checked (an id that does not exist simply names nothing)."""
    if getattr(user, "is_staff", False) and user.is_active:
        return admitted
    wanted: dict[str, set[str]] = defaultdict(set)
    for _, event in admitted:
        for ref in event.entities:
            wanted[ref.kind.kind].add(ref.object_id)
    if not wanted:
        return admitted
    visible: dict[str, set[str]] = {}
    for kind_name, ids in wanted.items():
        kind = registry.get(kind_name)
        assert kind is not None  # validate() resolved it
        pks = kind.visible_to(user).filter(pk__in=list(ids)).values_list("pk", flat=True)
        visible[kind_name] = {str(pk) for pk in pks}
    kept = []
    for index, event in admitted:
        refused = [
            f"[{position}] {ref.kind.kind}:{ref.object_id} is not an entity you may view"
            for position, ref in enumerate(event.entities)
            if ref.object_id not in visible[ref.kind.kind]
        ]
        if refused:
            rejected.append({"index": index, "errors": {"entities": refused}})
        else:
            kept.append((index, event))
    return kept
