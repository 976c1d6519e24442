"""Writing prepared records to the database in bulk.

PostgreSQL gets one ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING``
for the records and one for their entity links, sent with server-side binding through
psycopg: a round trip per table, whatever the batch size. Other databases go through
``bulk_create``. Either way idempotency rests on the unique ``uuid`` column, so a
retried event is stored once even when two retries race.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

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


# A record as the signal ``records_stored`` hands it to receivers.
StoredRecord = RecordRow

_INSERT_RECORDS = """
INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, changes, stack_trace,
    fingerprint, user_id, session_id, created_at, client_time, source, request_id)
SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::varchar[], %s::text[], %s::jsonb[],
    %s::jsonb[], %s::text[], %s::varchar[], %s::integer[], %s::bigint[], %s::timestamptz[],
    %s::timestamptz[], %s::varchar[], %s::varchar[])
ON CONFLICT (uuid) DO NOTHING
RETURNING id, uuid
"""

_INSERT_LINKS = """
INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name, created_at)
SELECT * FROM unnest(%s::bigint[], %s::integer[], %s::varchar[], %s::varchar[],
    %s::varchar[], %s::timestamptz[])
"""


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


def _insert_postgresql(rows: list[RecordRow]) -> list[RecordRow]:
    connection.ensure_connection()
    raw = connection.connection
    columns: list[list[Any]] = [[] for _ in range(14)]
    for row in rows:
        for column, value in zip(
            columns,
            (
                row.uuid,
                row.type_id,
                row.level,
                row.message,
                row.params_json,
                row.changes_json,
                row.stack_trace,
                row.fingerprint,
                row.user_id,
                row.session_id,
                row.created_at,
                row.client_time,
                row.source,
                row.request_id,
            ),
            strict=True,
        ):
            column.append(value)
    with raw.cursor() as cursor:
        cursor.execute(_INSERT_RECORDS, columns)
        ids = {record_uuid: pk for pk, record_uuid in cursor.fetchall()}
        stored = []
        for row in rows:
            pk = ids.get(row.uuid)
            if pk is not None:
                row.id = pk
                stored.append(row)
        link_columns: list[list[Any]] = [[] for _ in range(6)]
        for row in stored:
            for link in row.links:
                link_columns[0].append(row.id)
                link_columns[1].append(link.content_type_id)
                link_columns[2].append(link.object_id)
                link_columns[3].append(link.role)
                link_columns[4].append(link.name)
                link_columns[5].append(row.created_at)
        if link_columns[0]:
            cursor.execute(_INSERT_LINKS, link_columns)
    return stored


def _insert_orm(rows: list[RecordRow]) -> list[RecordRow]:
    import json

    existing = set(
        AuditRecord.objects.filter(uuid__in=[row.uuid for row in rows]).values_list(
            "uuid", flat=True
        )
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
    links = []
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
            )
            for link in row.links
        )
    EntityLink.objects.bulk_create(links)
    return fresh
