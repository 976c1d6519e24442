"""The recording service: every path that writes audit records goes through here.

The ingest API calls ``ingest`` (a client's events, admitted by ``validation.admit``);
``audit.log``, the Python ``Logger``, the logging handler and change tracking call
``record_events`` (server code's events). Both resolve the acting user and session,
drop the types switched off for the user, resolve entity names and store the whole
batch in one transaction with bulk inserts (``audit.storage``).
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from . import (
    clock,
    config,
    dropped,
    event_types,
    registry,
    sessions,
    storable,
    storage,
    switch_rules,
    uuids,
)
from .context import AuditContext, SessionRef, current
from .fingerprint import fingerprint
from .models import Source
from .signals import records_stored
from .validation import EntityRef, ValidEvent, admit


@dataclass
class IngestResult:
    """What happened to each event of a batch, as the ingest API reports it."""

    accepted: list[int] = field(default_factory=list)
    duplicates: int = 0
    disabled: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "disabled": self.disabled,
            "rejected": self.rejected,
        }


def ingest(raw_events: Sequence[Any], *, ctx: AuditContext, trusted: bool = False) -> IngestResult:
    """Admit a client's events (decoded JSON values, ``validation.admit``) and store
    those admitted; the answer lists the refused ones by index."""
    result = IngestResult()
    admitted, result.rejected = admit(raw_events, user=ctx.user, trusted=trusted)
    _store(admitted, ctx=ctx, source=Source.CLIENT, result=result)
    return result


def record_events(
    events: Sequence[ValidEvent],
    *,
    ctx: AuditContext | None = None,
    source: str = Source.SERVER,
    resolve_names: bool = True,
) -> IngestResult:
    """Store events built in Python (already valid). ``resolve_names=False`` skips
    looking up the names of entities given by id. They are stored now, or at the
    replayed time inside ``audit.clock.backdated``."""
    result = IngestResult()
    _store(
        list(enumerate(events)),
        ctx=ctx or _server_context(),
        source=source,
        result=result,
        resolve_names=resolve_names,
    )
    return result


def _server_context() -> AuditContext:
    return current() or AuditContext()


def acting(ctx: AuditContext) -> tuple[Any, frozenset[str], SessionRef, datetime]:
    """Who records in ``ctx``, the types switched off for them, their session and the
    time to store at (checked against the newest record when replaying the past)."""
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    disabled = switch_rules.disabled_types(user)
    session = sessions.for_context(ctx)
    now = clock.now()
    if clock.is_backdated():
        clock.check_in_order(now, storage.newest_time())
    return user, disabled, session, now


def switched_off(
    parts: Sequence[tuple[str, str, dict[str, Any]]],
    user: Any,
    disabled: frozenset[str],
    result: IngestResult,
) -> list[str]:
    """The types of a tracked change's ``parts`` (``changes.event_parts``) switched off
    for ``user``, as the parts name them, each counted as dropped: what a staged change
    leaves out of its records (``audit.staged``), decided at the save as here."""
    off = []
    for type_name, _message, _changes in parts:
        info = event_types.resolve(type_name)
        if info.name in disabled:
            _drop(result, user, info.name)
            off.append(type_name)
    return off


def _drop(result: IngestResult, user: Any, type_name: str) -> None:
    """Count an event of a type switched off for ``user``, by why it was off."""
    result.disabled += 1
    dropped.count(type_name, switch_rules.drop_reasons(user, type_name))


def prepare_rows(
    valid: list[tuple[int, ValidEvent]],
    *,
    ctx: AuditContext,
    source: str,
    result: IngestResult,
) -> tuple[list[storage.RecordRow], SessionRef | None]:
    """Resolve user, session and the types not resolved yet (server code's: a name
    that cannot be a type raises ``UnknownType``), drop switched-off types and in-batch
    repeats: the rows to insert (no query when the caches are warm)."""
    if not valid:
        return [], None
    user, disabled, session, now = acting(ctx)
    rows: list[storage.RecordRow] = []
    seen: set[uuid.UUID] = set()
    for _index, event in valid:
        info = event.type_info or event_types.resolve(event.type)
        if info.name in disabled:
            _drop(result, user, info.name)
            continue
        record_uuid = event.uuid or uuids.uuid7()
        if record_uuid in seen:
            result.duplicates += 1
            continue
        seen.add(record_uuid)
        rows.append(
            storage.RecordRow(
                uuid=record_uuid,
                type_id=info.id,
                type_name=info.name,
                level=event.level or info.level,
                message=event.message,
                params_json=event.params_json,
                changes_json=event.changes_json,
                stack_trace=event.stack_trace,
                fingerprint=fingerprint(event.stack_trace),
                user_id=user.pk if user is not None else None,
                session_id=session.pk,
                created_at=now,
                client_time=event.client_time,
                source=source,
                request_id=ctx.request_id,
                links=_links(event.entities),
                client_uuid=event.uuid is not None,
            )
        )
    if result.disabled:
        dropped.maybe_flush()
    return rows, session


def tracked_rows(
    parts: Sequence[tuple[str, str, dict[str, Any]]],
    entities: list[EntityRef],
    *,
    ctx: AuditContext,
) -> tuple[list[storage.RecordRow], SessionRef]:
    """The rows of a tracked save's events, given as ``(type, message, changes)``
    (``changes.event_parts``) with the entities they link: what ``build_event`` and
    ``prepare_rows`` make of them, without the events in between. A save carries its
    record in its own statement, so this runs at every tracked save; the general path
    builds each event first (a ``ValidEvent``, its entities read again, its params
    encoded): some 16,000 instructions a save that this one does not spend."""
    user, disabled, session, now = acting(ctx)
    result = IngestResult()
    rows = part_rows(
        parts,
        _links(entities),  # the same for each of the save's events: looked up once
        user=user,
        disabled=disabled,
        session_id=session.pk,
        created_at=now,
        request_id=ctx.request_id,
        result=result,
    )
    if result.disabled:
        dropped.maybe_flush()
    return rows, session


def part_rows(
    parts: Sequence[tuple[str, str, dict[str, Any]]],
    links: list[storage.LinkRow],
    *,
    user: Any,
    disabled: frozenset[str],
    session_id: int,
    created_at: datetime,
    request_id: str,
    result: IngestResult,
) -> list[storage.RecordRow]:
    """The rows of one tracked change's events, for a user whose switched-off types are
    ``disabled`` (those are counted in ``result`` and left out). Shared by the save that
    stores its record (``tracked_rows``) and the drain of staged changes, which works
    out who acts once for all the changes of a user rather than once a change."""
    rows: list[storage.RecordRow] = []
    for type_name, message, changes in parts:
        info = event_types.resolve(type_name)
        if info.name in disabled:
            _drop(result, user, info.name)
            continue
        rows.append(
            storage.RecordRow(
                uuid=uuids.uuid7(),
                type_id=info.id,
                type_name=info.name,
                level=info.level,
                message=clean_message(message),
                params_json="{}",
                changes_json=encode_changes(changes),
                stack_trace="",
                fingerprint="",
                user_id=user.pk if user is not None else None,
                session_id=session_id,
                created_at=created_at,
                client_time=None,
                source=Source.SERVER.value,
                request_id=request_id,
                links=list(links),
            )
        )
    return rows


# Run before records are stored straight away: ``audit.staged`` puts its ``settle_own``
# here (it imports this module, so this module cannot import it).
BEFORE_STORE: list[Callable[[], object]] = []


def _store(
    valid: list[tuple[int, ValidEvent]],
    *,
    ctx: AuditContext,
    source: str,
    result: IngestResult,
    resolve_names: bool = True,
) -> None:
    rows, session = prepare_rows(valid, ctx=ctx, source=source, result=result)
    if not rows or session is None:
        return
    if resolve_names:
        _name_links(rows)
    for hook in BEFORE_STORE:
        hook()
    # No savepoint: inside a caller's transaction (a tracked save) a failure to record
    # must fail that transaction too, and a savepoint would cost two round trips.
    with transaction.atomic(savepoint=False):
        stored = storage.insert(rows)
        if stored:
            records_stored.send(sender=storage.RecordRow, records=stored)
    result.accepted = [row.id for row in stored if row.id is not None]
    result.duplicates += len(rows) - len(stored)
    sessions.touch(session)


def _links(refs: list[EntityRef]) -> list[storage.LinkRow]:
    return [
        storage.LinkRow(
            content_type_id=ref.kind.content_type_id,
            object_id=ref.object_id,
            role=ref.role,
            name=ref.name if isinstance(ref, NamedRef) else "",
        )
        for ref in refs
    ]


def _name_links(rows: list[storage.RecordRow]) -> None:
    """Fill in each link's entity name with one query per kind for the whole batch."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        for link in row.links:
            if not link.name:
                wanted[link.content_type_id].add(link.object_id)
    for content_type_id, ids in wanted.items():
        kind = registry.for_content_type_id(content_type_id)
        if kind is None:
            continue
        names = kind.names(ids)
        for row in rows:
            for link in row.links:
                if link.content_type_id == content_type_id and not link.name:
                    link.name = names.get(link.object_id, "")


