"""What the activity panel and pages show, as plain data for the templates.

Reading the records is ``audit.selectors``' job (the entity's page comes from the same
function the API uses, so both are fast and agree); this module turns a page of
records into entries people read: a sentence, the compact diff of an edit, the other
entities touched, and runs of identical events collapsed into one entry ("5 times").

Collapsing happens within a page only, and never moves the cursor: the next page
starts below the last record of this page whether or not it was collapsed, so "load
more" neither skips nor repeats a record (a run that straddles two pages shows as two
entries, which is the honest price of a cursor that stays a record id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

import audit
from audit import ActivityQuery
from audit.models import AuditRecord, EventType, UserSession

from .describe import Description, LinkRef, describe_parts, link_refs, record_links
from .diff import ChangeSet, render_changes

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
# Types whose ``changes`` are worth showing: an edit's diff. A creation's initial
# values or a deletion's last ones would bury the panel.
_NO_DIFF_SUFFIXES = ("-created", "-deleted")


@dataclass(frozen=True)
class Entry:
    """One line of a panel: a record, or a run of ``count`` identical consecutive ones
    (``record`` is the first of the run in display order, ``last`` the final one)."""

    record: AuditRecord
    last: AuditRecord
    count: int
    description: Description
    links: tuple[LinkRef, ...]
    changes: ChangeSet

    @property
    def level(self) -> str:
        return self.record.level

    @property
    def collapsed(self) -> bool:
        return self.count > 1

    @property
    def span(self) -> tuple[datetime, datetime]:
        """Earliest and latest time of the run."""
        times = (self.record.created_at, self.last.created_at)
        return min(times), max(times)


def _same_event_key(record: AuditRecord) -> tuple[Any, ...]:
    """What makes two consecutive records "the same event again": type, user, message,
    changes and the entities touched (5 runs of the same query)."""
    links = tuple(
        sorted((link.content_type_id, link.object_id, link.role) for link in record_links(record))
    )
    return (record.type_id, record.user_id, record.message, _freeze(record.changes), links)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def build_entries(
    records: Sequence[AuditRecord],
    *,
    about: tuple[str, str] | None = None,
    viewer: Any = None,
) -> list[Entry]:
    """Entries for ``records`` (in display order), consecutive identical ones collapsed.

    ``about`` is the (kind, id) of the entity whose panel this is: its own link is left
    out of "links to other entities" (it is the page you are on). The names of the
    entities ``viewer`` may not view are left out (``audit.hidden_targets``): such an
    entity reads as its kind and id, and links nowhere.
    """
    hide = _hidden(records, viewer, about)
    entries: list[Entry] = []
    run: list[AuditRecord] = []
    run_key: tuple[Any, ...] = ()
    for record in records:
        key = _same_event_key(record)
        if run and key == run_key:
            run.append(record)
            continue
        if run:
            entries.append(_entry(run, about, hide))
        run, run_key = [record], key
    if run:
        entries.append(_entry(run, about, hide))
    return entries


def _hidden(
    records: Sequence[AuditRecord], viewer: Any, about: tuple[str, str] | None
) -> frozenset[tuple[str, str]]:
    """What ``records`` name that ``viewer`` may not view (one query a kind, none for
    staff); the panel's own entity, which the viewer may view, is not asked about."""
    if viewer is None or audit.sees_every_name(viewer):
        return frozenset()
    targets: set[tuple[str, str]] = set()
    for record in records:
        for link in record_links(record):
            entry = audit.kind_for_content_type_id(link.content_type_id)
            kind = entry.kind if entry is not None else f"type-{link.content_type_id}"
            targets.add((kind, link.object_id))
        targets.update(audit.hidden_change_targets(record.type.name, record.changes))
    if about is not None:
        targets.discard(about)
    return audit.hidden_targets(viewer, targets)


