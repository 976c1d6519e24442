"""``manage.py cloudwatch_export``: drain the CloudWatch outbox from the shell.

``--once`` drains what waits now and reports it (cron, or a check by hand); without
it the command keeps draining every few seconds, which is how the export runs without
Redis and Celery (``make run``'s setup).
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cloudwatch_export import export


class Command(BaseCommand):
    help = "Ship the audit records waiting in the CloudWatch outbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="drain once, report, exit")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between drains without --once"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"]
        if not math.isfinite(interval) or interval <= 0:
            raise CommandError(f"--interval {interval:g}: give a number of seconds above 0")
        if options["once"]:
            report = export.drain()
            self._print(report)
            if report.error:
                raise CommandError(report.error)
            return
        self.stdout.write(f"Draining every {options['interval']:g} s; Ctrl-C stops.")
        try:
            while True:
                report = export.drain()
                if report.eventful:
                    self._print(report)
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    def _print(self, report: export.DrainReport) -> None:
        if report.skipped:
            self.stdout.write(f"Nothing sent: {report.skipped}.")
            return
        for name, stream in sorted(report.streams.items()):
            batches = export.counted(stream.batches, "batch", "batches")
            line = f"{name}: sent {stream.sent} in {batches}"
            if stream.set_aside:
                line += f", set aside {stream.set_aside}"
            if stream.dropped:
                line += f", dropped {stream.dropped} purged"
            if stream.retries:
                retries = export.counted(stream.retries, "retry", "retries")
                line += f", {retries} ({export.counted(stream.timeouts, 'timeout', 'timeouts')})"
            if stream.resent:
                line += f", resent {stream.resent} (possible duplicates)"
            self.stdout.write(line)
        self.stdout.write(
            f"Sent {export.counted(report.sent, 'record', 'records')} in {report.seconds:.2f} s"
            + (f", set aside {report.set_aside}" if report.set_aside else "")
            + "."
        )
        if report.warning:
            self.stdout.write(f"Retried: {report.warning}.")