@dataclass(slots=True)
class NamedRef(EntityRef):
    """An entity reference from Python code, which already knows the object's name."""

    name: str = ""


def entity_refs(entities: Iterable[Any]) -> list[EntityRef]:
    """References from model instances, ``(kind, id)`` / ``(kind, id, role)`` tuples or
    ``{"type", "id", "role"}`` dicts, as ``audit.log`` accepts them."""
    refs: list[EntityRef] = []
    for item in entities:
        if isinstance(item, EntityRef):  # already resolved (change tracking)
            refs.append(item)
            continue
        if isinstance(item, models.Model):
            kind = registry.for_model(item.__class__)  # a lazy request.user too
            if kind is None:
                raise ValueError(f"{item.__class__.__name__} is not registered with audit.register")
            refs.append(NamedRef(kind, kind.parse_id(item.pk), "", kind.name_of(item)))
            continue
        if isinstance(item, dict):
            kind_name, object_id, role = item["type"], item["id"], item.get("role", "")
        else:
            kind_name, object_id, *rest = item
            role = rest[0] if rest else ""
        kind = registry.get(kind_name)
        if kind is None:
            raise ValueError(f"unknown entity kind {kind_name!r}")
        if isinstance(object_id, models.Model):
            refs.append(NamedRef(kind, kind.parse_id(object_id.pk), role, kind.name_of(object_id)))
        else:
            refs.append(EntityRef(kind, kind.parse_id(object_id), role))
    return refs


