"""Celery tasks of the audit system."""

from __future__ import annotations

from celery import shared_task

from . import dropped


@shared_task(name="audit.flush_dropped_counts", ignore_result=True)
def flush_dropped_counts() -> int:
    """Write this worker's dropped-event counts (web processes flush on their own)."""
    return dropped.flush()
