"""The boto3 client built from the settings, and the admin's "test connection".

Empty keys mean boto3's default credential chain (environment, profile, instance or
task role); an empty endpoint URL means AWS's endpoint for the region, or
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` when set, which boto3 reads by itself. botocore's
own retries are off: the sender retries with its own backoff, and counting attempts in
one place keeps them bounded and testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from . import config, errors
from .crypto import DecryptionError
from .models import ExportSettings


def client(settings: ExportSettings) -> Any:
    """A CloudWatch Logs client for ``settings`` (a fresh boto3 session: thread-safe)."""
    kwargs: dict[str, Any] = {
        "region_name": settings.region,
        "config": Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=config.connect_timeout(),
            read_timeout=config.read_timeout(),
            max_pool_connections=4,
            # The batcher builds every request within the API's rules; botocore's check
            # of 10,000 events per call would cost more than the call itself.
            parameter_validation=False,
        ),
    }
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    if settings.access_key:
        kwargs["aws_access_key_id"] = settings.access_key
        kwargs["aws_secret_access_key"] = settings.secret_key()
    return boto3.session.Session().client("logs", **kwargs)


def known_region(region: str) -> bool:
    """Whether botocore knows CloudWatch Logs in ``region`` (any partition)."""
    session = boto3.session.Session()
    return any(
        region in session.get_available_regions("logs", partition_name=partition)
        for partition in session.get_available_partitions()
    )


def find_group(logs: Any, name: str) -> dict[str, Any] | None:
    """The log group called ``name`` as DescribeLogGroups shows it, or None."""
    answer = logs.describe_log_groups(logGroupNamePrefix=name, limit=50)
    return next((g for g in answer.get("logGroups", []) if g["logGroupName"] == name), None)


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str


def check(settings: ExportSettings, *, logs: Any = None) -> CheckResult:
    """Try the settings with DescribeLogGroups and say in plain words how it went."""
    if not settings.log_group or not settings.region:
        return CheckResult(False, "Set the log group and the region first.")
    if not settings.endpoint_url and not known_region(settings.region):
        return CheckResult(
            False,
            f"Unknown region {settings.region!r}: boto3 knows no CloudWatch Logs endpoint "
            "there. Check the spelling (for example eu-west-1).",
        )
    try:
        logs = logs or client(settings)
        group = find_group(logs, settings.log_group)
    except DecryptionError as exc:
        return CheckResult(False, str(exc))
    except Exception as exc:  # every failure becomes a sentence for the admin
        return CheckResult(False, errors.classify(exc, endpoint=settings.endpoint_url).message)
    where = f"CloudWatch Logs in {settings.region}"
    if group is None:
        return CheckResult(
            True,
            f"Connected to {where}. Log group {settings.log_group!r} does not exist yet: the "
            "first export creates it (the keys need logs:CreateLogGroup and "
            "logs:CreateLogStream).",
        )
    retention = group.get("retentionInDays")
    kept = f"records kept {retention} days" if retention else "records kept forever"
    return CheckResult(
        True, f"Connected to {where}. Log group {settings.log_group!r} exists ({kept})."
    )
