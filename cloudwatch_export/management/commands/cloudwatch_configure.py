"""``manage.py cloudwatch_configure``: Settings -> Log from the command line."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cloudwatch_export import export_settings
from cloudwatch_export.models import MessageFormat


class Command(BaseCommand):
    help = (
        "Configure the export of audit records to CloudWatch Logs. Options not given keep "
        "their value; --map replaces the whole map. Prints the resulting configuration "
        "(never the secret key)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--log-group", help="CloudWatch Logs log group name")
        parser.add_argument("--region", help="AWS region, e.g. eu-west-1")
        parser.add_argument("--access-key", help="AWS access key ID")
        parser.add_argument(
            "--secret-key", help="AWS secret access key; '-' reads it from standard input"
        )
        parser.add_argument(
            "--clear-keys",
            action="store_true",
            help="forget the stored keys: use boto3's default credential chain",
        )
        parser.add_argument("--endpoint-url", help="a CloudWatch-compatible endpoint; '' clears it")
        parser.add_argument("--format", choices=MessageFormat.values, dest="message_format")
        parser.add_argument(
            "--seal-stream",
            help="the stream that witnesses the seals (audit-seals); '' sends them nowhere",
        )
        parser.add_argument(
            "--map",
            action="append",
            metavar="TYPE=STREAM",
            help="send records of TYPE to log stream STREAM (repeat; replaces the map)",
        )
        switch = parser.add_mutually_exclusive_group()
        switch.add_argument("--enable", action="store_true")
        switch.add_argument("--disable", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        secret = options["secret_key"]
        if secret == "-":
            secret = sys.stdin.readline().strip()
        enabled = True if options["enable"] else False if options["disable"] else None
        try:
            changes = export_settings.Changes(
                enabled=enabled,
                log_group=options["log_group"],
                region=options["region"],
                access_key=options["access_key"],
                secret_key=secret,
                endpoint_url=options["endpoint_url"],
                message_format=options["message_format"],
                seal_stream=options["seal_stream"],
                clear_keys=options["clear_keys"],
                mapping=export_settings.parse_map(options["map"]) if options["map"] else None,
            )
            settings = export_settings.apply(changes)
        except ValidationError as exc:
            raise CommandError("; ".join(_messages(exc))) from None
        self.stdout.write("\n".join(export_settings.describe(settings)))


def _messages(exc: ValidationError) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return exc.messages
    return [
        " ".join(errors) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(errors)}"
        for field, errors in exc.message_dict.items()
    ]
