"""Validation of names and keys as CloudWatch Logs and IAM define them.

Refusing a bad name when it is typed beats a PutLogEvents error hours later in a
worker's log. The rules are AWS's own (CreateLogGroup, CreateLogStream, IAM access
key ids); a region is checked for its shape only, since AWS adds regions faster than
botocore's tables: "test connection" says whether boto3 knows it.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

LOG_GROUP_RE = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ACCESS_KEY_RE = re.compile(r"^\w{16,128}$", re.ASCII)
MAX_STREAM_LENGTH = 512


def validate_log_group(name: str) -> None:
    if not LOG_GROUP_RE.match(name or ""):
        raise ValidationError(
            "A log group name is 1 to 512 characters of letters, digits and . - _ / #.",
            code="log_group",
        )


def validate_stream(name: str) -> None:
    if not name or len(name) > MAX_STREAM_LENGTH:
        raise ValidationError("A log stream name is 1 to 512 characters.", code="stream")
    if ":" in name or "*" in name:
        raise ValidationError("A log stream name cannot contain ':' or '*'.", code="stream")


def validate_region(name: str) -> None:
    if not REGION_RE.match(name or ""):
        raise ValidationError("A region looks like eu-west-1 or us-gov-east-1.", code="region")


def validate_access_key(value: str) -> None:
    if value and not ACCESS_KEY_RE.match(value):
        raise ValidationError(
            "An access key ID is 16 to 128 letters and digits (AKIA...).", code="access_key"
        )


def validate_endpoint_url(value: str) -> None:
    if value:
        URLValidator(schemes=["http", "https"])(value)
