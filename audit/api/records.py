"""Pages of records as the read API shows them, with little Python per record.

Why: the activity API has a budget of 20 ms at p95 (``bench/activity.py``), and a page
of 50 records spent most of it in Python: a model instance per record and per link, a
second query for the links, JSON columns decoded only to be encoded again. On
PostgreSQL a page's records come with their JSON columns as text, and their entities
already built as JSON by the database, in one grouped pass over the page's links;
msgspec writes the response around those texts (``msgspec.Raw``) without decoding
them. An entity's page goes further: one statement, in which the database writes the
whole array of records (``entity_page``).
Elsewhere (SQLite) the same fields come from ``selectors.page_of_records``. Either way
the output equals ``RecordSerializer``'s, field for field
(``tests/test_activity_api.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import serializers as drf_serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .. import page_sql, registry, selectors, staged, time_loader
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


def _page_entities_sql(ids: str) -> str:
    """The entities of the records whose ids the array ``ids`` holds, as the API lists
    them, built by PostgreSQL and read in one pass: a row ``e`` per record that has any
    (``e.record_id``, ``e.entities``, a JSON array in link order). An entity's type is
    its registered kind's name (from the parameter, ``_kinds``), else the model's name,
    as ``serializers._kind_name`` does. A sub-select per record would be a sub-plan that
    PostgreSQL resets and runs again for every record, its join to the content types
    included: on a page of 50 that was most of the entities' cost, about four times
    this."""
    return f"""(
SELECT l.record_id, json_agg(json_build_object(
    'type', COALESCE((SELECT %s::jsonb) ->> l.content_type_id::text, ct.model),
    'id', l.object_id, 'role', l.role, 'name', l.name
) ORDER BY l.id) AS entities
FROM audit_entitylink l JOIN django_content_type ct ON ct.id = l.content_type_id
WHERE l.record_id = ANY({ids})
GROUP BY l.record_id
) AS e"""


# ``_entities_of``'s statement: ``_page_entities_sql`` over an array parameter.
_ENTITIES_OF = f"""
SELECT e.record_id, e.entities::text
FROM {_page_entities_sql("%s::bigint[]")}
"""


def page_rows(queryset: QuerySet[AuditRecord], limit: int | None = None) -> list[ApiRecord]:
    """The records of ``queryset`` (ordered; the first ``limit``) as the API shows them:
    two queries on either database.

    On PostgreSQL the first reads the records' columns, their JSON as text; the second
    the entities of all of them at once, already written as JSON (``_entities_of``), as
    the entity pages read theirs. As a sub-select in the first, the entities were a
    sub-plan that PostgreSQL reset and ran again for every record of the page (on the
    export's pages of a thousand, one pass measured the same to 0.45 ms less)."""
    if connections[queryset.db].vendor != "postgresql":
        return _from_models(selectors.page_of_records(queryset, limit))
    username = get_user_model().USERNAME_FIELD
    rows = queryset.annotate(
        _type_name=F("type__name"),
        _username=F(f"user__{username}"),
        _session_uuid=F("session__uuid"),
        _params=Cast("params", TextField()),
        _changes=Cast("changes", TextField()),
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
        "_changes",
        "stack_trace",
        "fingerprint",
    )
    with prepared_reads(queryset.db):  # each page of an export repeats them
        fetched = list(rows if limit is None else rows[:limit])
        entities = _entities_of(queryset.db, [row[0] for row in fetched])
    at = _ENTITIES_COLUMN
    return _from_rows([(*row[:at], entities.get(row[0], "[]"), *row[at:]) for row in fetched])


# Where ``_from_rows`` reads a row's entities: after its source, before its changes.
_ENTITIES_COLUMN = 11


def _entities_of(using: str, ids: list[int]) -> dict[int, str]:
    """The entities of the records ``ids``, by record id, as JSON text (PostgreSQL):
    one grouped pass over their links; a record without any is left out."""
    if not ids:
        return {}
    with connections[using].cursor() as db:
        db.execute(_ENTITIES_OF, [_kinds(), page_sql.id_array(ids)])
        return dict(db.fetchall())


def entity_page(using: str, ids: page_sql.PageIds) -> selectors.ActivityPage:
    """An entity's page as the API shows it (``selectors.entity_activity_page``'s
    ``load``), its records already encoded: a JSON array (``msgspec.Raw``).

    On PostgreSQL one fixed text reads the page's ids, its records and their entities
    and writes the array itself (``_page_sql``): the rows, read and decoded only to be
    encoded again, were half of the page's time in the database, the datetimes read
    through Django's loader written in Python, and the ids a round trip of their own.
    Compiling a queryset instead took longer than running it (``audit.page_sql``). A
    reader in another time zone than UTC, or a project without ``USE_TZ``, gets its
    times from Python (``_rows_sql``)."""
    if connections[using].vendor != "postgresql":
        shown, after = ids.cut(using)
        if not shown:
            return selectors.ActivityPage(_encoded([]), None)
        rows = page_rows(AuditRecord.objects.using(using).filter(pk__in=shown).order_by("-id"))
        return selectors.ActivityPage(_encoded(rows), after)
    source, params = ids.source()
    with prepared_reads(using), connections[using].cursor() as db:
        if not _in_utc():
            staged.settle()
            db.execute(_rows_sql(source), [*params, _kinds()])
            page = selectors.cut(_from_rows(db.fetchall()), ids.limit)
            return page._replace(records=_encoded(page.records))
        # Whether a change is staged is asked in the page's own statement: when one is,
        # it is stored and the page read again; when none is, no round trip was spent.
        check = staged.checks_in_statement()
        sql = _page_sql(source, int(ids.limit), check)
        db.execute(sql, [*params, _kinds()])
        count, last, results, newest = db.fetchone()
        if check and staged.settle_upto(newest):
            db.execute(sql, [*params, _kinds()])
            count, last, results, newest = db.fetchone()
    return selectors.ActivityPage(msgspec.Raw(results), last if count > ids.limit else None)


def _encoded(rows: list[ApiRecord]) -> msgspec.Raw:
    return msgspec.Raw(_encoder.encode([row.data for row in rows]))


@cache
def _rows_sql(source: str) -> str:
    """``page_rows``'s columns for the records whose ids ``source`` gives (PostgreSQL;
    ``page_sql.PageIds.source``)."""
    joins, username = page_sql.record_joins()
    return f"""
{page_sql.PAGE_HEAD.format(source=source)}
SELECT r.id, t.name, r.level, r.message, r.params::text, r.user_id, u."{username}", s.uuid,
    r.created_at, r.client_time, r.source, COALESCE(e.entities, '[]'::json)::text,
    r.changes::text, r.stack_trace, r.fingerprint
FROM ids CROSS JOIN unnest(ids.all_ids) AS shown(record_id)
JOIN audit_auditrecord r ON r.id = shown.record_id{joins}
LEFT JOIN {_page_entities_sql("(SELECT all_ids FROM ids)::bigint[]")} ON e.record_id = r.id
ORDER BY r.id DESC
"""


@cache
def _page_sql(source: str, limit: int, check_staged: bool) -> str:
    """An entity's page of ``limit`` records whose ids ``source`` gives (at most one
    more: ``page_sql.PageIds``), as one row: how many ids it gave, the last id shown
    when there were more than ``limit``, the records as the API's JSON array, field
    for field ``_from_rows``'s, times in UTC as DRF writes them (PostgreSQL), and with
    ``check_staged`` the newest staged change (``staged.NEWEST_STAGED``). Each record
    is a row whose columns are named as the API's fields, written by ``json_agg``."""
    joins, username = page_sql.record_joins()
    return f"""
{page_sql.PAGE_HEAD.format(source=source)}
SELECT ids.n, ids.all_ids[{limit}],
    COALESCE((SELECT json_agg(doc ORDER BY doc.id DESC) FROM (
        SELECT r.id AS id, t.name AS type, r.level AS level, r.message AS message,
            r.params AS params,
            CASE WHEN r.user_id IS NOT NULL
                THEN COALESCE(u."{username}", 'deleted user #' || r.user_id) END AS "user",
            s.uuid AS session, {_utc_text("r.created_at")} AS timestamp,
            {_utc_text("r.client_time")} AS client_timestamp, r.source AS source,
            COALESCE(e.entities, '[]'::json) AS entities, r.changes AS changes,
            r.stack_trace AS stack_trace, r.fingerprint AS fingerprint
        FROM unnest(ids.all_ids[1:{limit}]) AS shown(record_id)
        JOIN audit_auditrecord r ON r.id = shown.record_id{joins}
        LEFT JOIN {_page_entities_sql(f"ids.all_ids[1:{limit}]")} ON e.record_id = r.id
    ) AS doc), '[]')::text,
    {staged.NEWEST_STAGED if check_staged else "NULL::bigint"}
FROM ids
"""


def _utc_text(column: str) -> str:
    """``column`` (a time) as DRF writes it in UTC (``2026-01-02T03:04:05.678900Z``, the
    fraction left out when it is zero), or NULL. A time Python cannot hold is written as
    ``audit.time_loader`` loads it: the day inside the end it passed (``-infinity``,
    whose text starts with neither "0" nor a year, as the last day)."""
    iso = (
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE to_char({column}, 'US') WHEN '000000' THEN '' "
        f"ELSE '.' || to_char({column}, 'US') END || 'Z'"
    )
    first, last = time_loader.EARLIEST, time_loader.LATEST
    return (
        f"CASE WHEN {column} BETWEEN '0001-01-01 00:00:00+00' "
        f"AND '9999-12-31 23:59:59.999999+00' THEN {iso} "
        f"WHEN {column} < '0001-01-01 00:00:00+00' AND {column} <> '-infinity' "
        f"THEN '{_drf_time(first)}' WHEN {column} IS NOT NULL THEN '{_drf_time(last)}' END"
    )


def _drf_time(moment: datetime) -> str:
    return _TIME.to_representation(moment)


def _kinds() -> str:
    """The registered kinds' names by content type id, the parameter of
    ``_page_entities_sql``."""
    entries = [registry.get(name) for name in registry.kinds()]
    return _encoder.encode(
        {str(e.content_type_id): e.kind for e in entries if e is not None}
    ).decode()


def _from_models(records: list[AuditRecord]) -> list[ApiRecord]:
    return [ApiRecord(r.pk, data) for r, data in zip(records, record_data(records), strict=True)]


def _from_rows(fetched: list[Any]) -> list[ApiRecord]:
    """Rows of ``page_rows``'s columns, ready to encode."""
    local = settings.USE_TZ and not _in_utc()
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


def _in_utc() -> bool:
    """Whether DRF writes this request's times in UTC (``...Z``), as the database hands
    them over and as ``_page_sql`` writes them: time zones on, and UTC the current one.
    Otherwise they come from Python: in the current zone, or naive without ``USE_TZ``."""
    return settings.USE_TZ and timezone.get_current_timezone_name() in ("UTC", "Etc/UTC")


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


def page_response(request: Request, next_url: str | None, results: msgspec.Raw) -> HttpResponse:
    """The page as JSON around its encoded results; the browsable API gets the same
    data decoded."""
    body = _encoder.encode({"next": next_url, "results": results})
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is not None and renderer.format != "json":
        return Response(msgspec.json.decode(body))
    return HttpResponse(body, content_type="application/json")
