"""The switch matrix: event types as rows, groups as columns, read and changed at once.

Plain functions that the admin page calls; each change goes through the models
(``EventType.save`` and ``disabled_for``), so the change-tracking receivers record who
changed which switch, from what to what, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from .models import AuditRecord, EventType
from .server_types import PROTECTED
from .stats import dropped_last_day


@dataclass
class Row:
    event_type: EventType
    off_for: set[int]
    dropped: dict[str, int] = field(default_factory=dict)
    stored: int = 0


def types(search: str = "", level: str = "") -> QuerySet[EventType]:
    queryset = EventType.objects.exclude(name__in=PROTECTED).order_by("name")
    if search:
        queryset = queryset.filter(name__icontains=search)
    if level:
        queryset = queryset.filter(level=level)
    return queryset


def stored_last_day() -> dict[int, int]:
    """``{type id: records stored in the last 24 hours}``, in one grouped query."""
    since = timezone.now() - timedelta(hours=24)
    return dict(
        AuditRecord.objects.filter(created_at__gte=since)
        .values("type_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("type_id", "n")
    )


def matrix(search: str = "", level: str = "") -> tuple[list[Group], list[Row]]:
    """Groups (columns) and one row per type, in a handful of queries."""
    groups = list(Group.objects.order_by("name"))
    rows_qs = types(search, level).prefetch_related("disabled_for")
    dropped = dropped_last_day()
    stored = stored_last_day()
    rows = [
        Row(
            t,
            {g.pk for g in t.disabled_for.all()},
            dropped.get(t.name, {}),
            stored.get(t.pk, 0),
        )
        for t in rows_qs
    ]
    return groups, rows


def apply(posted: dict[int, tuple[bool, set[int]]], groups_shown: set[int] | None = None) -> int:
    """Set ``{type_id: (globally_off, {group ids off})}`` for the types shown; returns
    how many switches changed. Types not in ``posted`` are left alone, and so are the
    switches of groups not in ``groups_shown`` (``None``: every group was shown)."""
    changed = 0
    valid_groups = set(Group.objects.values_list("pk", flat=True))
    if groups_shown is not None:
        groups_shown = groups_shown & valid_groups
    with transaction.atomic():
        for event_type in (
            EventType.objects.filter(pk__in=list(posted))
            .exclude(name__in=PROTECTED)
            .prefetch_related("disabled_for")
            .select_for_update(of=("self",))
        ):
            globally_off, off_for = posted[event_type.pk]
            off_for &= valid_groups
            if event_type.enabled == globally_off:
                event_type.enabled = not globally_off
                event_type.save(update_fields=["enabled"])
                changed += 1
            current = {g.pk for g in event_type.disabled_for.all()}
            if groups_shown is not None:
                off_for = (off_for & groups_shown) | (current - groups_shown)
            if current != off_for:
                changed += len(current ^ off_for)
                event_type.disabled_for.set(off_for)
    return changed
