"""Read-side figures about the switches: what they dropped, per type and group."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from .models import DroppedCount


def dropped_last_day(type_names: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """``{type: {group: count}}`` over the last 24 hours, in one query."""
    since = timezone.now() - timedelta(hours=24)
    rows = DroppedCount.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
    if type_names is not None:
        rows = rows.filter(event_type__in=list(type_names))
    found: dict[str, dict[str, int]] = {}
    for type_name, group, total in (
        rows.values_list("event_type", "group").annotate(total=Sum("count")).order_by()
    ):
        found.setdefault(type_name, {})[group] = total
    return found
