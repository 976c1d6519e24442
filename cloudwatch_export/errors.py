"""What went wrong talking to CloudWatch Logs, in plain words, and whether to retry.

The sender retries only what may pass by itself (throttling, 5xx, the network); the
admin's "test connection" and the status page show the same sentences, so an admin
reads "the secret key does not match the access key", not ``SignatureDoesNotMatch``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)


class Kind(enum.Enum):
    RETRYABLE = "retryable"  # throttling, 5xx, network: try again soon
    MISSING = "missing"  # log group or stream absent: create them
    CONTENT = "content"  # the request itself was refused (InvalidParameterException)
    SETUP = "setup"  # keys, permissions, region: an admin must act


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Kind
    message: str

    @property
    def retryable(self) -> bool:
        return self.kind is Kind.RETRYABLE


_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
_SERVER = {"ServiceUnavailableException", "ServiceUnavailable", "InternalFailure", "InternalError"}
_UNKNOWN_KEY = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId"}
_BAD_SECRET = {"InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature"}
_EXPIRED = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


def classify(exc: BaseException, *, endpoint: str = "") -> Problem:
    """The problem behind an exception raised by a boto3 CloudWatch Logs call."""
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return Problem(
            Kind.SETUP,
            "No access key is set and boto3 found no credentials (environment, ~/.aws, "
            "instance role). Enter an access key and a secret key.",
        )
    where = endpoint or "the CloudWatch Logs endpoint"
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return Problem(Kind.RETRYABLE, f"{where} did not answer in time ({exc}).")
    if isinstance(exc, EndpointConnectionError):
        return Problem(Kind.RETRYABLE, f"Could not reach {where}: {exc}.")
    if isinstance(exc, HTTPClientError | BotoCoreError):
        return Problem(Kind.RETRYABLE, f"Network error talking to {where}: {exc}.")
    return Problem(Kind.SETUP, f"Unexpected error: {type(exc).__name__}: {exc}")


def _client_error(exc: ClientError) -> Problem:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    detail = str(error.get("Message", "")).strip()
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    operation = exc.operation_name
    if code in _THROTTLING:
        return Problem(Kind.RETRYABLE, f"CloudWatch Logs is throttling {operation} ({code}).")
    if code in _SERVER or status >= 500:
        return Problem(
            Kind.RETRYABLE, f"CloudWatch Logs failed on its side ({code or status}): {detail}"
        )
    if code == "ResourceNotFoundException":
        return Problem(Kind.MISSING, f"The log group or stream does not exist: {detail}")
    if code in _UNKNOWN_KEY:
        return Problem(
            Kind.SETUP, "AWS does not recognise the access key ID: check the access key."
        )
    if code in _BAD_SECRET:
        return Problem(Kind.SETUP, "The secret key does not match the access key.")
    if code in _EXPIRED:
        return Problem(Kind.SETUP, "The credentials have expired: enter fresh keys.")
    if code in _DENIED:
        return Problem(
            Kind.SETUP,
            f"The keys are valid but not allowed to call {operation}: grant them "
            "logs:DescribeLogGroups, logs:CreateLogGroup, logs:CreateLogStream and "
            "logs:PutLogEvents on the log group.",
        )
    if code == "InvalidParameterException":
        return Problem(Kind.CONTENT, f"CloudWatch Logs refused the request: {detail}")
    return Problem(Kind.SETUP, f"CloudWatch Logs refused {operation}: {code}: {detail}")
