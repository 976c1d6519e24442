"""Sending one stream's batches with PutLogEvents.

* The log group and stream are created when PutLogEvents says they are missing
  (ResourceNotFoundException), then the batch is sent again; no call is spent on
  checking for them beforehand.
* Throttling, 5xx and network errors are retried with exponential backoff and jitter,
  a bounded number of times; after that the batch fails and its records wait in the
  outbox for a later claim. Every retry and every timeout is logged (logger
  ``cloudwatch_export``, warning), and a retry after an attempt that may have delivered
  the batch (a read timeout, a dropped connection, a 500) is counted as a resend.
* Events CloudWatch refuses (``rejectedLogEventsInfo``) are reported with the reason,
  and the rest of the batch counts as accepted.
* A batch refused whole as invalid (InvalidParameterException, which the batcher's
  limits should make impossible) is split in halves until the one bad event is found,
  so one poisonous record never holds back the others.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import config, connection, errors
from .batcher import Event

MAX_PAUSE_SECONDS = 20.0

logger = logging.getLogger("cloudwatch_export")


@dataclass(slots=True)
class SendResult:
    accepted: list[Event] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)  # outbox entry id -> reason
    failed: list[Event] = field(default_factory=list)  # not delivered: try again later
    error: str = ""
    retries: int = 0  # PutLogEvents calls made again after a retryable error
    timeouts: int = 0  # calls that got no connection or no answer in time
    resent: int = 0  # events sent again after a call that may have delivered them
    uncertain: bool = False  # some call may have delivered the failed events
    problems: list[str] = field(default_factory=list)  # what was retried, in words

    def merge(self, other: SendResult) -> None:
        self.accepted += other.accepted
        self.rejected.update(other.rejected)
        self.failed += other.failed
        self.error = self.error or other.error
        self.retries += other.retries
        self.timeouts += other.timeouts
        self.resent += other.resent
        self.uncertain = self.uncertain or other.uncertain
        self.problems += other.problems


class SendFailure(Exception):
    def __init__(self, problem: errors.Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


_REJECTED_REASONS = {
    "tooNewLogEventStartIndex": "CloudWatch Logs refused it: more than 2 hours in the future",
    "tooOldLogEventEndIndex": "CloudWatch Logs refused it: older than 14 days",
    "expiredLogEventEndIndex": "CloudWatch Logs refused it: older than the group's retention",
}


class Sender:
    """Puts batches into one log group through one boto3 client."""

    def __init__(
        self,
        logs: Any,
        log_group: str,
        *,
        endpoint: str = "",
        attempts: int | None = None,
        backoff: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.logs = logs
        self.log_group = log_group
        self.endpoint = endpoint
        self.attempts = attempts or config.send_attempts()
        self.backoff = config.send_backoff_seconds() if backoff is None else backoff
        self.sleep = sleep
        self._retention: int | None = None
        self._retention_known = False

    def retention_days(self) -> int | None:
        """The group's retention (None: forever, or unknown); asked once per sender
        (one drain). Without permission to describe, or without an answer, the 14-day
        rule alone applies: not knowing costs at most some events CloudWatch refuses."""
        if not self._retention_known:
            self._retention_known = True
            try:
                group = connection.find_group(self.logs, self.log_group)
            except Exception as exc:
                problem = errors.classify(exc, endpoint=self.endpoint)
                logger.warning(
                    "DescribeLogGroups %s (%s: %s): the log group's retention is unknown "
                    "for this drain, the 14-day rule alone applies",
                    "timed out" if problem.timed_out else "failed",
                    problem.cause,
                    problem.message,
                    extra={"error_class": problem.cause, "timed_out": problem.timed_out},
                )
                return None
            self._retention = group.get("retentionInDays") if group else None
        return self._retention

    def send(self, stream: str, events: list[Event]) -> SendResult:
        """Deliver ``events`` (one planned batch, chronological) to ``stream``."""
        result = SendResult()
        if not events:
            return result
        try:
            answer = self._put(stream, events, result)
        except SendFailure as failure:
            problem = failure.problem
            if problem.kind is errors.Kind.CONTENT and len(events) > 1:
                middle = len(events) // 2
                result.merge(self.send(stream, events[:middle]))
                if result.failed:  # the service is unwell: do not push the other half
                    result.failed += events[middle:]
                else:
                    result.merge(self.send(stream, events[middle:]))
            elif problem.kind is errors.Kind.CONTENT:
                result.rejected[events[0].entry_id] = problem.message
            else:
                result.failed, result.error = list(events), problem.message
            return result
        rejected = _rejected(answer.get("rejectedLogEventsInfo") or {}, events)
        result.rejected = rejected
        result.accepted = [event for event in events if event.entry_id not in rejected]
        return result

    def _put(self, stream: str, events: list[Event], result: SendResult) -> dict[str, Any]:
        payload = [{"timestamp": event.timestamp, "message": event.message} for event in events]
        attempt, created = 0, False
        while True:
            attempt += 1
            try:
                return self.logs.put_log_events(
                    logGroupName=self.log_group, logStreamName=stream, logEvents=payload
                )
            except Exception as exc:
                problem = errors.classify(exc, endpoint=self.endpoint)
                if problem.kind is errors.Kind.MISSING and not created:
                    self._create(stream)
                    created, attempt = True, attempt - 1
                    continue
                result.timeouts += problem.timed_out
                result.uncertain = result.uncertain or problem.uncertain
                if problem.retryable and attempt < self.attempts:
                    pause = self._pause(attempt)
                    result.retries += 1
                    result.resent += len(events) if problem.uncertain else 0
                    result.problems.append(f"{problem.cause}: {problem.message}")
                    self._warn(stream, attempt, len(events), problem, f"retrying in {pause:.2f} s")
                    self.sleep(pause)
                    continue
                if problem.retryable:
                    self._warn(stream, attempt, len(events), problem, "giving up for now")
                raise SendFailure(problem) from exc

    def _warn(
        self, stream: str, attempt: int, size: int, problem: errors.Problem, then: str
    ) -> None:
        what = "timed out" if problem.timed_out else "failed"
        if problem.uncertain:
            then += " (it may have arrived: sending it again may duplicate it)"
        message = problem.message.rstrip(".")
        logger.warning(
            "PutLogEvents to stream %r %s (attempt %d of %d, batch of %d events): %s: %s; %s",
            stream, what, attempt, self.attempts, size, problem.cause, message, then,
            extra={
                "stream": stream,
                "attempt": attempt,
                "batch_size": size,
                "error_class": problem.cause,
                "timed_out": problem.timed_out,
            },
        )  # fmt: skip

    def _pause(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.backoff * 2 ** (attempt - 1), MAX_PAUSE_SECONDS)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _create(self, stream: str) -> None:
        for call, kwargs in (
            (self.logs.create_log_group, {"logGroupName": self.log_group}),
            (
                self.logs.create_log_stream,
                {"logGroupName": self.log_group, "logStreamName": stream},
            ),
        ):
            try:
                call(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                    raise SendFailure(errors.classify(exc, endpoint=self.endpoint)) from exc
            except Exception as exc:
                raise SendFailure(errors.classify(exc, endpoint=self.endpoint)) from exc


def _rejected(info: dict[str, int], events: list[Event]) -> dict[int, str]:
    """Entry ids of the events named by ``rejectedLogEventsInfo``, with the reason."""
    rejected: dict[int, str] = {}
    if "tooNewLogEventStartIndex" in info:
        for event in events[info["tooNewLogEventStartIndex"] :]:
            rejected[event.entry_id] = _REJECTED_REASONS["tooNewLogEventStartIndex"]
    for key in ("tooOldLogEventEndIndex", "expiredLogEventEndIndex"):
        if key in info:
            for event in events[: info[key] + 1]:
                rejected[event.entry_id] = _REJECTED_REASONS[key]
    return rejected
