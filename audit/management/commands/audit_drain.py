"""``manage.py audit_drain [--retry]``.

Stores the records of every staged change now (``AUDIT_DEFERRED_TRACKING``,
``audit.staged``): where no worker beat runs, or to empty the staging table before a
deploy. ``--retry`` first clears the error of changes that could not become records,
once what stopped them is mended, so that this drain tries them again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit import staged


class Command(BaseCommand):
    help = "Store the records of the staged changes now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retry",
            action="store_true",
            help="Try again the changes kept with an error.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        retried = staged.retry_failed() if options["retry"] else 0
        done = staged.drain_all(wait=True)  # after a drain at work, not instead of it
        self.stdout.write(
            f"{done.changes} staged changes stored as {done.records} records"
            + (f" ({retried} retried)" if options["retry"] else "")
            + "."
        )
        waiting = staged.failed()
        if waiting:
            self.stdout.write(
                self.style.WARNING(
                    f"{waiting} staged changes wait with an error (see them in the admin, "
                    "under Staged changes); mend the cause, then run with --retry."
                )
            )
