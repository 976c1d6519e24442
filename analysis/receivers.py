"""Counting stored records on databases without the triggers (SQLite under ``make run``):
a ``records_stored`` receiver writes the deltas in the transaction that stored them, as
the PostgreSQL triggers do (``analysis.sql``)."""

from __future__ import annotations

from typing import Any

from . import rollups
from .models import Delta, EntityDelta


def count_stored(sender: Any, records: list[Any], **kwargs: Any) -> None:
    zone = rollups.zone()
    rows = rollups.delta_rows(records, zone)
    Delta.objects.bulk_create(
        Delta(
            hour=row.hour,
            day=row.day,
            type_id=row.type_id,
            level=row.level,
            user_id=row.user_id,
            session_id=row.session_id,
            fingerprint=row.fingerprint,
            events=row.events,
            first_at=row.first_at,
            last_at=row.last_at,
            first_id=row.first_id,
            last_id=row.last_id,
        )
        for row in rows
    )
    links = [
        (record.created_at, link.content_type_id, link.object_id, link.role, record.type_name)
        for record in records
        for link in record.links
    ]
    if links:
        EntityDelta.objects.bulk_create(
            EntityDelta(
                day=day, content_type_id=ct, object_id=object_id, changed=changed, events=events
            )
            for day, ct, object_id, changed, events in rollups.entity_rows(links, zone)
        )


def forget_purged(sender: Any, cutoff: Any, **kwargs: Any) -> None:
    """The retention purge deleted the records before ``cutoff``: their figures go too."""
    rollups.forget_before(cutoff)