def _entry(
    run: list[AuditRecord], about: tuple[str, str] | None, hide: frozenset[tuple[str, str]]
) -> Entry:
    first = run[0]
    refs = [
        LinkRef(ref.kind, ref.object_id, ref.role, "") if (ref.kind, ref.object_id) in hide else ref
        for ref in link_refs(first)
    ]
    others = tuple(ref for ref in refs if about is None or (ref.kind, ref.object_id) != about)
    # The panel's own entity is named in the sentence but not linked: it is this page.
    named = [
        LinkRef(ref.kind, ref.object_id, ref.role, ref.name)
        if (ref.kind, ref.object_id) == about
        else ref
        for ref in refs
    ]
    show_diff = not first.type.name.endswith(_NO_DIFF_SUFFIXES)
    return Entry(
        record=first,
        last=run[-1],
        count=len(run),
        description=describe_parts(first, named),
        links=_unique_entities(others),
        changes=(
            render_changes(audit.hidden_masked_changes(first.type.name, first.changes, hide))
            if show_diff
            else ChangeSet()
        ),
    )


def _unique_entities(refs: Iterable[LinkRef]) -> tuple[LinkRef, ...]:
    """One chip per entity even when the record links it in two roles."""
    seen: set[tuple[str, str]] = set()
    unique: list[LinkRef] = []
    for ref in refs:
        if (ref.kind, ref.object_id) not in seen:
            seen.add((ref.kind, ref.object_id))
            unique.append(ref)
    return tuple(unique)


# --- the entity panel ----------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """An entity's activity panel: one page of entries, the filters that made it, the
    filter choices, and where the next page is."""

    kind: str
    object_id: str
    query: ActivityQuery
    entries: list[Entry]
    next_cursor: int | None
    type_choices: list[str] = field(default_factory=list)
    user_choices: list[str] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return self.kind.replace("-", " ")

    def params(self, **extra: Any) -> str:
        """The query string of this panel's filters plus ``extra`` (``before=...``)."""
        return filter_params(self.query, **extra)

    @property
    def next_query(self) -> str:
        """The query string of the next page: these filters, the next cursor."""
        return self.params(before=self.next_cursor)


def filter_params(query: ActivityQuery, **extra: Any) -> str:
    """The query string that asks for ``query`` again (filters, a page size that is not
    the default) plus ``extra``: what "load more" and the filter links carry."""
    pairs: list[tuple[str, Any]] = [("type", name) for name in query.types]
    if query.user:
        pairs.append(("user", query.user))
    if query.since:
        pairs.append(("since", query.since))
    if query.until:
        pairs.append(("until", query.until))
    if query.limit != PAGE_SIZE:
        pairs.append(("limit", query.limit))
    pairs += [(key, value) for key, value in extra.items() if value not in (None, "")]
    return urlencode(pairs)


def entity_panel(
    kind: audit.EntityKind,
    object_id: str,
    query: ActivityQuery,
    *,
    with_choices: bool = True,
    viewer: Any = None,
) -> Panel:
    """The panel's data in a constant number of queries: the page (records, then links),
    and, unless only items are asked for, the filter choices."""
    page = audit.entity_activity_query(kind, object_id, query, load=audit.panel_page)
    types: list[str] = []
    users: list[str] = []
    if with_choices:
        # The unfiltered first page starts with the entity's newest record: the choices'
        # cache key, which the facets need not read again.
        first_page = not query.filtered and query.before is None and page.records
        newest = page.records[0].pk if first_page else None
        types, users = audit.entity_activity_facets(kind, object_id, newest=newest)
        # A filter chosen earlier stays selectable even when beyond the capped facets.
        types = sorted({*types, *query.types})
        if query.user and query.user not in users:
            users = sorted([*users, query.user], key=str.lower)
    return Panel(
        kind=kind.kind,
        object_id=object_id,
        query=query,
        entries=build_entries(page.records, about=(kind.kind, object_id), viewer=viewer),
        next_cursor=page.next_cursor,
        type_choices=types,
        user_choices=users,
    )