# One encoder each, made once: ``json.dumps(..., cls=...)`` builds a new one per call.
# Neither writes NaN or Infinity, which are not JSON: PostgreSQL refuses them, and the
# save or the log call carrying them would fail (``_encode``).
_PARAMS_ENCODER = DjangoJSONEncoder(separators=(",", ":"), allow_nan=False)
_CHANGES_ENCODER = DjangoJSONEncoder(allow_nan=False)

# How a float that no JSON number can hold is recorded: as the text JavaScript writes.
_NOT_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _encode(encoder: DjangoJSONEncoder, value: Any) -> str:
    """``value`` as JSON that PostgreSQL stores: server code must not fail because of
    what it records. A NaN or an infinity (a float field, a computed parameter) is
    written as the text ``NaN``, ``Infinity`` or ``-Infinity``; a lone surrogate (a file
    name decoded with ``surrogateescape``), which PostgreSQL's JSON refuses, as U+FFFD.
    The usual value costs one attempt; a surrogate's escape (an emoji's pair among them)
    costs a walk and a second."""
    try:
        text = encoder.encode(value)
    except ValueError:  # out of range floats, or a circular value (raised again below)
        return encoder.encode(_storable(value, set()))
    if "\\ud" in text:
        return encoder.encode(_storable(value, set()))
    return text


