"""The retention purge: the one path that may delete audit records.

On PostgreSQL the append-only trigger lets a DELETE through only in a transaction
that set ``audit.purge`` to ``on`` (``SET LOCAL`` ends with the transaction), so no
other code path, and no mistaken shell session, can remove records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction

from .models import AuditRecord, EntityLink, UserSession
from .signals import records_purged


def _allow_purge() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL audit.purge = 'on'")


def count_older_than(cutoff: datetime) -> int:
    return AuditRecord.objects.filter(created_at__lt=cutoff).count()


def purge_older_than(
    cutoff: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete records stored before ``cutoff`` (and their links), a batch per
    transaction so that locks stay short; then the ended sessions left empty.
    Returns the number of records deleted."""
    deleted = 0
    while True:
        with transaction.atomic():
            _allow_purge()
            ids = list(
                AuditRecord.objects.filter(created_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            EntityLink.objects.filter(record_id__in=ids).delete()
            AuditRecord.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        if progress is not None:
            progress(deleted)
    UserSession.objects.filter(ended_at__lt=cutoff, records__isnull=True).delete()
    records_purged.send(sender=AuditRecord, cutoff=cutoff, deleted=deleted)
    return deleted