# --- a user's own activity and one session's timeline --------------------------------


@dataclass(frozen=True)
class RecordPage:
    """A page of a user's or a session's records; ``cursor_param`` names the query
    parameter that carries ``next_cursor`` ("before" newest first, "after" oldest first)."""

    entries: list[Entry]
    next_cursor: int | None
    query: ActivityQuery
    cursor_param: str = "before"

    def params(self, **extra: Any) -> str:
        return filter_params(self.query, **extra)

    @property
    def next_query(self) -> str:
        return filter_params(self.query, **{self.cursor_param: self.next_cursor})


def _keyset(
    queryset: QuerySet[AuditRecord], *, cursor: int | None, limit: int, newest_first: bool
) -> tuple[list[AuditRecord], int | None]:
    """``limit`` records after ``cursor`` in id order, by an index range scan (keyset)."""
    if cursor is not None:
        queryset = (
            queryset.filter(id__lt=cursor) if newest_first else queryset.filter(id__gt=cursor)
        )
    ordered = queryset.order_by("-id" if newest_first else "id")
    records = audit.page_of_records(ordered, limit + 1)
    if len(records) > limit:
        records = records[:limit]
        return records, records[-1].pk
    return records, None


def _filter_types(queryset: QuerySet[AuditRecord], types: Sequence[str]) -> QuerySet[AuditRecord]:
    if not types:
        return queryset
    type_ids = list(EventType.objects.filter(name__in=types).values_list("id", flat=True))
    return queryset.filter(type_id__in=type_ids) if type_ids else queryset.none()


def _filter_range(queryset: QuerySet[AuditRecord], query: ActivityQuery) -> QuerySet[AuditRecord]:
    if query.starts is not None:
        queryset = queryset.filter(created_at__gte=query.starts)
    if query.ends is not None:
        queryset = queryset.filter(created_at__lt=query.ends)
    return queryset


def user_activity(user: Any, query: ActivityQuery, *, viewer: Any = None) -> RecordPage:
    """What ``user`` did, newest first (index ``(user, -id)``); filterable by type and
    by date range (``since`` / ``until``)."""
    queryset = _filter_types(AuditRecord.objects.filter(user_id=user.pk), query.types)
    queryset = _filter_range(queryset, query)
    records, cursor = _keyset(queryset, cursor=query.before, limit=query.limit, newest_first=True)
    return RecordPage(build_entries(records, viewer=viewer), cursor, query)


def user_type_choices(user: Any, cap: int = 1000) -> list[str]:
    """Type names among the user's newest ``cap`` records, for the filter (one query)."""
    recent = AuditRecord.objects.filter(user_id=user.pk).order_by("-id").values("id")[:cap]
    names = (
        AuditRecord.objects.filter(pk__in=recent)
        .order_by()
        .values_list("type__name", flat=True)
        .distinct()
    )
    return sorted(names)


def recent_sessions(user: Any, limit: int = 8) -> list[UserSession]:
    return list(UserSession.objects.filter(user_id=user.pk).order_by("-started_at")[:limit])


def session_timeline(
    session: UserSession, query: ActivityQuery, *, after: int | None = None, viewer: Any = None
) -> RecordPage:
    """One session's records oldest first, since a timeline reads forwards: the next
    page holds later records, after the cursor (index ``(session, -id)``, read forwards).
    """
    queryset = _filter_types(AuditRecord.objects.filter(session_id=session.pk), query.types)
    queryset = _filter_range(queryset, query)
    records, cursor = _keyset(queryset, cursor=after, limit=query.limit, newest_first=False)
    return RecordPage(build_entries(records, viewer=viewer), cursor, query, cursor_param="after")


def find_user(username: str) -> Any:
    """The user called ``username``, or None."""
    model = get_user_model()
    return model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
