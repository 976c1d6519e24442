"""An entity's activity page as fixed statement texts: which records are on the page,
read from the links' indexes.

Why not querysets: the page's statements are the same from request to request but for
their values, and Django builds and compiles a queryset anew each time. For the panel
API's page of 50 records (in process, 200,000 records) that was 2.5 of 4.2 ms, against
0.3 ms to run the page's ids as a fixed text and 1.3 ms for its rows. Written once here,
the texts are bound on the server and prepared (``audit.prepared``) like the rest of the
page's reads. A count is written into the text (``LIMIT 51``) rather than bound: the
planner then knows how few rows the range scan must give, as with the ORM's slicing.

``newest_linked`` and ``newest_typed`` return record ids, newest first, without
repeats: a record that links the entity twice (two roles) is one entry. ``linked_page``
and ``typed_page`` give the same ids as a statement not yet run (``PageIds``): the
page's reader (``selectors.entity_activity_page``'s ``load``) runs it as the first part
of its own statement, so that a page is one round trip, not two (the panel with
``records_sql``, then ``links_sql``; the API with its own, ``api.records``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, models

from .models import AuditRecord, EntityLink

# The columns a page of records needs: what the read API and the activity panel show
# (an error's stack trace included: up to 32 KB, on error records only). Left out: the
# uuid and the request id.
PAGE_FIELDS = (
    "id",
    "type_id",
    "level",
    "message",
    "params",
    "changes",
    "user_id",
    "session_id",
    "created_at",
    "client_time",
    "source",
    "stack_trace",
    "fingerprint",
)
LINK_FIELDS = ("id", "record_id", "content_type_id", "object_id", "role", "name")


def id_array(ids: Iterable[int]) -> str:
    """Record ids as the text of a PostgreSQL array (``{1,2,3}``), for a ``%s::bigint[]``
    parameter: psycopg's list dumper looks at every item to choose the array's type,
    about a microsecond an id (a millisecond for an export's page of a thousand)."""
    return "{" + ",".join(map(str, ids)) + "}"


def column(name: str, model: type[models.Model] = EntityLink) -> str:
    """The database column of ``model``'s field ``name`` (a name or an attname)."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column, name
    return field.column


@cache
def _newest_sql(before: bool, user: bool, count: int) -> str:
    table = EntityLink._meta.db_table
    record = column("record")
    where = [f"{column('content_type')} = %s", f"{column('object_id')} = %s"]
    if before:
        where.append(f"{record} < %s")
    if user:
        where.append(f"{column('user')} = %s")
    return (
        f"SELECT DISTINCT {record} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY {record} DESC LIMIT {count}"
    )


# The head of a page's statement: the ids ``source`` gives, as ``ids.n`` (how many) and
# ``ids.all_ids`` (an array, newest first), which the rest reads with ``unnest``. Why an
# array: the planner cannot see into it, so the rest of the statement is costed the same
# whatever the values. Joined to ``page`` directly, a rare filter's page (an idle user,
# a type the entity never had) looked cheaper planned for its own values than the plan
# kept for every value, and PostgreSQL planned the whole statement again on each
# request: 0.6 ms of an empty page's 0.9 (``tests/test_prepared_statements.py`` checks
# that the kept plan serves). The types' page reads its values through sub-selects for
# the same reason (``_typed_sql``).
PAGE_HEAD = (
    "WITH page(record_id) AS ({source}), ids AS (SELECT count(*) AS n, "
    "array_agg(record_id ORDER BY record_id DESC) AS all_ids FROM page)"
)


@dataclass(frozen=True, slots=True)
class PageIds:
    """The record ids of a page of ``limit``, newest first, at most ``limit + 1`` of them
    (the one past the page says that a next page exists): the statement ``sql`` that
    reads them, not yet run, or ids already read (``known``).

    Why a statement: the page's reader runs it inside its own (``source``), and reading
    the ids apart cost a round trip, a quarter of the API's page in the database."""

    limit: int
    sql: str
    params: tuple[Any, ...] = ()
    known: tuple[int, ...] | None = None

    @classmethod
    def of(cls, ids: Sequence[int], limit: int) -> PageIds:
        """Ids already read (at most ``limit + 1``), as a page's."""
        return cls(limit, "SELECT unnest(%s::bigint[])", (id_array(ids),), tuple(ids))

    def source(self) -> tuple[str, list[Any]]:
        """The ids as a statement of one column, and its parameters, for a reader's
        ``WITH page(record_id) AS (...)`` (PostgreSQL)."""
        return self.sql, list(self.params)

    def cut(self, using: str) -> tuple[list[int], int | None]:
        """The page's ids read (the first ``limit``) and the next page's cursor (the last
        of them, when there were more), for a reader that reads the ids first."""
        ids = list(self.known) if self.known is not None else _ids(using, *self.source())
        if len(ids) > self.limit:
            ids = ids[: self.limit]
            return ids, ids[-1]
        return ids, None


def _linked_params(
    content_type_id: int, object_id: str, before: int | None, user_id: int | None
) -> list[Any]:
    params: list[Any] = [content_type_id, object_id]
    if before is not None:
        params.append(before)
    if user_id is not None:
        params.append(user_id)
    return params


def newest_linked(
    using: str,
    content_type_id: int,
    object_id: str,
    *,
    count: int,
    before: int | None = None,
    user_id: int | None = None,
) -> list[int]:
    """The ``count`` newest records linking the entity, below ``before``, of ``user_id``
    if given (each link keeps its record's user): one ordered range of the index
    ``(content_type, object_id, record DESC)``, or of ``(content_type, object_id, user,
    record DESC)``."""
    params = _linked_params(content_type_id, object_id, before, user_id)
    return _ids(using, _newest_sql(before is not None, user_id is not None, int(count)), params)


def linked_page(
    content_type_id: int,
    object_id: str,
    *,
    limit: int,
    before: int | None = None,
    user_id: int | None = None,
) -> PageIds:
    """``newest_linked``'s ids of a page of ``limit``, as a statement."""
    params = _linked_params(content_type_id, object_id, before, user_id)
    sql = _newest_sql(before is not None, user_id is not None, int(limit) + 1)
    return PageIds(limit, sql, tuple(params))


@cache
def _typed_sql(before: bool, count: int) -> str:
    """The values are read through sub-selects, which the planner cannot see into: the
    range it plans per type would otherwise be costed for this entity, this cursor, and
    the count of types, and that cost, times the types, made a plan for the values at
    hand look cheaper than the kept one (``PAGE_HEAD``)."""
    table = EntityLink._meta.db_table
    record = column("record")
    below = f" AND l.{record} < (SELECT %s::bigint)" if before else ""
    return (
        f"SELECT x.{record} FROM unnest((SELECT %s::bigint[])) AS t(type_id) CROSS JOIN LATERAL ("
        f"SELECT DISTINCT l.{record} FROM {table} l "
        f"WHERE l.{column('content_type')} = (SELECT %s::integer) "
        f"AND l.{column('object_id')} = (SELECT %s::varchar) "
        f"AND l.{column('type')} = t.type_id{below} "
        f"ORDER BY l.{record} DESC LIMIT {count}) AS x "
        f"ORDER BY 1 DESC LIMIT {count}"
    )


def newest_typed(
    using: str,
    content_type_id: int,
    object_id: str,
    type_ids: list[int],
    *,
    count: int,
    before: int | None = None,
) -> list[int]:
    """The ``count`` newest records linking the entity with one of these types (each
    link keeps its record's type), below ``before``, on PostgreSQL: one ordered range
    of the index ``(content_type, object_id, type, record DESC)`` per type, each cut at
    ``count``, merged; one text whatever the number of types. A single ``type IN
    (...)`` would read every link of those types to sort them. A record has one type,
    so the merged ranges repeat no record."""
    params = _typed_params(content_type_id, object_id, type_ids, before)
    return _ids(using, _typed_sql(before is not None, int(count)), params)


def typed_page(
    content_type_id: int,
    object_id: str,
    type_ids: list[int],
    *,
    limit: int,
    before: int | None = None,
) -> PageIds:
    """``newest_typed``'s ids of a page of ``limit``, as a statement (PostgreSQL)."""
    params = _typed_params(content_type_id, object_id, type_ids, before)
    return PageIds(limit, _typed_sql(before is not None, int(limit) + 1), tuple(params))


def _typed_params(
    content_type_id: int, object_id: str, type_ids: list[int], before: int | None
) -> list[Any]:
    params: list[Any] = [type_ids, content_type_id, object_id]
    if before is not None:
        params.append(before)
    return params


def _ids(using: str, sql: str, params: list[Any]) -> list[int]:
    """The record ids ``sql`` answers, in its order."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


@cache
def user_id_sql() -> str:
    """The id of the user with a given username (one parameter), in the project's user
    model: a user filter's first step, one fixed text rather than a queryset compiled
    at every page."""
    user_model = get_user_model()
    users = user_model._meta
    username = column(user_model.USERNAME_FIELD, user_model)
    return f'SELECT "{users.pk.column}" FROM "{users.db_table}" WHERE "{username}" = %s LIMIT 1'


def user_id(using: str, username: str) -> Any:
    """The id of the user called ``username``, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute(user_id_sql(), [username])
        row = cursor.fetchone()
    return row[0] if row else None


def record_joins() -> tuple[str, str]:
    """The joins of a page's records (``r``) to their type (``t``), user (``u``, the
    project's user model) and session (``s``), and the username's column: what the
    panel's text and the API's (``api.records``) share."""
    user_model = get_user_model()
    users = user_model._meta
    joins = (
        " JOIN audit_eventtype t ON t.id = r.type_id"
        f' LEFT JOIN "{users.db_table}" u ON u."{users.pk.column}" = r.user_id'
        " JOIN audit_usersession s ON s.id = r.session_id"
    )
    return joins, column(user_model.USERNAME_FIELD, user_model)


@cache
def records_sql(source: str) -> str:
    """The records whose ids the statement ``source`` gives (``PageIds.source``; its
    parameters are this text's), newest first, with the columns of ``PAGE_FIELDS`` and
    what ``selectors.page_of_records`` annotates: the type's name, the username, the
    session's uuid and user."""
    joins, username = record_joins()
    columns = ", ".join(f"r.{column(name, AuditRecord)}" for name in PAGE_FIELDS)
    return (
        f"{PAGE_HEAD.format(source=source)} "
        f'SELECT {columns}, t.name AS _type_name, u."{username}" AS _username, '
        "s.uuid AS _session_uuid, s.user_id AS _session_user_id "
        "FROM ids CROSS JOIN unnest(ids.all_ids) AS shown(record_id) "
        f"JOIN {AuditRecord._meta.db_table} r ON r.id = shown.record_id{joins} "
        "ORDER BY r.id DESC"
    )


# A link's columns as the panel's page carries them, each an array per record.
PANEL_LINK_FIELDS = ("id", "content_type_id", "object_id", "role", "name")


@cache
def panel_sql(source: str) -> str:
    """``records_sql``'s records with their links in the same statement, for the
    activity panel (``selectors.panel_page``): per record, an array of each of its
    links' ``PANEL_LINK_FIELDS`` in the links' order, from one grouped pass over the
    page's links (NULL for a record without links). The JSON columns as text."""
    joins, username = record_joins()
    json_fields = {"params", "changes"}
    columns = ", ".join(
        f"r.{column(name, AuditRecord)}" + ("::text" if name in json_fields else "")
        for name in PAGE_FIELDS
    )
    order = f"ORDER BY l.{column('id')}"
    arrays = ", ".join(
        f"array_agg(l.{column(name)} {order}) AS link_{name}" for name in PANEL_LINK_FIELDS
    )
    shown = ", ".join(f"e.link_{name}" for name in PANEL_LINK_FIELDS)
    record = column("record")
    return (
        f"{PAGE_HEAD.format(source=source)} "
        f'SELECT {columns}, t.name, u."{username}", s.uuid, s.user_id, {shown} '
        "FROM ids CROSS JOIN unnest(ids.all_ids) AS shown(record_id) "
        f"JOIN {AuditRecord._meta.db_table} r ON r.id = shown.record_id{joins} "
        f"LEFT JOIN (SELECT l.{record} AS record_id, {arrays} "
        f"FROM {EntityLink._meta.db_table} l "
        f"WHERE l.{record} = ANY((SELECT all_ids FROM ids)::bigint[]) GROUP BY l.{record}) e "
        "ON e.record_id = r.id ORDER BY r.id DESC"
    )


@cache
def links_sql() -> str:
    """The links of a list of record ids (one parameter, an array): ``LINK_FIELDS``."""
    return (
        f"SELECT {', '.join(column(name) for name in LINK_FIELDS)} "
        f"FROM {EntityLink._meta.db_table} WHERE {column('record')} = ANY(%s::bigint[])"
    )
