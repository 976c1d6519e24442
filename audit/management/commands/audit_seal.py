"""``manage.py audit_seal``: seal every record stored so far (a beat task does it every
minute); prints what it sealed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit import seals


class Command(BaseCommand):
    help = "Seal every record stored so far that no seal covers yet."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = seals.seal(progress=lambda n: self.stdout.write(f"  sealed {n:,} records"))
        except seals.SealDeferred as exc:
            raise CommandError(str(exc)) from None
        if not done.seals:
            self.stdout.write("Nothing new to seal.")
            return
        last = done.seals[-1]
        self.stdout.write(
            self.style.SUCCESS(
                f"Sealed {done.records:,} records in {len(done.seals)} seal(s), through record "
                f"#{last.last_record_id}; the chain's digest is now {last.digest}."
            )
        )
