"""Celery tasks of the audit system."""

from __future__ import annotations

from celery import shared_task

from . import dropped, seals, staged


@shared_task(name="audit.flush_dropped_counts", ignore_result=True)
def flush_dropped_counts() -> int:
    """Write this worker's dropped-event counts (web processes flush on their own)."""
    return dropped.flush()


@shared_task(name="audit.seal", ignore_result=True)
def seal() -> int:
    """Seal what was stored since the last seal (every minute, from beat)."""
    try:
        return seals.seal().records
    except seals.SealDeferred:
        return 0  # inserts in flight too long: the next minute seals it


@shared_task(name="audit.drain_staged", ignore_result=True)
def drain_staged() -> int:
    """Store the records of staged changes (``AUDIT_DEFERRED_TRACKING``), every second
    from beat, in batches: what no reader has settled yet."""
    return staged.drain_all().records
