"""System checks of usage analysis: rollups made in another time zone than today's."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError


@checks.register(checks.Tags.database)
def check_rollup_zone(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[Any]:
    """Day rollups are kept in the time zone they were made in; after a change of
    ``TIME_ZONE`` they need a rebuild to count days of the new one."""
    if not databases:
        return []
    from . import rollups
    from .models import RollupState

    try:
        made = RollupState.objects.values_list("time_zone", flat=True).first()
    except DatabaseError:  # not migrated yet
        return []
    if made is None or made == rollups.zone_name():
        return []
    return [
        checks.Warning(
            f"The analysis rollups count days of {made}, but TIME_ZONE is {rollups.zone_name()}.",
            hint="Run manage.py analysis_rebuild to count days of the new time zone.",
            id="analysis.W001",
        )
    ]
