"""Read-side queries: what a user may see, and records with what a page needs.

Staff read every record. Other users read their own records and, through an entity
filter, the activity of the entities they may view; nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, router
from django.db.models import Count, F, Min, Prefetch, QuerySet
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.db.models.sql import Query
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import event_types, page_sql, registry, shared_cache, staged
from .models import AuditRecord, EntityLink, EventType, UserSession
from .prepared import prepared_reads

_Model = TypeVar("_Model", bound=models.Model)


def with_related(queryset: QuerySet[AuditRecord]) -> QuerySet[AuditRecord]:
    """Everything the record serializer touches, in a fixed number of queries."""
    return queryset.select_related("type", "user", "session").prefetch_related(
        Prefetch("links", queryset=EntityLink.objects.order_by("id"))
    )


def visible_records(user: Any) -> QuerySet[AuditRecord]:
    """The records ``user`` may read. The queryset settles staged changes when it is
    evaluated (``models.SettledQuerySet``); ``page_of_records``, which runs its SQL
    itself, settles them first."""
    queryset = AuditRecord.objects.all()
    if user.is_staff:
        return queryset
    return queryset.filter(user_id=user.pk)


def visible_sessions(user: Any) -> QuerySet[UserSession]:
    queryset = UserSession.objects.select_related("user")
    if user.is_staff:
        return queryset
    return queryset.filter(user_id=user.pk)


def can_view_user_activity(viewer: Any, username: str) -> bool:
    """A person's activity page (``/activity/users/NAME/``) is theirs and staff's."""
    if not getattr(viewer, "is_authenticated", False):
        return False
    return bool(viewer.is_staff) or viewer.get_username() == username


def can_view_session(viewer: Any, session: UserSession) -> bool:
    """A session's timeline is its user's and staff's (``visible_sessions``)."""
    if not getattr(viewer, "is_authenticated", False):
        return False
    return bool(viewer.is_staff) or (session.user_id is not None and session.user_id == viewer.pk)


def can_view_entity(user: Any, kind: registry.EntityKind, object_id: str) -> bool:
    if user.is_staff:
        return True
    return kind.visible_to(user).filter(pk=object_id).exists()


def page_of_records(queryset: QuerySet[AuditRecord], limit: int | None = None) -> list[AuditRecord]:
    """The records of ``queryset`` (ordered; the first ``limit``) with ``type``, ``user``,
    ``session`` and ``links`` attached, as ``with_related`` gives them, but lean.

    Why not ``select_related`` + ``prefetch_related``: on a page of 50 records the
    database work is under a millisecond, and the time goes into Python: full rows of
    three related tables, a model instance of each per record, and prefetch filtering
    per record. Here the records come with the type's name, the username and the
    session's uuid as annotations (one query), each distinct type, user and session
    becomes one instance (its other fields deferred, loaded if ever touched), and the
    links arrive in a second query, attached as the prefetch cache. ``record.type.name``,
    ``record.user``, ``record.session.uuid`` (and ``.user_id``) and ``record.links.all()``
    read as usual. The instances are built from the rows (``models_of``). Both
    statements run prepared (``audit.prepared``): every page of a user's activity or a
    session's timeline repeats them. The statements are run here, not by the queryset, so
    staged changes are settled here first (deferred tracking: one query when none is).
    """
    with prepared_reads(queryset.db):
        return _page_of_records(queryset, limit)


def _page_of_records(queryset: QuerySet[AuditRecord], limit: int | None) -> list[AuditRecord]:
    username_field = get_user_model().USERNAME_FIELD
    # The related rows come as annotations and the links by a statement of their own:
    # a caller's select_related or prefetch_related would only read them again.
    plain = queryset.select_related(None).prefetch_related(None)
    rows = plain.only(*page_sql.PAGE_FIELDS).annotate(
        _type_name=F("type__name"),
        _username=F(f"user__{username_field}"),
        _session_uuid=F("session__uuid"),
        _session_user_id=F("session__user_id"),  # whether the reader may open its timeline
    )
    using = queryset.db
    try:
        sql, params = (rows if limit is None else rows[:limit]).query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (``none()``, ``__in=[]``)
        return []
    staged.settle()
    annotated = models_of(AuditRecord, using, sql, params, _annotation_fields())
    return _attach(annotated, using, _links_reader(using))