def _storable(value: Any, seen: set[int]) -> Any:
    """``value`` with its non-finite floats as text and its surrogates replaced;
    containers already seen are left as they are, so that a circular value fails in the
    encoder as it did, not here."""
    if isinstance(value, str):
        return storable.storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _NOT_FINITE[repr(value)]
    if isinstance(value, dict | list | tuple):
        if id(value) in seen:
            return value
        seen.add(id(value))
        if isinstance(value, dict):  # a float key is written as text too
            return {_storable(key, seen): _storable(item, seen) for key, item in value.items()}
        return [_storable(item, seen) for item in value]
    return value


def build_event(
    type: str,
    message: str = "",
    params: dict[str, Any] | None = None,
    *,
    entities: Iterable[Any] = (),
    level: str | None = None,
    stack_trace: str | None = None,
    changes: dict[str, Any] | None = None,
) -> ValidEvent:
    """A ``ValidEvent`` from Python arguments; long text is cut to the limits rather
    than refused, since server code should never fail because it logged too much."""
    params = dict(params or {})
    # NUL cannot be stored in PostgreSQL text; server code gets it replaced, not refused.
    params_json = (
        storable.replace_nul(_encode(_PARAMS_ENCODER, params))
        if params
        else "{}"  # most server events, every tracked change: no encoder to set up
    )
    event = ValidEvent(
        type=type,
        message=clean_message(message),
        params=params,
        params_json=params_json,
        level=level,
        stack_trace=storable.storable_text(stack_trace or "")[: config.max_stack_trace_length()],
        entities=entity_refs(entities),
        client_time=None,
        uuid=None,
    )
    if changes is not None:
        event.changes_json = encode_changes(changes)
    return event


def clean_message(message: Any) -> str:
    """A message as it is stored: what PostgreSQL text cannot hold replaced
    (``storable_text``), and cut to ``AUDIT_MAX_MESSAGE_LENGTH``."""
    return storable.storable_text(str(message))[: config.max_message_length()]


# The types a change's values usually have, which msgspec writes as Django's encoder
# would read back: text, whole numbers, booleans, null, and objects and lists of them.
# Floats are not among them (a NaN must become the text "NaN", as ``_encode`` writes it).
_PLAIN = frozenset((str, int, bool, type(None)))
_PLAIN_ENCODER = msgspec.json.Encoder()


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only ``_PLAIN`` values, in dicts keyed by text and lists."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    # Loops rather than ``all()``: a generator costs twice as much, on every save.
    if kind is dict:
        for key, item in value.items():  # noqa: SIM110
            if type(key) is not str or not _plain(item):
                return False
        return True
    if kind is list:
        for item in value:  # noqa: SIM110
            if not _plain(item):
                return False
        return True
    return False


def encode_changes(changes: dict[str, Any]) -> str:
    """A change's fields as a record stores them (Django's encoder: times, decimals and
    UUIDs as text).

    Every tracked save encodes its changes, and Django's encoder costs a tenth of a
    save's audit work; changes of plain values (the usual text and numbers) are written
    by msgspec instead. Its JSON reads back to the same values (it leaves non-ASCII
    letters unescaped, which JSON allows); a lone surrogate, which it refuses, takes
    the general path and its replacement, and so does a circular value, which fails
    there as it always did."""
    try:
        if _plain(changes):
            return _PLAIN_ENCODER.encode(changes).decode()
    except (UnicodeEncodeError, RecursionError):  # a circular value fails as it did below
        pass
    return _encode(_CHANGES_ENCODER, changes)
