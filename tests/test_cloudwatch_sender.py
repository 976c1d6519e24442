"""The sender against botocore's Stubber: throttling, 5xx, missing group and stream,
refused events, and a poisonous event, none of which moto can produce on demand."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import ANY, Stubber

from cloudwatch_export.batcher import make_event
from cloudwatch_export.sender import Sender

from .cloudwatch_helpers import ACCESS_KEY, REGION, SECRET_KEY

GROUP = "/audit/stubbed"
OK = {"nextSequenceToken": "1"}


def stubbed() -> tuple[Any, Stubber]:
    logs = boto3.session.Session().client(
        "logs",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # never reached: the Stubber answers
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    return logs, Stubber(logs)


def batch(count: int = 3) -> list[Any]:
    return [make_event(i, 100 + i, 1_700_000_000_000 + i, f"event {i}") for i in range(count)]


def put(events: list[Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"logGroupName": GROUP, "logStreamName": "s", "logEvents": ANY}
    if events is not None:
        params["logEvents"] = [{"timestamp": e.timestamp, "message": e.message} for e in events]
    return params


def sender(logs: Any, pauses: list[float]) -> Sender:
    return Sender(logs, GROUP, attempts=4, backoff=0.5, sleep=pauses.append)


def test_throttling_is_retried_with_growing_backoff() -> None:
    logs, stub = stubbed()
    events = batch()
    for _ in range(2):
        stub.add_client_error(
            "put_log_events", "ThrottlingException", "Rate exceeded", 400, expected_params=put()
        )
    stub.add_response("put_log_events", OK, put(events))
    pauses: list[float] = []
    with stub:
        result = sender(logs, pauses).send("s", events)
    stub.assert_no_pending_responses()
    assert result.accepted == events and not result.failed and not result.rejected
    assert len(pauses) == 2
    assert 0.25 <= pauses[0] <= 0.5 and 0.5 <= pauses[1] <= 1.0


@pytest.mark.parametrize(
    ("code", "status"),
    [("ServiceUnavailableException", 503), ("InternalFailure", 500), ("BadGateway", 502)],
)
def test_5xx_answers_are_retried(code: str, status: int) -> None:
    logs, stub = stubbed()
    stub.add_client_error("put_log_events", code, "try later", status, expected_params=put())
    stub.add_response("put_log_events", OK, put())
    pauses: list[float] = []
    with stub:
        result = sender(logs, pauses).send("s", batch())
    assert len(result.accepted) == 3 and len(pauses) == 1


def test_retries_are_bounded_and_the_batch_fails_in_plain_words() -> None:
    logs, stub = stubbed()
    for _ in range(4):
        stub.add_client_error(
            "put_log_events", "ServiceUnavailableException", "down", 503, expected_params=put()
        )
    pauses: list[float] = []
    with stub:
        result = sender(logs, pauses).send("s", batch())
    stub.assert_no_pending_responses()
    assert len(result.failed) == 3 and not result.accepted
    assert "failed on its side" in result.error
    assert len(pauses) == 3


def test_bad_keys_are_not_retried() -> None:
    logs, stub = stubbed()
    stub.add_client_error(
        "put_log_events", "UnrecognizedClientException", "bad token", 400, expected_params=put()
    )
    pauses: list[float] = []
    with stub:
        result = sender(logs, pauses).send("s", batch())
    assert pauses == [] and len(result.failed) == 3
    assert result.error == "AWS does not recognise the access key ID: check the access key."


def test_missing_group_and_stream_are_created_then_the_batch_is_sent() -> None:
    logs, stub = stubbed()
    events = batch()
    stub.add_client_error(
        "put_log_events", "ResourceNotFoundException", "no group", 400, expected_params=put()
    )
    stub.add_response("create_log_group", {}, {"logGroupName": GROUP})
    stub.add_response("create_log_stream", {}, {"logGroupName": GROUP, "logStreamName": "s"})
    stub.add_response("put_log_events", OK, put(events))
    with stub:
        result = sender(logs, []).send("s", events)
    stub.assert_no_pending_responses()
    assert result.accepted == events


def test_an_existing_group_is_fine_when_only_the_stream_is_missing() -> None:
    logs, stub = stubbed()
    stub.add_client_error("put_log_events", "ResourceNotFoundException", "no stream", 400)
    stub.add_client_error("create_log_group", "ResourceAlreadyExistsException", "exists", 400)
    stub.add_response("create_log_stream", {})
    stub.add_response("put_log_events", OK)
    with stub:
        result = sender(logs, []).send("s", batch())
    assert len(result.accepted) == 3


def test_events_refused_by_cloudwatch_are_reported_the_rest_accepted() -> None:
    logs, stub = stubbed()
    events = batch(6)
    stub.add_response(
        "put_log_events",
        {
            "nextSequenceToken": "2",
            "rejectedLogEventsInfo": {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 5},
        },
    )
    with stub:
        result = sender(logs, []).send("s", events)
    assert [e.entry_id for e in result.accepted] == [2, 3, 4]
    assert set(result.rejected) == {0, 1, 5}
    assert "older than 14 days" in result.rejected[0]
    assert "2 hours in the future" in result.rejected[5]


def test_a_poisonous_event_is_isolated_by_halving_the_batch() -> None:
    logs, stub = stubbed()
    a, b, c, d = events = batch(4)
    invalid = ("put_log_events", "InvalidParameterException", "bad event", 400)
    stub.add_client_error(*invalid, expected_params=put(events))
    stub.add_response("put_log_events", OK, put([a, b]))
    stub.add_client_error(*invalid, expected_params=put([c, d]))
    stub.add_response("put_log_events", OK, put([c]))
    stub.add_client_error(*invalid, expected_params=put([d]))
    with stub:
        result = sender(logs, []).send("s", events)
    stub.assert_no_pending_responses()
    assert result.accepted == [a, b, c]
    assert list(result.rejected) == [d.entry_id]
    assert "refused the request: bad event" in result.rejected[d.entry_id]


class Answers:
    """A stand-in client: each PutLogEvents call raises or returns the next answer."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def put_log_events(self, **kwargs: Any) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def client_error(code: str, status: int) -> Any:
    body = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(body, "PutLogEvents")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "timed_out", "resent"),
    [
        (ReadTimeoutError(endpoint_url="http://x/"), True, 3),  # it may have arrived
        (ConnectTimeoutError(endpoint_url="http://x/"), True, 0),  # it never left
        (EndpointConnectionError(endpoint_url="http://x/"), False, 0),
        (ConnectionClosedError(endpoint_url="http://x/"), False, 3),  # dropped mid-answer
        (client_error("InternalFailure", 500), False, 3),
        (client_error("ServiceUnavailableException", 503), False, 0),
        (client_error("ThrottlingException", 400), False, 0),
    ],
)
def test_every_retry_is_logged_and_a_resend_after_a_doubtful_try_counted(
    caplog: Any, error: BaseException, timed_out: bool, resent: int
) -> None:
    events = batch()
    pauses: list[float] = []
    with caplog.at_level(logging.WARNING, logger="cloudwatch_export"):
        result = sender(Answers(error, OK), pauses).send("s", events)  # type: ignore[arg-type]
    assert result.accepted == events and len(pauses) == 1
    assert (result.retries, result.timeouts, result.resent) == (1, int(timed_out), resent)
    (record,) = [r for r in caplog.records if r.name == "cloudwatch_export"]
    assert record.levelno == logging.WARNING
    assert (record.stream, record.attempt, record.batch_size) == ("s", 1, 3)  # type: ignore[attr-defined]
    cause = type(error).__name__
    if isinstance(error, ClientError):
        cause = error.response["Error"]["Code"]
    assert record.error_class == cause  # type: ignore[attr-defined]
    text = record.getMessage()
    assert ("timed out" in text) is timed_out and "attempt 1 of 4" in text and cause in text
    assert ("may duplicate" in text) is bool(resent)
