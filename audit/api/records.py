"""Pages of records as the read API shows them, with little Python per record.

Why: the activity API has a budget of 20 ms at p95 (``bench/activity.py``), and a page
of 50 records spent most of it in Python: a model instance per record and per link, a
second query for the links, JSON columns decoded only to be encoded again. On
PostgreSQL one query now returns, per record, its plain values, its JSON columns as
text and its entities already built as JSON by the database; msgspec writes the
response around those texts (``msgspec.Raw``) without decoding them. Elsewhere (SQLite)
the same fields come from ``selectors.page_of_records``. Either way the output equals
``RecordSerializer``'s, field for field (``tests/test_activity_api.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import F, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import serializers as drf_serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .. import page_sql, registry, selectors
from ..models import AuditRecord
from ..prepared import prepared_reads
from . import serializers


@dataclass(slots=True)
class ApiRecord:
    """A record ready to encode: ``pk`` for the page's cursor, ``data`` for the body."""

    pk: int
    data: dict[str, Any]


_TIME = drf_serializers.DateTimeField()
_encoder = msgspec.json.Encoder()

# A record's entities as the API lists them, built by PostgreSQL: the registered kind
# name for the content type (from the parameter), else the model name, as
# ``serializers._kind_name`` does.
_ENTITIES_SQL = """
SELECT COALESCE(json_agg(json_build_object(
    'type', COALESCE(%s::jsonb ->> l.content_type_id::text, ct.model),
    'id', l.object_id, 'role', l.role, 'name', l.name
) ORDER BY l.id), '[]'::json)::text
FROM audit_entitylink l JOIN django_content_type ct ON ct.id = l.content_type_id
WHERE l.record_id = audit_auditrecord.id
"""


def page_rows(queryset: QuerySet[AuditRecord], limit: int | None = None) -> list[ApiRecord]:
    """The records of ``queryset`` (ordered; the first ``limit``) as the API shows them:
    one query on PostgreSQL, two elsewhere."""
    if connections[queryset.db].vendor != "postgresql":
        return _from_models(selectors.page_of_records(queryset, limit))
    username = get_user_model().USERNAME_FIELD
    rows = queryset.annotate(
        _type_name=F("type__name"),
        _username=F(f"user__{username}"),
        _session_uuid=F("session__uuid"),
        _params=Cast("params", TextField()),
        _changes=Cast("changes", TextField()),
        _entities=RawSQL(_ENTITIES_SQL, [_kinds()], output_field=TextField()),
    ).values_list(
        "id",
        "_type_name",
        "level",
        "message",
        "_params",
        "user_id",
        "_username",
        "_session_uuid",
        "created_at",
        "client_time",
        "source",
        "_entities",
        "_changes",
        "stack_trace",
        "fingerprint",
    )
    with prepared_reads(queryset.db):  # each page of an export repeats it
        fetched = list(rows if limit is None else rows[:limit])
    return _from_rows(fetched)


def rows_by_ids(using: str, ids: list[int]) -> list[ApiRecord]:
    """The records with these ids, newest first, as the API shows them (the entity's
    page: ``selectors.entity_activity_page``'s ``load``). On PostgreSQL one fixed text
    (``_rows_sql``), bound on the server and prepared: compiling ``page_rows``'s
    queryset took longer than running it (``audit.page_sql`` says why)."""
    if not ids:
        return []
    if connections[using].vendor != "postgresql":
        return page_rows(AuditRecord.objects.using(using).filter(pk__in=ids).order_by("-id"))
    with prepared_reads(using), connections[using].cursor() as cursor:
        cursor.execute(_rows_sql(), [_kinds(), ids])
        return _from_rows(cursor.fetchall())