def _annotation_fields() -> dict[str, models.Field[Any, Any]]:
    """The fields of what a page's records carry beside their own columns."""
    user_model = get_user_model()
    return {
        "_type_name": EventType._meta.get_field("name"),
        "_username": _concrete(user_model._meta.get_field(user_model.USERNAME_FIELD)),
        "_session_uuid": UserSession._meta.get_field("uuid"),
        "_session_user_id": UserSession._meta.get_field("user"),
    }


def _concrete(field: Any) -> models.Field[Any, Any]:
    assert isinstance(field, models.Field), field
    return field


def _links_reader(using: str) -> Callable[[list[int]], list[EntityLink]]:
    """What reads the links of a list of record ids on ``using``: one fixed text on
    PostgreSQL (an array parameter), a compiled queryset elsewhere."""
    if connections[using].vendor == "postgresql":
        return lambda ids: models_of(
            EntityLink, using, page_sql.links_sql(), [page_sql.id_array(ids)]
        )
    links = EntityLink.objects.using(using).only(*page_sql.LINK_FIELDS)

    def read(ids: list[int]) -> list[EntityLink]:
        sql, params = links.filter(record_id__in=ids).query.sql_with_params()
        return models_of(EntityLink, using, sql, params)

    return read


def _attach(
    annotated: list[Any], db: str, links_of: Callable[[list[int]], Iterable[EntityLink]]
) -> list[AuditRecord]:
    """``annotated`` (records with ``_type_name``, ``_username``, ``_session_uuid`` and
    ``_session_user_id``) with their type, user, session and links attached as
    ``select_related`` and ``prefetch_related`` would leave them; ``links_of`` reads
    the links of a list of record ids."""
    records: list[AuditRecord] = []  # the same records, as the plain models callers get
    if not annotated:
        return records
    related = _Related(db)
    links: dict[int, list[EntityLink]] = {}
    for record in annotated:
        records.append(record)
        links[record.pk] = []
        cache = record._state.fields_cache
        cache["type"] = related.type(record.type_id, record._type_name)
        cache["user"] = related.user(record.user_id, record._username)
        cache["session"] = related.session(
            record.session_id, record._session_uuid, record._session_user_id
        )
    for link in links_of(list(links)):
        links[link.record_id].append(link)
    for page_record in records:
        # Where prefetch_related leaves what it fetched: a private attribute of Django's
        # that the stubs do not declare.
        page_record._prefetched_objects_cache = {  # type: ignore[attr-defined]
            "links": sorted(links[page_record.pk], key=_by_id)
        }
    return records


