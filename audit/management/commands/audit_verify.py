"""``manage.py audit_verify [--from SEAL] [--witness NAME]``: recompute the seals.

Exits 0 when the trail is intact, 1 naming the first record that was changed or removed
(or the seal that was) and the seal that caught it. ``--witness cloudwatch`` also
compares the stored seals with the digests the witness received.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import seals, witnesses
from audit.models import Seal


class Command(BaseCommand):
    help = "Recompute the seals of the trail; exit 1 naming the first change found."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="from_seal", type=int, help="Start at this seal id.")
        parser.add_argument(
            "--witness",
            action="append",
            default=[],
            help="Also compare with an outside witness (cloudwatch).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._check_arguments(options["from_seal"], options["witness"])
        report = seals.verify(from_seal=options["from_seal"], progress=self._progress)
        problems = list(report.problems)
        unavailable: list[str] = []
        for name in options["witness"]:
            try:
                found = witnesses.check_witness(name, Seal.objects.order_by("id"))
            except KeyError as exc:
                problems.append(str(exc.args[0]))
                continue
            except Exception as exc:  # the witness could not be read: no verdict from it
                unavailable.append(f"the witness {name} was unavailable: {str(exc).rstrip('.')}")
                continue
            problems += [f"witness {name}: {problem}" for problem in found]
        if unavailable and not problems:
            # Nothing found, but the comparison asked for was not made: not a pass (and
            # not recorded as one), not a tampering either.
            raise CommandError(
                f"{'; '.join(unavailable)}. The seals were not compared with it "
                f"(the chain alone checked {report.seals:,} seals and found no change); "
                "try again once it can be reached."
            )
        report.problems = problems
        seals.record_verification(report)
        start = f" from seal #{report.from_seal}" if report.from_seal else ""
        self.stdout.write(
            f"Checked {report.seals:,} seals{start} and {report.records:,} records; "
            f"{report.unsealed:,} newer records are not sealed yet."
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS("The trail is intact."))
            return
        self.stdout.write(self.style.ERROR(f"The trail was changed: {problems[0]}"))
        for problem in problems[1:] + unavailable:
            self.stdout.write(f"  also: {problem}")
        sys.exit(1)

    def _check_arguments(self, from_seal: int | None, witness_names: list[str]) -> None:
        """A mistyped argument is a usage error, refused before anything is verified or
        recorded, never reported as a change of the trail. A seal missing between the
        oldest and the newest is still looked for: that one may have been removed."""
        unknown = [name for name in witness_names if name not in witnesses.witness_names()]
        if unknown:
            known = ", ".join(witnesses.witness_names()) or "none is installed"
            raise CommandError(f"--witness: no witness called {unknown[0]!r} ({known}).")
        if from_seal is None:
            return
        newest = Seal.objects.order_by("-id").values_list("id", flat=True).first()
        if from_seal < 1 or newest is None or from_seal > newest:
            span = f"the newest is #{newest}" if newest is not None else "there is none yet"
            raise CommandError(f"--from: there is no seal #{from_seal} ({span}).")

    def _progress(self, done: int, total: int) -> None:
        if not sys.stdout.isatty() or not total:
            return
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        self.stdout.write(f"\r  [{bar}] {done:,}/{total:,} seals", ending="")
        if done == total:
            self.stdout.write("")
