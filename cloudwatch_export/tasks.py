"""Celery tasks of the export; Celery beat runs ``drain`` every few seconds
(``CELERY_BEAT_SCHEDULE`` in the settings, ``CLOUDWATCH_EXPORT_INTERVAL``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import config, export


@shared_task(name="cloudwatch_export.drain", ignore_result=True)
def drain() -> dict[str, Any]:
    """Ship what waits in the outbox, for at most the configured budget. Safe to run
    in several workers at once: each claims different rows."""
    return export.drain(budget=config.drain_budget_seconds()).as_dict()
