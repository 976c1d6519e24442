"""Validation of names and keys as CloudWatch Logs and IAM define them.

Refusing a bad name when it is typed beats a PutLogEvents error hours later in a
worker's log. The rules are AWS's own (CreateLogGroup, CreateLogStream, IAM access
key ids); a region is checked for its shape only, since AWS adds regions faster than
botocore's tables: "test connection" says whether boto3 knows it.

An access key id has IAM's shape only when it goes to AWS itself: with an endpoint URL
(moto, LocalStack, which take any key: their users type ``test``) any key that fits in
an HTTP header is accepted, so ``validate_access_key`` is the field's rule and
``validate_aws_access_key`` is applied by the model when no endpoint URL is set.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

LOG_GROUP_RE = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", re.ASCII)
ACCESS_KEY_RE = re.compile(r"\w{16,128}", re.ASCII)  # IAM's own rule
# Any endpoint: printable ASCII without spaces (the key is sent in the Authorization
# header, which takes nothing else), at most the field's 128 characters.
ANY_ACCESS_KEY_RE = re.compile(r"[\x21-\x7e]{1,128}")
MAX_STREAM_LENGTH = 512


def validate_log_group(name: str) -> None:
    if not LOG_GROUP_RE.fullmatch(name or ""):
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
    if not REGION_RE.fullmatch(name or ""):
        raise ValidationError("A region looks like eu-west-1 or us-gov-east-1.", code="region")


def validate_access_key(value: str) -> None:
    """What any endpoint takes (the field's validator)."""
    if value and not ANY_ACCESS_KEY_RE.fullmatch(value):
        raise ValidationError(
            "An access key ID is 1 to 128 characters, without spaces or control characters "
            "(printable ASCII).",
            code="access_key",
        )


def validate_aws_access_key(value: str) -> None:
    """IAM's shape, for a key sent to AWS (no endpoint URL). A value that already fails
    ``validate_access_key`` is left to that validator's message."""
    if value and ANY_ACCESS_KEY_RE.fullmatch(value) and not ACCESS_KEY_RE.fullmatch(value):
        raise ValidationError(
            "An access key ID is 16 to 128 letters and digits (AKIA...). With an endpoint "
            "URL (moto, LocalStack) any key is accepted.",
            code="access_key",
        )


def validate_endpoint_url(value: str) -> None:
    if value:
        URLValidator(schemes=["http", "https"])(value)
        if not value.isascii():  # botocore refuses it ("Invalid endpoint") on every send
            raise ValidationError(
                "An endpoint URL is ASCII: write an internationalised host name in its "
                "xn-- (punycode) form.",
                code="endpoint_url",
            )