class _Related:
    """The type, user and session of a page's records, one instance each however many
    records share it (their other fields deferred): what ``_attach`` and ``panel_page``
    give each record."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.username_field = get_user_model().USERNAME_FIELD
        self._types: dict[int, EventType] = {}
        self._users: dict[Any, Any] = {}
        self._sessions: dict[int, UserSession] = {}

    def type(self, type_id: int, name: str) -> EventType:
        found = self._types.get(type_id)
        if found is None:
            found = self._types[type_id] = _instance(
                EventType, self.using, ["id", "name"], [type_id, name]
            )
        return found

    def user(self, user_id: Any, username: str | None) -> Any:
        """None for no user, or for a user deleted since (``actor_name`` says so)."""
        if user_id is None or username is None:
            return None
        found = self._users.get(user_id)
        if found is None:
            found = self._users[user_id] = _instance(
                get_user_model(), self.using, ["id", self.username_field], [user_id, username]
            )
        return found

    def session(self, session_id: int, uuid: Any, user_id: Any) -> UserSession:
        found = self._sessions.get(session_id)
        if found is None:
            found = self._sessions[session_id] = _instance(
                UserSession, self.using, ["id", "uuid", "user_id"], [session_id, uuid, user_id]
            )
        return found


def _by_id(link: EntityLink) -> int:
    return link.pk


class ActivityPage(NamedTuple):
    """One page of an entity's history: its records newest first, and the cursor of the
    next page (the last record id of this one) or None when there is no older record."""

    records: Any  # AuditRecord instances, or what the caller's ``load`` made of them
    next_cursor: int | None


# What turns a page's record ids (newest first, one past the page at most: a statement
# or ids already read) into the page the caller shows, read from the database alias
# given.
Load = Callable[[str, page_sql.PageIds], ActivityPage]


def records_page(using: str, ids: page_sql.PageIds) -> ActivityPage:
    """The page's records, newest first, as ``page_of_records`` gives them: models (the
    default ``load``; the panel reads ``panel_page``). On PostgreSQL from two fixed
    texts (``audit.page_sql``), the first reading the ids too, built by ``models_of``:
    compiling the querysets of ``page_of_records`` took a millisecond of a page."""
    if connections[using].vendor != "postgresql":
        shown, cursor = ids.cut(using)
        if not shown:
            return ActivityPage([], None)
        records = AuditRecord.objects.using(using).filter(pk__in=shown).order_by("-id")
        return ActivityPage(page_of_records(records), cursor)

    source, params = ids.source()
    with prepared_reads(using):
        staged.settle()
        found = models_of(
            AuditRecord, using, page_sql.records_sql(source), params, _annotation_fields()
        )
        page = cut(found, ids.limit)
        return ActivityPage(_attach(page.records, using, _links_reader(using)), page.next_cursor)


class PanelLink(NamedTuple):
    """A record's link as the activity panel reads it (``EntityLink``'s fields)."""

    pk: int
    content_type_id: int
    object_id: str
    role: str
    name: str


class PanelRecord:
    """A record as the activity panel reads it (``panel_page``): ``AuditRecord``'s
    fields of ``page_sql.PAGE_FIELDS`` under the same names, ``type``, ``user`` and
    ``session`` as the models ``page_of_records`` attaches, and ``links`` a list of
    ``PanelLink`` in the links' order.

    Why not the model: the panel reads a page's records once, to write them, and
    building 26 ``AuditRecord`` instances and their 35 links (converters, instances,
    the prefetch cache, a second statement) cost twice what this does. Everything the
    panel reads of a record reads the same here; ``tests/test_page_models.py`` holds the
    panel's HTML from both the same."""

    __slots__ = (
        "changes",
        "client_time",
        "created_at",
        "fingerprint",
        "id",
        "level",
        "links",
        "message",
        "params",
        "pk",
        "session",
        "session_id",
        "source",
        "stack_trace",
        "type",
        "type_id",
        "user",
        "user_id",
    )  # fmt: skip
    id: int
    type_id: int
    level: str
    message: str
    params: Any
    changes: Any
    user_id: int | None
    session_id: int
    created_at: datetime
    client_time: datetime | None
    source: str
    stack_trace: str
    fingerprint: str
    pk: int
    type: EventType
    user: Any
    session: UserSession
    links: list[PanelLink]

    def __init__(self, values: Sequence[Any]) -> None:
        for name, value in zip(page_sql.PAGE_FIELDS, values, strict=True):
            setattr(self, name, value)
        self.pk = values[0]

    def __repr__(self) -> str:
        return f"<PanelRecord {self.pk}>"


def panel_page(using: str, ids: page_sql.PageIds) -> ActivityPage:
    """The page's records, newest first, as ``PanelRecord`` (the activity panel's
    ``load``): on PostgreSQL one fixed text reads them with their type's name, username,
    session and links (``page_sql.panel_sql``); elsewhere ``records_page``'s models,
    which read the same."""
    if connections[using].vendor != "postgresql":
        return records_page(using, ids)
    source, params = ids.source()
    with prepared_reads(using), connections[using].cursor() as cursor:
        staged.settle()
        cursor.execute(page_sql.panel_sql(source), params)
        rows = cursor.fetchall()
    fields = len(page_sql.PAGE_FIELDS)
    table = AuditRecord._meta.db_table
    json_fields = [
        (page_sql.PAGE_FIELDS.index(name), field, field.get_col(table))
        for name in ("params", "changes")
        for field in [_json_field(name)]
    ]
    connection = connections[using]
    related = _Related(using)
    records: list[PanelRecord] = []
    for row in rows:
        values = list(row[:fields])
        for index, field, col in json_fields:
            values[index] = field.from_db_value(values[index], col, connection)
        record = PanelRecord(values)
        type_name, username, session_uuid, session_user, *links = row[fields:]
        record.type = related.type(record.type_id, type_name)
        record.user = related.user(record.user_id, username)
        record.session = related.session(record.session_id, session_uuid, session_user)
        record.links = [PanelLink(*link) for link in zip(*links, strict=True)] if links[0] else []
        records.append(record)
    return cut(records, ids.limit)


