"""The retention purge: the one path that may delete audit records.

It removes whole sealed blocks (a seal's records, their links and the seal), oldest
first, while every record of the block is older than the cutoff, so what remains still
verifies: the first seal kept becomes the anchor verification starts from. Everything
is sealed first, so no old record escapes for lack of a seal. On PostgreSQL the deletes
run inside ``audit_purge_through``, a function that runs as the tables' owner (the only
role the append-only guard lets delete, and only in the purge's transaction), so the
application's own role may purge without being able to delete a row itself. The purge
is recorded (``trail-purged``), and analysis forgets what it removed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction

from . import seals
from .models import AuditRecord, EntityLink, IntegrityState, Seal, StagedChange, UserSession
from .signals import records_purged
from .staged import as_stored


def count_older_than(cutoff: datetime) -> int:
    return AuditRecord.objects.filter(created_at__lt=cutoff).count()


@as_stored()  # the records as they are: none stored in the midst of the purge
def purge_older_than(
    cutoff: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the sealed blocks of records stored before ``cutoff`` (and their links),
    a block per transaction so that locks stay short; then the ended sessions left empty.
    Returns the number of records deleted. ``batch_size`` is kept for the command's
    sake: a block is a seal's (``audit.seals.BLOCK`` records at most)."""
    seals.seal()
    deleted = 0
    through = 0
    while True:
        # The oldest block left, and only while its newest record is older than the
        # cutoff: a block's ids do not say its time (a staged change's record takes its
        # id when it is drained), so a later block may be older than an earlier one, and
        # purging through it would take the newer block before it too.
        block = Seal.objects.order_by("id").first()
        if block is None or block.last_at >= cutoff:
            break
        with transaction.atomic():
            deleted += _delete_through(block.last_record_id, cutoff)
        through = block.last_record_id
        if progress is not None:
            progress(deleted)
    if deleted:
        with transaction.atomic():
            first_kept = Seal.objects.order_by("id").values_list("id", flat=True).first()
            IntegrityState.objects.filter(pk=seals.state().pk).update(anchor_seal=first_kept)
            from .logger import log

            log(
                "trail-purged",
                f"Purged {deleted} records stored before {cutoff:%Y-%m-%d %H:%M} UTC",
                {"cutoff": cutoff.isoformat(), "through_record": through, "deleted": deleted},
            )
        records_purged.send(sender=AuditRecord, cutoff=cutoff, deleted=deleted)
    return deleted


def _delete_through(last_record_id: int, ended_before: datetime) -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT audit_purge_through(%s, %s)", [last_record_id, ended_before])
            return int(cursor.fetchone()[0])
    EntityLink.objects.filter(record_id__lte=last_record_id).delete()
    deleted, _ = AuditRecord.objects.filter(id__lte=last_record_id).delete()
    Seal.objects.filter(last_record_id__lte=last_record_id).delete()
    UserSession.objects.filter(ended_at__lt=ended_before, records__isnull=True).exclude(
        id__in=StagedChange.objects.values("session_id")  # its record names it when stored
    ).delete()
    return int(deleted)
