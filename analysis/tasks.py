"""The beat task that folds the deltas into the rollups every couple of seconds."""

from __future__ import annotations

from celery import shared_task

from . import rollups


@shared_task(name="analysis.fold", ignore_result=True)
def fold() -> int:
    return rollups.fold().deltas