def _json_field(name: str) -> models.JSONField[Any]:
    field = AuditRecord._meta.get_field(name)
    assert isinstance(field, models.JSONField), field
    return field


def _instance(model: type[_Model], using: str, attnames: list[str], values: list[Any]) -> _Model:
    """``model.from_db(using, attnames, values)``, through ``_loaded`` for a model no
    receiver watches (the values in the order of the model's fields)."""
    if _watched(model):
        return model.from_db(using, attnames, values)
    return _loaded(model, using, attnames, values)


def models_of(
    model: type[_Model],
    using: str,
    sql: str,
    params: Any,
    extra_fields: dict[str, models.Field[Any, Any]] | None = None,
) -> list[_Model]:
    """``list(model.objects.raw(sql, params))``, for the pages read most: instances of
    the columns named as ``model``'s fields (each through its field's converters, as
    querysets read them), the other columns set as attributes, through the converters
    of the field ``extra_fields`` names for them, if any (a uuid that SQLite stores as
    text, as a queryset's annotation reads it).

    Why not ``raw()``: it maps the columns and applies the converters row by row, and
    ``Model.__init__`` sets each field through its descriptor and sends two signals per
    instance. A panel's page is 26 records and about 35 links; building them was more
    of its time than reading them. Here each instance's ``__dict__`` is filled as
    ``__init__`` would leave it, which is what loading a row means to Django
    (``Model.from_db``), and only for a model no receiver of ``pre_init`` or
    ``post_init`` watches; any other takes ``from_db``.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    at = {name: index for index, name in enumerate(names)}
    if len(at) < len(names):  # a join's columns (select_related): whose "id" is whose?
        raise ValueError(f"{model.__name__}: the statement names a column twice: {names}")
    fields = [field for field in model._meta.concrete_fields if field.column in at]
    own = {at[field.column] for field in fields}
    extra = [(index, name) for index, name in enumerate(names) if index not in own]
    typed = extra_fields or {}
    columns: list[Any] = [field.get_col(model._meta.db_table) for field in fields]
    columns += [typed[name].get_col(name) if name in typed else None for _, name in extra]
    order = [at[field.column] for field in fields] + [index for index, _ in extra]
    compiler = connection.ops.compiler("SQLCompiler")(Query(model), connection, using)
    converters = compiler.get_converters(columns)
    values: Iterable[Any] = [[row[index] for index in order] for row in rows]
    if converters:
        values = compiler.apply_converters(values, converters)
    attnames = [field.attname for field in fields]
    count = len(fields)
    watched = _watched(model)
    found: list[_Model] = []
    for row in values:
        own_values = row[:count]
        if watched:
            instance = model.from_db(using, attnames, own_values)
        else:
            instance = _loaded(model, using, attnames, own_values)
        for (_, name), value in zip(extra, row[count:], strict=True):
            setattr(instance, name, value)
        found.append(instance)
    return found


def _watched(model: type[models.Model]) -> bool:
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


def _loaded(model: type[_Model], using: str, attnames: list[str], values: list[Any]) -> _Model:
    """The instance ``model.from_db(using, attnames, values)`` makes (the values in the
    order of the model's fields, the fields left out deferred), without the signals."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = using
    return instance


def cut(items: list[Any], limit: int) -> ActivityPage:
    """The first ``limit`` of a page's ``items`` (newest first, each with its record's
    ``pk``), and the cursor after them when there were more: the last record id shown."""
    if len(items) > limit:
        items = items[:limit]
        return ActivityPage(items, items[-1].pk)
    return ActivityPage(items, None)


MAX_TYPE_FILTERS = 50
# Links a filtered page looks through per request (see entity_activity_page).
FILTER_WINDOW = 2000


def entity_activity_page(
    kind: registry.EntityKind,
    object_id: str,
    *,
    before: int | None = None,
    limit: int = 50,
    types: Iterable[str] = (),
    user_id: int | None = None,
    starts: datetime | None = None,
    ends: datetime | None = None,
    load: Load = records_page,
) -> ActivityPage:
    """The records that touch the entity, newest first, ``limit`` at a time; visibility
    is the caller's check. ``load`` turns the page's record ids into the page the
    caller shows (model instances by default; the API takes its results encoded).

    Why it is written this way: the history must cost the same at page 1 and page 1,000
    and for an entity with 5 records or 500,000. So the page is driven from the link
    index ``(content_type, object_id, record_id DESC)``: a range scan that stops after
    ``limit + 1`` distinct record ids below the cursor (keyset, never OFFSET), and the
    records are then fetched by primary key. A correlated ``EXISTS`` over the records
    table instead lets PostgreSQL walk the records' primary key backwards and probe
    links for each, which for a sparse entity reads most of the table. ``DISTINCT``
    shows a record that links the entity twice (two roles) once. A filter by type alone
    or by user alone is exact: each link keeps its record's type and user, and the
    indexes ``(content_type, object_id, type, record_id DESC)`` and ``(content_type,
    object_id, user, record_id DESC)`` give the entity's links of each type, or of the
    user, in order. Those exact pages read their ids with fixed statement texts
    (``audit.page_sql``), run by ``load`` inside its own first statement. Other filters
    (a user and types together, a time range) look through at most ``FILTER_WINDOW``
    links per request (the user's, or those of the asked types): a page may then hold
    fewer than ``limit`` records (even none) and still have a next cursor.

    Queries: what ``load`` reads, the page's ids included in its first statement on
    PostgreSQL (an exact page); with filters, one to resolve type names (cached), the
    window's ids and, when a page of the window comes back short, one for its end.
    With deferred tracking, ``load`` stores what is staged first (``staged.settle``), or
    the API's asks in its own statement; the filtered windows' querysets settle too.
    """
    using = router.db_for_read(EntityLink)
    content_type_id = kind.content_type_id
    names = sorted({name for name in types if name})
    if not names and starts is None and ends is None:
        return load(
            using,
            page_sql.linked_page(
                content_type_id, object_id, limit=limit, before=before, user_id=user_id
            ),
        )
    type_ids = sorted(event_types.ids_of(names)) if names else []
    if names and not type_ids:
        return ActivityPage([], None)
    entity = (content_type_id, object_id)
    if type_ids and user_id is None and starts is None and ends is None:
        # Exact, however rare the types: the entity's links of these types, newest
        # first, from their own index; no window, no short page.
        if connections[using].vendor == "postgresql":
            typed = page_sql.typed_page(*entity, type_ids, limit=limit, before=before)
            return load(using, typed)
        ids = _newest_of_types(using, entity, type_ids, limit + 1, before)
        return load(using, page_sql.PageIds.of(ids, limit))
    staged.settle()  # the windows below are read by statements of their own: settle first
    links = EntityLink.objects.using(using).filter(
        content_type_id=content_type_id, object_id=object_id
    )
    if before is not None:
        links = links.filter(record_id__lt=before)
    if user_id is not None:
        # Each link keeps its record's user: the user's links to the entity, in order,
        # from the index (content type, object, user, record DESC).
        links = links.filter(user_id=user_id)
    newest_first = links.order_by("-record_id").values("record_id")
    # Filtered: only some records match, maybe none. Look at a bounded window of the
    # entity's newest links below the cursor and filter their records by primary key.
    # Unbounded, a filter that matches nothing on an entity with 100,000 records would
    # read all of them in one request (and PostgreSQL may pick a merge join that walks
    # the records table backwards to do it). A short page then comes with the cursor
    # of the window's end, so "load more" searches further back, each request bounded.
    window: list[int] | None = None  # the typed links' record ids, when a type is asked
    records = AuditRecord.objects.using(using)
    if type_ids and user_id is None:
        window = _newest_of_types(using, entity, type_ids, FILTER_WINDOW, before)
        matching = records.filter(pk__in=window)
    elif type_ids:  # the user's newest links to the entity, then the types among them
        matching = records.filter(pk__in=newest_first[:FILTER_WINDOW], type_id__in=type_ids)
    else:
        matching = records.filter(pk__in=newest_first[:FILTER_WINDOW])
    if user_id is not None:  # the record's own user decides, whatever its links say
        matching = matching.filter(user_id=user_id)
    # The date range filters the same bounded window (on the records' own created_at,
    # read by primary key), so a range with nothing in it costs one window, too.
    if starts is not None:
        matching = matching.filter(created_at__gte=starts)
    if ends is not None:
        matching = matching.filter(created_at__lt=ends)
    ids = list(matching.order_by("-id").values_list("id", flat=True)[: limit + 1])
    page = load(using, page_sql.PageIds.of(ids, limit))
    if page.next_cursor is not None:
        return page
    if window is not None:
        return page._replace(next_cursor=min(window) if len(window) == FILTER_WINDOW else None)
    seen = newest_first[:FILTER_WINDOW].aggregate(seen=Count("record_id"), floor=Min("record_id"))
    return page._replace(next_cursor=seen["floor"] if seen["seen"] == FILTER_WINDOW else None)


def _newest_of_types(
    using: str, entity: tuple[int, str], type_ids: list[int], count: int, before: int | None
) -> list[int]:
    """The ``count`` newest record ids linking ``entity`` (content type id, object id),
    below ``before``, of these types. On PostgreSQL one ordered range of the index
    (content type, object, type, record DESC) per type, merged
    (``page_sql.newest_typed``); elsewhere one ``IN``: the small databases of a
    development machine."""
    content_type_id, object_id = entity
    if connections[using].vendor == "postgresql":
        return page_sql.newest_typed(
            using, content_type_id, object_id, type_ids, count=count, before=before
        )
    newest = EntityLink.objects.using(using).filter(
        content_type_id=content_type_id, object_id=object_id, type_id__in=type_ids
    )
    if before is not None:
        newest = newest.filter(record_id__lt=before)
    ids = newest.order_by("-record_id").values_list("record_id", flat=True)
    return list(ids.distinct()[:count])


FACETS_SECONDS = 300  # how long an entity's filter choices are kept at most


def entity_activity_facets(
    kind: registry.EntityKind, object_id: str, *, cap: int = 1000, newest: int | None = None
) -> tuple[list[str], list[str]]:
    """The type names in the entity's whole history and the usernames in its newest
    ``cap`` records, for the filter choices of the activity panel.

    The types come from the links' type index, one step a type (``_type_names_of``): every
    type the entity ever had is offered, and a filter by it is exact however far back
    its records lie. The users are capped because an exact answer for an entity with
    100,000 records would read them all on every panel view; the newest thousand name
    whom people look for. Kept in the
    shared cache under the entity's newest record id, which one index entry gives: the
    choices change only when a record comes (a new id, so a new key) or goes (the purge,
    or a username changed: ``FACETS_SECONDS`` bounds how long that is not seen), and the
    DISTINCT over a thousand records costs a busy entity's panel more than its page.
    ``newest`` is that id when the caller has it already (the unfiltered first page's
    first record); it is read otherwise. Its statements run prepared (``audit.prepared``).
    """
    with prepared_reads():
        return _cached_facets(kind, object_id, cap, newest)


def _cached_facets(
    kind: registry.EntityKind, object_id: str, cap: int, newest: int | None
) -> tuple[list[str], list[str]]:
    if newest is None:  # one entry of the link index, by the page's own fixed text
        using = router.db_for_read(EntityLink)
        found = page_sql.newest_linked(using, kind.content_type_id, object_id, count=1)
        newest = found[0] if found else None
    if newest is None:
        return [], []
    key = f"audit:facets:{kind.content_type_id}:{_cache_safe(object_id)}:{newest}:{cap}"
    kept = shared_cache.call(lambda cache: cache.get(key), lambda: None)
    if kept is not None:
        types, users = kept
        return list(types), list(users)
    links = EntityLink.objects.filter(content_type_id=kind.content_type_id, object_id=object_id)
    answer = _facets(kind, object_id, links, cap)
    shared_cache.call(lambda cache: cache.set(key, answer, FACETS_SECONDS), lambda: None)
    return answer


def _cache_safe(object_id: str) -> str:
    """An object id as a part of a cache key: as it is when short and plain, else its
    hash (ids are any text up to 255 characters)."""
    plain = object_id.isascii() and object_id.isprintable() and " " not in object_id
    if plain and len(object_id) <= 64:
        return object_id
    return hashlib.sha256(object_id.encode()).hexdigest()


def _facets(
    kind: registry.EntityKind, object_id: str, links: QuerySet[EntityLink], cap: int
) -> tuple[list[str], list[str]]:
    recent = links.order_by("-record_id").values("record_id")[:cap]
    user_model = get_user_model()
    usernames = (
        AuditRecord.objects.filter(pk__in=recent, user__isnull=False)
        .order_by()
        .values_list(f"user__{user_model.USERNAME_FIELD}", flat=True)
        .distinct()
    )
    types = _type_names_of(kind, object_id)
    return sorted(types), sorted((name for name in usernames if name), key=str.lower)


# The distinct types of one entity's links, a step each: the smallest type above the last
# one found, read from the index (content type, object, type, record). A DISTINCT would
# read every link of the entity; this reads one index entry per type.
_TYPES_OF = """
WITH RECURSIVE found(type_id) AS (
    SELECT min(type_id) FROM audit_entitylink WHERE content_type_id = %s AND object_id = %s
    UNION ALL
    SELECT (SELECT min(l.type_id) FROM audit_entitylink l
            WHERE l.content_type_id = %s AND l.object_id = %s AND l.type_id > found.type_id)
    FROM found WHERE found.type_id IS NOT NULL
)
SELECT t.name FROM found JOIN audit_eventtype t ON t.id = found.type_id
"""


def _type_names_of(kind: registry.EntityKind, object_id: str) -> list[str]:
    entity: list[int | str] = [kind.content_type_id, object_id]
    with connections[EntityLink.objects.db].cursor() as cursor:
        cursor.execute(_TYPES_OF, entity + entity)
        return [row[0] for row in cursor.fetchall()]


MAX_ID = 2**63 - 1  # the largest id a bigint column holds


def whole_number(text: str, maximum: int = MAX_ID) -> int | None:
    """``text`` as a whole number from 1 to ``maximum``, or None. ASCII digits only:
    ``str.isdigit`` also takes "²", which ``int`` refuses, and a number past the
    column's range would fail in the database rather than match nothing."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None


def user_id_for(value: str) -> int | None:
    """The id of the user a filter names: by username, or by id when the value is a
    number that is nobody's username (as the events filter reads ``user``)."""
    user_model = get_user_model()
    manager = user_model._default_manager
    pk: int | None = page_sql.user_id(router.db_for_read(user_model), value)
    if pk is None and (number := whole_number(value)) is not None:
        pk = manager.filter(pk=number).values_list("pk", flat=True).first()
    return pk


class BadActivityQuery(ValueError):
    """A query parameter of an activity page cannot be read; ``errors`` says which."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class ActivityQuery:
    """What a request for a page of entity activity asks for, read from query params the
    same way by the API and the HTML panel: ``type`` (repeatable or comma-separated),
    ``user`` (username), ``before`` (cursor: a record id), ``limit``, and the date range
    ``since`` / ``until`` (ISO dates or datetimes; a date alone is that whole day, in
    the site's time zone, so ``since=2026-03-01&until=2026-03-31`` is all of March).
    ``since`` and ``until`` keep the text that was given (for links back to the same
    view); ``starts`` and ``ends`` are the moments they mean (``created_at >= starts``
    and ``created_at < ends``)."""

    types: tuple[str, ...] = ()
    user: str = ""
    before: int | None = None
    limit: int = 50
    since: str = ""
    until: str = ""
    starts: datetime | None = None
    ends: datetime | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.types or self.user or self.starts or self.ends)

    @property
    def dated(self) -> bool:
        return self.starts is not None or self.ends is not None

    @classmethod
    def parse(cls, params: Any, *, default_limit: int = 50, max_limit: int = 500) -> ActivityQuery:
        """Read ``params`` (a QueryDict or a plain mapping); ``BadActivityQuery`` lists
        every parameter that cannot be read, so a client fixes them all at once."""
        errors: dict[str, list[str]] = {}
        raw_types = params.getlist("type") if hasattr(params, "getlist") else params.get("type")
        if isinstance(raw_types, str):
            raw_types = [raw_types]
        names: list[str] = []
        for raw in raw_types or ():
            for name in str(raw).split(","):
                name = name.strip()
                if name and name not in names:
                    names.append(name)
        bad = [name for name in names if not event_types.NAME_RE.match(name)]
        if any("\x00" in str(raw) for raw in raw_types or ()):
            errors["type"] = [_NUL]
        elif bad:
            errors["type"] = [f"not an event type name: {bad[0]!r}"]
        elif len(names) > MAX_TYPE_FILTERS:
            errors["type"] = [f"at most {MAX_TYPE_FILTERS} types"]
        user = str(params.get("user") or "").strip()
        if "\x00" in user:
            errors["user"] = [_NUL]
        elif len(user) > 150:
            errors["user"] = ["too long for a username"]
        before = _positive_int(params.get("before"), "before", errors, maximum=2**63 - 1)
        limit = _positive_int(params.get("limit"), "limit", errors, maximum=max_limit)
        since = str(params.get("since") or "").strip()
        until = str(params.get("until") or "").strip()
        starts = _moment(since, "since", errors, end=False)
        ends = _moment(until, "until", errors, end=True)
        if starts is not None and ends is not None and ends <= starts:
            errors["until"] = ["must be later than since"]
        if errors:
            raise BadActivityQuery(errors)
        return cls(tuple(names), user, before, limit or default_limit, since, until, starts, ends)


def _moment(raw: str, name: str, errors: dict[str, list[str]], *, end: bool) -> datetime | None:
    """An ISO date or datetime as an aware moment; a date alone is the start of that day,
    or for the end of a range the start of the next one (so the whole day is in)."""
    if not raw:
        return None
    moment: datetime | None = None
    if "\x00" not in raw and len(raw) <= 40:
        try:
            day = parse_date(raw)
            if day is not None:
                moment = datetime.combine(day, time.min) + timedelta(days=1 if end else 0)
            else:
                moment = parse_datetime(raw)
        except (ValueError, OverflowError):
            moment = None
    if moment is not None:
        try:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            # In UTC: Python reads offsets up to 23:59, PostgreSQL holds them to 15:59.
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    errors[name] = ["must be an ISO date (2026-03-01) or datetime (2026-03-01T14:30)"]
    return None


# The database cannot compare text with a NUL in it (PostgreSQL refuses it outright).
_NUL = "must not contain a NUL character (\\u0000)"


def _positive_int(raw: Any, name: str, errors: dict[str, list[str]], *, maximum: int) -> int | None:
    if raw is None or raw == "":
        return None
    number = whole_number(str(raw).strip(), maximum)
    if number is None:
        errors[name] = [f"must be a whole number from 1 to {maximum}"]
    return number


def entity_activity_query(
    kind: registry.EntityKind,
    object_id: str,
    query: ActivityQuery,
    load: Load = records_page,
) -> ActivityPage:
    """``entity_activity_page`` for a parsed request: the username becomes a user id
    (an unknown one matches nothing rather than being ignored). Its statements run
    prepared (``audit.prepared``): every page repeats them."""
    with prepared_reads():
        user_id = None
        if query.user:
            user_id = user_id_for(query.user)
            if user_id is None:
                return ActivityPage([], None)
        return entity_activity_page(
            kind,
            object_id,
            before=query.before,
            limit=query.limit,
            types=query.types,
            user_id=user_id,
            starts=query.starts,
            ends=query.ends,
            load=load,
        )


def parse_entity(value: str) -> tuple[registry.EntityKind, str]:
    """``KIND:ID`` to a registered kind and a stored id; ``ValueError`` otherwise."""
    kind_name, sep, raw_id = value.partition(":")
    if not sep:
        raise ValueError("must be KIND:ID, for example query:3f2a...")
    kind = registry.get(kind_name)
    if kind is None:
        raise ValueError(
            f"unknown entity kind {kind_name!r} (known: {', '.join(registry.kinds())})"
        )
    return kind, kind.parse_id(raw_id)


def latest_records(user: Any, limit: int = 20) -> list[AuditRecord]:
    """The user's own newest records for the start page, in a fixed number of queries
    (records with type and session, then their links with content types, so that
    each link's ``kind`` costs no query)."""
    links = EntityLink.objects.select_related("content_type").order_by("id")
    return list(
        AuditRecord.objects.filter(user_id=user.pk)
        .select_related("type", "session")
        .prefetch_related(Prefetch("links", queryset=links))
        .order_by("-id")[:limit]
    )


def own_session(user: Any, session_uuid: Any) -> UserSession | None:
    """The user's session with this UUID (the one their login opened), if it exists."""
    if not session_uuid:
        return None
    return UserSession.objects.filter(uuid=session_uuid, user_id=user.pk).first()
