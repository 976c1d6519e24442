"""What went wrong talking to CloudWatch Logs, in plain words, and whether to retry.

The sender retries only what may pass by itself (throttling, 5xx, the network); the
admin's "test connection" and the status page show the same sentences, so an admin
reads "the secret key does not match the access key", not ``SignatureDoesNotMatch``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

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
    cause: str = ""  # the exception's class, or the error code CloudWatch answered
    timed_out: bool = False  # no connection, or no answer, within the timeout
    # The request may have reached CloudWatch and been stored although no answer said
    # so (a read timeout, a connection dropped mid-answer, a 500/502/504): sending it
    # again may make duplicates.
    uncertain: bool = False

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
_UNAVAILABLE = {"ServiceUnavailableException", "ServiceUnavailable"}
_SERVER = {"ServiceUnavailableException", "ServiceUnavailable", "InternalFailure", "InternalError"}
_UNKNOWN_KEY = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId"}
_BAD_SECRET = {"InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature"}
_EXPIRED = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


def classify(exc: BaseException, *, endpoint: str = "") -> Problem:
    """The problem behind an exception raised by a boto3 CloudWatch Logs call."""
    if isinstance(exc, ClientError):
        problem = _client_error(exc)
        code = str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"
        return problem if problem.cause else replace(problem, cause=code)
    cause = type(exc).__name__
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        where = endpoint or "the CloudWatch Logs endpoint"
        return Problem(
            Kind.RETRYABLE,
            f"{where} did not answer in time ({exc}).",
            cause,
            timed_out=True,
            uncertain=isinstance(exc, ReadTimeoutError),  # the request had gone out
        )
    problem = _other(exc, endpoint)
    # A connection that failed to open sent nothing; any other network error may have
    # come after the request was sent.
    uncertain = isinstance(exc, HTTPClientError) and not isinstance(exc, EndpointConnectionError)
    return Problem(problem.kind, problem.message, cause, uncertain=uncertain)


def _other(exc: BaseException, endpoint: str) -> Problem:
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return Problem(
            Kind.SETUP,
            "No access key is set and boto3 found no credentials (environment, ~/.aws, "
            "instance role). Enter an access key and a secret key.",
        )
    where = endpoint or "the CloudWatch Logs endpoint"
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
    cause = code or f"HTTP {status}"
    if code in _THROTTLING:
        return Problem(
            Kind.RETRYABLE, f"CloudWatch Logs is throttling {operation} ({code}).", cause
        )
    if code in _SERVER or status >= 500:
        # 503 and throttling refuse the request; a 500, or a gateway's 502/504, may
        # come after CloudWatch stored the events.
        return Problem(
            Kind.RETRYABLE,
            f"CloudWatch Logs failed on its side ({code or status}): {detail}",
            cause,
            uncertain=status != 503 and code not in _UNAVAILABLE,
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