@cache
def _rows_sql() -> str:
    """``page_rows``'s statement for a list of ids, as a text (PostgreSQL)."""
    user_model = get_user_model()
    users = user_model._meta
    username = page_sql.column(user_model.USERNAME_FIELD, user_model)
    return f"""
SELECT audit_auditrecord.id, t.name, audit_auditrecord.level, audit_auditrecord.message,
    audit_auditrecord.params::text, audit_auditrecord.user_id, u."{username}", s.uuid,
    audit_auditrecord.created_at, audit_auditrecord.client_time, audit_auditrecord.source,
    ({_ENTITIES_SQL}), audit_auditrecord.changes::text, audit_auditrecord.stack_trace,
    audit_auditrecord.fingerprint
FROM audit_auditrecord
JOIN audit_eventtype t ON t.id = audit_auditrecord.type_id
LEFT JOIN "{users.db_table}" u ON u."{users.pk.column}" = audit_auditrecord.user_id
JOIN audit_usersession s ON s.id = audit_auditrecord.session_id
WHERE audit_auditrecord.id = ANY(%s::bigint[])
ORDER BY audit_auditrecord.id DESC
"""


def _kinds() -> str:
    """The registered kinds' names by content type id, the parameter of
    ``_ENTITIES_SQL``."""
    entries = [registry.get(name) for name in registry.kinds()]
    return _encoder.encode(
        {str(e.content_type.pk): e.kind for e in entries if e is not None}
    ).decode()


def _from_models(records: list[AuditRecord]) -> list[ApiRecord]:
    return [ApiRecord(r.pk, data) for r, data in zip(records, record_data(records), strict=True)]


def _from_rows(fetched: list[Any]) -> list[ApiRecord]:
    """Rows of ``page_rows``'s columns, ready to encode."""
    local = _needs_local_time()
    page = []
    for row in fetched:
        (pk, type_name, level, message, params, user_id, user_name, session_uuid) = row[:8]
        created_at, client_time, source, entities, changes, stack_trace, fingerprint = row[8:]
        if local:
            created_at = timezone.localtime(created_at)
            client_time = timezone.localtime(client_time) if client_time else None
        page.append(
            ApiRecord(
                pk,
                {
                    "id": pk,
                    "type": type_name,
                    "level": level,
                    "message": message,
                    "params": msgspec.Raw(params),
                    "user": _user(user_id, user_name),
                    "session": session_uuid,
                    "timestamp": created_at,
                    "client_timestamp": client_time,
                    "source": source,
                    "entities": msgspec.Raw(entities),
                    "changes": None if changes is None else msgspec.Raw(changes),
                    "stack_trace": stack_trace,
                    "fingerprint": fingerprint,
                },
            )
        )
    return page


def _needs_local_time() -> bool:
    """DRF shows times in the current time zone; the database hands them over in UTC."""
    return timezone.get_current_timezone_name() not in ("UTC", "Etc/UTC")


def _user(user_id: int | None, name: str | None) -> str | None:
    if user_id is None:
        return None
    return name if name is not None else f"deleted user #{user_id}"


def record_data(records: list[AuditRecord]) -> list[dict[str, Any]]:
    """``RecordSerializer(records, many=True).data``, field for field, five times faster.

    Why: DRF builds and walks a field tree per record. The values come from the same
    code (the serializer's own ``get_user``/``get_entities`` and DRF's datetime field).
    """
    shape = serializers.RecordSerializer()
    return [
        {
            "id": record.pk,
            "type": record.type.name,
            "level": record.level,
            "message": record.message,
            "params": record.params,
            "user": shape.get_user(record),
            "session": str(record.session.uuid),
            "timestamp": _TIME.to_representation(record.created_at),
            "client_timestamp": (
                _TIME.to_representation(record.client_time) if record.client_time else None
            ),
            "source": record.source,
            "entities": shape.get_entities(record),
            "changes": record.changes,
            "stack_trace": record.stack_trace,
            "fingerprint": record.fingerprint,
        }
        for record in records
    ]


def page_response(request: Request, next_url: str | None, records: list[ApiRecord]) -> HttpResponse:
    """The page as JSON, encoded once; the browsable API gets the same data decoded."""
    body = _encoder.encode({"next": next_url, "results": [record.data for record in records]})
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is not None and renderer.format != "json":
        return Response(msgspec.json.decode(body))
    return HttpResponse(body, content_type="application/json")
