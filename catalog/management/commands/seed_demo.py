"""``manage.py seed_demo``: demo people, four weeks of activity, and the platform's
entities with their histories.

It lives in ``catalog`` because it needs both apps, and ``audit`` must not import
``catalog``: the people and their general activity come from ``audit.demo``, the
entities and their histories from ``catalog.demo``.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from audit import demo as audit_demo
from catalog import demo as catalog_demo
from catalog.kinds import KINDS


class Command(BaseCommand):
    help = (
        "Create demo users and groups, a realistic spread of audit events over the last "
        "four weeks, and entities of every kind with their histories. Safe to run "
        "again: nothing is duplicated."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seed", type=int, default=2024, help="Random seed (the same seed, the same story)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        summary = audit_demo.seed(rng_seed=options["seed"])
        users = {
            user.username: user
            for user in User.objects.filter(
                username__in=[spec.username for spec in audit_demo.DEMO_USERS]
            ).prefetch_related("groups")
        }
        groups = {group.name: group for group in Group.objects.filter(name__in=audit_demo.GROUPS)}
        catalog = catalog_demo.seed(users, groups, rng_seed=options["seed"])
        elapsed = time.monotonic() - started
        self._print_people(summary)
        if summary.activity_existed:
            self.stdout.write("Demo activity was already there: no events added.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Recorded {summary.records:,} events in {summary.sessions:,} sessions."
                )
            )
        if catalog.existed:
            self.stdout.write("Demo entities were already there: none added.")
        else:
            counts = ", ".join(
                f"{catalog.entities.get(kind, 0)} {spec.label_plural.lower()}"
                for kind, spec in KINDS.items()
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created {counts}; {catalog.comments} comments and {catalog.records:,} "
                    f"history records in {catalog.sessions} sessions."
                )
            )
        self.stdout.write(f"Done in {elapsed:.1f} s. Browse them at http://127.0.0.1:8000/catalog/")

    def _print_people(self, summary: audit_demo.SeedSummary) -> None:
        self.stdout.write("Sign in at http://127.0.0.1:8000/ as:")
        for spec in audit_demo.DEMO_USERS:
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
