"""``manage.py audit_roles [--grant ROLE] [--purge-floor-days N] [--show]``.

Without ``--grant``: which role this process connects as, and whether it could get past
the guard. With it, run as the tables' owner after every ``migrate``: give the
application's role what it needs and nothing more (``audit.db_roles``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import db_roles


class Command(BaseCommand):
    help = "Show the connected role, or grant the application's role its privileges."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grant", metavar="ROLE", help="The application's role.")
        parser.add_argument(
            "--purge-floor-days",
            type=int,
            help="The purge never removes records younger than this (at least 1).",
        )
        parser.add_argument(
            "--show", action="store_true", help="Print the statements without running them."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["grant"]
        floor = options["purge_floor_days"]
        if role is None:
            self._describe()
            return
        if options["show"]:
            for statement in db_roles.statements(role, floor_days=floor):
                self.stdout.write(f"{statement};")
            return
        try:
            done = db_roles.grant(role, floor_days=floor)
        except db_roles.RoleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Granted {role} what the application needs ({len(done)} statements): it "
                "may read and add to the trail, and cannot change, delete or truncate it."
            )
        )

    def _describe(self) -> None:
        me = db_roles.connected_role()
        if me is None:
            self.stdout.write("Not on PostgreSQL: there are no roles to check.")
            return
        if me.superuser:
            verdict = "a superuser: it can bypass the guard (disable triggers, replica mode)"
        elif me.owner:
            verdict = "the tables' owner: it can disable triggers and truncate the trail"
        else:
            verdict = "owns nothing: it cannot get past the guard"
        self.stdout.write(f"Connected as {me.name}, {verdict}.")
