"""Writing prepared records to the database in bulk.

PostgreSQL gets one call for the whole batch: the function ``audit_insert_records``
runs ``INSERT ... SELECT FROM jsonb_populate_recordset(...) ON CONFLICT DO NOTHING`` for
the records and inserts the entity links in the same statement: one round trip,
whatever the batch size. Other databases go through ``bulk_create``.

Idempotency rests on the unique ``uuid`` column. On PostgreSQL ``ON CONFLICT`` makes
two racing retries of one event store it once. Through the ORM the stored uuids are
looked up first and the rest inserted: on SQLite (``transaction_mode = IMMEDIATE``)
writers are serialized, so the lookup and the insert cannot interleave with another
writer's; on a database without that, two racing retries would make one batch fail on
the unique index (the client resends it), never store a duplicate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from django.db import connection

from . import sql
from .models import AuditRecord, EntityLink


@dataclass(slots=True)
class LinkRow:
    content_type_id: int
    object_id: str
    role: str
    name: str


@dataclass(slots=True)
class RecordRow:
    """A record ready to insert; ``id`` is set once stored."""

    uuid: uuid.UUID
    type_id: int
    type_name: str
    level: str
    message: str
    params_json: str
    changes_json: str | None
    stack_trace: str
    fingerprint: str
    user_id: int | None
    session_id: int
    created_at: datetime
    client_time: datetime | None
    source: str
    request_id: str
    links: list[LinkRow] = field(default_factory=list)
    id: int | None = None
    client_uuid: bool = False  # the uuid came from the client: it may be a retry


# A record as the signal ``records_stored`` hands it to receivers.
StoredRecord = RecordRow

# The whole batch travels as two JSON documents, records and links, that the PL/pgSQL
# function ``audit_insert_records`` (``audit.sql``) unpacks into rows of the tables' own
# types: msgspec encodes them in C, the server parses them in C, and the function's
# plans are kept, so a batch of any size costs one round trip and no planning. Links are
# joined to their records by uuid.
_CALL = "SELECT record_id, record_uuid FROM " + sql.call(
    "audit_insert_records", sql.INSERT_RECORDS_ARGS
)
_TRACKED_CALL = sql.call("audit_insert_record", sql.INSERT_RECORD_ARGS)

_encoder = msgspec.json.Encoder()


def tracked_calls(rows: list[RecordRow]) -> tuple[str, list[Any]]:
    """Rows of change tracking (server uuids, no stack trace, no client time) as calls
    of ``audit_insert_record`` (``audit.sql``, arguments in ``INSERT_RECORD_ARGS``
    order), to put in a SELECT list: the tracked save's own statement decides whether
    they run (``audit.tracking``)."""
    params: list[Any] = []
    for row in rows:
        params += [
            row.uuid, row.type_id, row.level, row.message, row.params_json,
            row.changes_json, row.user_id, row.session_id, row.created_at, row.source,
            row.request_id, _link_document(row),
        ]  # fmt: skip
    return ", ".join([_TRACKED_CALL] * len(rows)), params


def _link_document(row: RecordRow) -> str:
    return _encoder.encode([_link_fields(link) for link in row.links]).decode()


def _link_fields(link: LinkRow) -> dict[str, Any]:
    return {
        "content_type_id": link.content_type_id,
        "object_id": link.object_id,
        "role": link.role,
        "name": link.name,
    }


def newest_time() -> datetime | None:
    """The time of the newest record stored (by id, which is the order of storage)."""
    return AuditRecord.objects.order_by("-id").values_list("created_at", flat=True).first()


def insert(rows: list[RecordRow]) -> list[RecordRow]:
    """Store ``rows``; returns those that were new (with ``id`` set), in input order.

    Rows whose uuid is already stored are left out of the result: they are duplicates.
    Must run inside a transaction.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _insert_postgresql(rows)
    return _insert_orm(rows)


def _documents(rows: list[RecordRow]) -> tuple[str, str]:
    records = _encoder.encode(
        [
            {
                "uuid": row.uuid,
                "type_id": row.type_id,
                "level": row.level,
                "message": row.message,
                "params": msgspec.Raw(row.params_json),
                "changes": msgspec.Raw(row.changes_json) if row.changes_json else None,
                "stack_trace": row.stack_trace,
                "fingerprint": row.fingerprint,
                "user_id": row.user_id,
                "session_id": row.session_id,
                "created_at": row.created_at,
                "client_time": row.client_time,
                "source": row.source,
                "request_id": row.request_id,
            }
            for row in rows
        ]
    )
    links = _encoder.encode(
        [
            {"record_uuid": row.uuid, **_link_fields(link), "position": position}
            for position, (row, link) in enumerate(
                (row, link) for row in rows for link in row.links
            )
        ]
    )
    return records.decode(), links.decode()


def _insert_postgresql(rows: list[RecordRow]) -> list[RecordRow]:
    connection.ensure_connection()
    records, links = _documents(rows)
    # Django's cursors bind parameters client-side, quoting them into the SQL text; a
    # plain psycopg cursor on the same connection (and transaction) sends them apart.
    # Its errors become Django's, as a Django cursor's do: callers catch those (a drain
    # that stores a refused batch apart, a request answered 503 while the database is
    # away).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_CALL, [records, links])
        ids = {record_uuid: pk for pk, record_uuid in cursor.fetchall()}
    stored = []
    for row in rows:
        pk = ids.get(row.uuid)
        if pk is not None:
            row.id = pk
            stored.append(row)
    return stored


def _insert_orm(rows: list[RecordRow]) -> list[RecordRow]:
    import json

    given = [row.uuid for row in rows if row.client_uuid]
    existing = (
        set(AuditRecord.objects.filter(uuid__in=given).values_list("uuid", flat=True))
        if given
        else set()
    )
    fresh = [row for row in rows if row.uuid not in existing]
    objects = [
        AuditRecord(
            uuid=row.uuid,
            type_id=row.type_id,
            level=row.level,
            message=row.message,
            params=json.loads(row.params_json),
            changes=json.loads(row.changes_json) if row.changes_json else None,
            stack_trace=row.stack_trace,
            fingerprint=row.fingerprint,
            user_id=row.user_id,
            session_id=row.session_id,
            created_at=row.created_at,
            client_time=row.client_time,
            source=row.source,
            request_id=row.request_id,
        )
        for row in fresh
    ]
    AuditRecord.objects.bulk_create(objects)
    links: list[EntityLink] = []
    for row, obj in zip(fresh, objects, strict=True):
        row.id = obj.pk
        links.extend(
            EntityLink(
                record_id=obj.pk,
                content_type_id=link.content_type_id,
                object_id=link.object_id,
                role=link.role,
                name=link.name,
                created_at=row.created_at,
                type_id=row.type_id,
                user_id=row.user_id,
            )
            for link in row.links
        )
    EntityLink.objects.bulk_create(links)
    return fresh
