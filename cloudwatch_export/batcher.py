"""Cutting a stream's waiting records into PutLogEvents batches: plain functions.

CloudWatch Logs refuses a whole request that breaks one of its limits, and moto
enforces none of them, so they live here where unit tests can pin each one:

* at most 10,000 events and 1,048,576 bytes per request, counting each event's UTF-8
  message plus 26 bytes;
* one event at most 256 KiB (with those 26 bytes): longer messages are cut, at a
  character boundary, with a visible mark (the record id comes first in both message
  formats, so it survives the cut);
* events in chronological order, and no request spanning 24 hours or more;
* events older than 14 days (or than the group's retention) or more than 2 hours
  ahead are refused by the service, so they are set aside with the reason instead of
  being sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EVENT_OVERHEAD = 26
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 256 * 1024
MAX_MESSAGE_BYTES = MAX_EVENT_BYTES - EVENT_OVERHEAD
MAX_BATCH_SPAN_MS = 24 * 60 * 60 * 1000
MAX_AGE_DAYS = 14
MAX_AHEAD_MS = 2 * 60 * 60 * 1000
TRUNCATION_MARK = " …[truncated]"
_DAY_MS = 24 * 60 * 60 * 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Event:
    """One log event: an outbox row's record, rendered. ``size`` is what it weighs
    against the request limit (message bytes + 26)."""

    entry_id: int
    record_id: int
    timestamp: int  # milliseconds since the epoch, as PutLogEvents wants them
    message: str
    size: int


def millis(moment: datetime) -> int:
    """Exact milliseconds since the epoch (no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def cut(message: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """``message`` if it fits in ``max_bytes`` of UTF-8, else its head and a mark."""
    return _cut(message, message.encode(), max_bytes)[0]


def _cut(message: str, data: bytes, max_bytes: int) -> tuple[str, int]:
    if len(data) <= max_bytes:
        return message, len(data)
    mark = TRUNCATION_MARK.encode()
    head = data[: max_bytes - len(mark)].decode("utf-8", errors="ignore") + TRUNCATION_MARK
    return head, len(head.encode())


def make_event(entry_id: int, record_id: int, timestamp: int, message: str) -> Event:
    message, size = _cut(message, message.encode(), MAX_MESSAGE_BYTES)
    return Event(entry_id, record_id, timestamp, message, size + EVENT_OVERHEAD)


def split_window(
    events: Iterable[Event], *, now: int, retention_days: int | None = None
) -> tuple[list[Event], dict[int, str]]:
    """The events CloudWatch would take now, and the reasons of the others by entry id."""
    max_age = MAX_AGE_DAYS if retention_days is None else min(MAX_AGE_DAYS, retention_days)
    oldest, newest = now - max_age * _DAY_MS, now + MAX_AHEAD_MS
    if retention_days is not None and retention_days < MAX_AGE_DAYS:
        too_old = f"older than the log group's retention ({retention_days} days)"
    else:
        too_old = f"older than {MAX_AGE_DAYS} days: CloudWatch Logs refuses such events"
    too_new = "more than 2 hours in the future: CloudWatch Logs refuses such events"
    accepted, set_aside = [], {}
    for event in events:
        if event.timestamp < oldest:
            set_aside[event.entry_id] = too_old
        elif event.timestamp > newest:
            set_aside[event.entry_id] = too_new
        else:
            accepted.append(event)
    return accepted, set_aside


def plan(events: Iterable[Event], max_events: int = MAX_BATCH_EVENTS) -> list[list[Event]]:
    """Chronological batches, each within the count, size and 24-hour limits."""
    ordered = chronological(events)
    batches, start = [], 0
    while start < len(ordered):
        end = _batch_end(ordered, start, max_events)
        batches.append(ordered[start:end])
        start = end
    return batches


def take(
    events: Iterable[Event], max_events: int = MAX_BATCH_EVENTS
) -> tuple[list[Event], list[Event]]:
    """The first batch ``plan`` would make, and the events left for later batches."""
    ordered = chronological(events)
    end = _batch_end(ordered, 0, max_events)
    return ordered[:end], ordered[end:]


def chronological(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda item: (item.timestamp, item.record_id))


def _batch_end(ordered: list[Event], start: int, max_events: int) -> int:
    """Where the batch that starts at ``ordered[start]`` ends (exclusive)."""
    max_events = min(max_events, MAX_BATCH_EVENTS)
    first = ordered[start].timestamp
    size, end = 0, start
    while end < len(ordered):
        event = ordered[end]
        if end > start and (
            end - start >= max_events
            or size + event.size > MAX_BATCH_BYTES
            or event.timestamp - first >= MAX_BATCH_SPAN_MS
        ):
            break
        size += event.size
        end += 1
    return end
