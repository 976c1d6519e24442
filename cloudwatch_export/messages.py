"""Rendering stored records as CloudWatch messages, in JSON or one-line text.

JSON is the record exactly as the read API shows it (``audit.api.serializers.
RecordSerializer``, ``id`` included; a test holds the two equal). It is built here from
a handful of set-based queries per batch instead of through the serializer, which
costs a query per record for the entities and runs at about 300 records/s: the
exporter must keep up with ingest (about 10,000 events/s). ``params`` and ``changes``
travel as the database's JSON text, embedded as they are, never decoded and encoded
again; the session's UUID comes as text, and the two times as integers that
``times.ApiTimes`` writes as the read API does, no ``datetime`` per record.

Text is one line that starts with time, type, user and record id, then the level, the
message (newlines escaped), params, entities and changes when present, the session,
and an error's fingerprint and stack trace (newlines escaped).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import msgspec
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

import audit
from audit.models import AuditRecord, EntityLink

from . import times
from .models import MessageFormat
from .queries import BeyondPython, EpochMicros, UuidText, id_list

_CHUNK = 5000
_encoder = msgspec.json.Encoder()
_ONE_LINE = str.maketrans({"\n": "\\n", "\r": "\\r"})
_EMPTY_JSON = {None, "", "{}", "null", "[]"}


@dataclass(slots=True)
class Rendered:
    record_id: int
    timestamp: int  # milliseconds since the epoch: the record's server time
    message: str


@dataclass(slots=True)
class _Record:
    id: int
    type: str
    level: str
    message: str
    params: str  # JSON text, as stored
    user_id: int | None
    session: str
    created_us: int  # microseconds since 1970 (``times``)
    client_us: int | None
    source: str
    changes: str | None  # JSON text or None
    stack_trace: str
    fingerprint: str
    user: str | None = None
    entities: list[dict[str, str]] = field(default_factory=list)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class _Kinds(dict[int, str]):
    """Content type id -> entity kind name, as the read API names it."""

    def __missing__(self, content_type_id: int) -> str:
        kind = audit.kind_for_content_type_id(content_type_id)
        name = (
            kind.kind if kind is not None else ContentType.objects.get_for_id(content_type_id).model
        )
        self[content_type_id] = name
        return name


def _load(record_ids: Sequence[int]) -> dict[int, _Record]:
    """The records that still exist, with user names and entities, by id."""
    found: dict[int, _Record] = {}
    for chunk in _chunks(record_ids):
        rows = (
            AuditRecord.objects.filter(id__in=id_list(chunk))
            .annotate(
                params_text=Cast("params", TextField()),
                changes_text=Cast("changes", TextField()),
                # The session's UUID travels as text, as the read API shows it.
                session_text=UuidText("session__uuid"),
                created_us=EpochMicros("created_at"),
                created_beyond=BeyondPython("created_at"),
                client_us=EpochMicros("client_time"),
                client_beyond=BeyondPython("client_time"),
            )
            .values_list(
                "id",
                "type__name",
                "level",
                "message",
                "params_text",
                "user_id",
                "session_text",
                "created_us",
                "client_us",
                "source",
                "changes_text",
                "stack_trace",
                "fingerprint",
                "created_beyond",
                "client_beyond",
            )
        )
        for *row, created_beyond, client_beyond in rows:
            record = _Record(*row)
            if created_beyond is not None:
                record.created_us = audit.micros(created_beyond)
            if client_beyond is not None:
                record.client_us = audit.micros(client_beyond)
            found[record.id] = record
    _add_users(found)
    _add_entities(found)
    return found


def _add_users(found: dict[int, _Record]) -> None:
    user_model = get_user_model()
    wanted = sorted({r.user_id for r in found.values() if r.user_id is not None})
    names: dict[int, str] = {}
    for chunk in _chunks(wanted):
        names.update(
            user_model._default_manager.filter(pk__in=chunk).values_list(
                "pk", user_model.USERNAME_FIELD
            )
        )
    for record in found.values():
        if record.user_id is not None:
            record.user = names.get(record.user_id, f"deleted user #{record.user_id}")


def _add_entities(found: dict[int, _Record]) -> None:
    kinds = _Kinds()
    for chunk in _chunks(sorted(found)):
        rows = (
            EntityLink.objects.filter(record_id__in=id_list(chunk))
            .order_by("id")
            .values_list("record_id", "content_type_id", "object_id", "role", "name")
        )
        for record_id, content_type_id, object_id, role, name in rows:
            found[record_id].entities.append(
                {"type": kinds[content_type_id], "id": object_id, "role": role, "name": name}
            )


def _raw(text: str | None) -> msgspec.Raw | None:
    return msgspec.Raw(text) if text is not None else None


def as_json(record: _Record, clock: times.ApiTimes) -> str:
    """The read API's JSON of the record, in its field order."""
    return _encoder.encode(
        {
            "id": record.id,
            "type": record.type,
            "level": record.level,
            "message": record.message,
            "params": _raw(record.params),
            "user": record.user,
            "session": record.session,
            "timestamp": clock.text(record.created_us),
            "client_timestamp": clock.text(record.client_us),
            "source": record.source,
            "entities": record.entities,
            "changes": _raw(record.changes),
            "stack_trace": record.stack_trace,
            "fingerprint": record.fingerprint,
        }
    ).decode()


def as_text(record: _Record, clock: times.ApiTimes) -> str:
    parts = [
        clock.text(record.created_us) or "",
        record.type,
        record.user or "-",
        f"#{record.id}",
        f"[{record.level}]",
        record.message.translate(_ONE_LINE),
    ]
    if record.params not in _EMPTY_JSON:
        parts.append("params=" + record.params)
    if record.entities:
        refs = ",".join(f"{link['type']}:{link['id']}" for link in record.entities)
        parts.append("entities=" + refs.translate(_ONE_LINE))
    if record.changes not in _EMPTY_JSON:
        parts.append(f"changes={record.changes}")
    parts.append(f"session={record.session}")
    if record.fingerprint:
        parts.append(f"fingerprint={record.fingerprint}")
    if record.stack_trace:  # last: the batcher cuts an event over 256 KiB from its end
        parts.append("stack_trace=" + record.stack_trace.translate(_ONE_LINE))
    return " ".join(parts)


def render(record_ids: Sequence[int], message_format: str) -> dict[int, Rendered]:
    """The messages of the records that still exist, by record id."""
    to_text = as_text if message_format == MessageFormat.TEXT else as_json
    clock = times.ApiTimes(timezone.get_current_timezone())
    return {
        # PutLogEvents wants milliseconds: rounded down, as batcher.millis does.
        pk: Rendered(pk, record.created_us // 1000, to_text(record, clock))
        for pk, record in _load(record_ids).items()
    }
