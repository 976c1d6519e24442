"""``manage.py seed_demo``: demo users, groups and four weeks of activity."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from audit import demo


class Command(BaseCommand):
    help = (
        "Create demo users and groups and a realistic spread of audit events over the "
        "last four weeks. Safe to run again: nothing is duplicated."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seed", type=int, default=2024, help="Random seed (the same seed, the same story)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        summary = demo.seed(rng_seed=options["seed"])
        elapsed = time.monotonic() - started
        self._print_people(summary)
        if summary.activity_existed:
            self.stdout.write("Demo activity was already there: no events added.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Recorded {summary.records:,} events in {summary.sessions:,} sessions "
                    f"in {elapsed:.1f} s."
                )
            )

    def _print_people(self, summary: demo.SeedSummary) -> None:
        self.stdout.write("Sign in at http://127.0.0.1:8000/ as:")
        for spec in demo.DEMO_USERS:
            groups = ", ".join(spec.groups) or ("superuser" if spec.superuser else "-")
            if spec.username in summary.users_created:
                password = spec.password
            else:
                password = "(existing user: password unchanged)"
            self.stdout.write(f"  {spec.username:<6} {password:<12} {groups}")
        self.stdout.write(f"API token for alice: {summary.token}")
        self.stdout.write(
            "  curl -X POST http://127.0.0.1:8000/api/audit/events/ \\\n"
            f'    -H "Authorization: Token {summary.token}" '
            '-H "Content-Type: application/json" \\\n'
            '    -d \'{"type": "log", "message": "HELLO WORLD", '
            '"params": {"test": "value"}}\''
        )
