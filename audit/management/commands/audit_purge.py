"""``manage.py audit_purge``: remove records older than the retention period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit import config, purge

# A thousand years: past about two thousand, the cutoff falls before the year 1.
MAX_DAYS = 365_000


class Command(BaseCommand):
    help = "Delete audit records older than N days (default: AUDIT_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-days", type=int, default=None)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go, delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        days = config.retention_days() if days is None else days
        if days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        if days > MAX_DAYS:
            raise CommandError(f"--older-than-days must be at most {MAX_DAYS}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        total = purge.count_older_than(cutoff)
        self.stdout.write(f"{total} records stored before {cutoff:%Y-%m-%d %H:%M} UTC.")
        if options["dry_run"] or total == 0:
            return
        deleted = purge.purge_older_than(
            cutoff,
            batch_size=options["batch_size"],
            progress=lambda done: self.stdout.write(f"  deleted {done}/{total}"),
        )
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} records."))
