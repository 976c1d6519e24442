"""``manage.py seed_demo``: demo people and six weeks of their use of the platform."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand

from catalog.kinds import KINDS
from demo import seed
from demo.people import FOUNDERS


class Command(BaseCommand):
    help = (
        "Create demo users and groups and six weeks of their use of the platform: "
        "entities of every kind with their histories, sign-ins, runs, viewers, errors and "
        "newcomers joining, played in time order through the platform's own code. Safe to "
        "run again: nothing is duplicated."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seed", type=int, default=2024, help="Random seed (the same seed, the same story)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        summary = seed.seed(rng_seed=options["seed"], progress=self._progress)
        elapsed = time.monotonic() - started
        self._print_people(summary)
        if summary.history_skipped:
            self.stdout.write(summary.history_skipped)
        else:
            counts = ", ".join(
                f"{summary.entities.get(kind, 0)} {spec.label_plural.lower()}"
                for kind, spec in KINDS.items()
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Recorded {summary.records:,} events in {summary.sittings:,} sittings "
                    f"over {seed.WEEKS} weeks; created {counts} and {summary.comments} "
                    f"comments; {len(summary.newcomers)} people joined on the way."
                )
            )
        self.stdout.write(f"Done in {elapsed:.1f} s. Browse them at http://127.0.0.1:8000/")

    def _progress(self, done: int, total: int) -> None:
        if sys.stdout.isatty():
            self.stdout.write(f"\rPlaying the history: {done:,} of {total:,} steps", ending="")
            if done == total:
                self.stdout.write("")

    def _print_people(self, summary: seed.SeedSummary) -> None:
        self.stdout.write("Sign in at http://127.0.0.1:8000/ as:")
        for person in FOUNDERS:
            groups = ", ".join(person.groups) or ("superuser" if person.superuser else "-")
            if person.username in summary.founders_created:
                password = person.password
            else:
                password = "(existing user: password unchanged)"
            self.stdout.write(f"  {person.username:<6} {password:<12} {groups}")
        if summary.newcomers:
            joined = ", ".join(summary.newcomers)
            self.stdout.write(f"  and the newcomers ({joined}), each with password NAME-demo")
        self.stdout.write(f"API token for alice: {summary.token}")
        self.stdout.write(
            "  curl -X POST http://127.0.0.1:8000/api/audit/events/ \\\n"
            f'    -H "Authorization: Token {summary.token}" '
            '-H "Content-Type: application/json" \\\n'
            '    -d \'{"type": "log", "message": "HELLO WORLD", '
            '"params": {"test": "value"}}\''
        )
