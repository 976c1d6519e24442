"""``manage.py analysis_rebuild``: recount every rollup of usage analysis from the records.

Needed after a restore of the records from a backup, after a change of ``TIME_ZONE``
(days are counted in it) or of the rollups' shape, and once after upgrading a trail
that predates usage analysis. Error groups keep their status.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand

from analysis import rollups


class Command(BaseCommand):
    help = "Recount the usage analysis rollups from the records (with progress)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        self.stdout.write("Recounting the analysis rollups from the records...")
        counted = rollups.rebuild(progress=self._progress)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Counted {counted:,} records in {elapsed:.1f} s; days in "
                f"{rollups.state().time_zone}."
            )
        )

    def _progress(self, done: int, total: int) -> None:
        share = done * 100 // total if total else 100
        line = f"  {done:,} of {total:,} records ({share} %)"
        if sys.stdout.isatty():
            self.stdout.write("\r" + line, ending="")
            if done >= total:
                self.stdout.write("")
        else:
            self.stdout.write(line)
