"""The PutLogEvents limits, pinned on the batcher alone (moto enforces none of them)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cloudwatch_export import batcher
from cloudwatch_export.batcher import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    TRUNCATION_MARK,
    Event,
    make_event,
    plan,
    split_window,
)

NOW = batcher.millis(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
HOUR = 3_600_000
DAY = 24 * HOUR


def events(count: int, *, size: int = 10, start: int = NOW - HOUR, step: int = 1) -> list[Event]:
    return [make_event(i, i, start + i * step, f"{i:08d}".ljust(size, "x")) for i in range(count)]


def batch_bytes(batch: list[Event]) -> int:
    return sum(len(event.message.encode()) + EVENT_OVERHEAD for event in batch)


def test_10001_events_make_a_full_batch_and_one_more() -> None:
    batches = plan(events(10_001))
    assert [len(batch) for batch in batches] == [MAX_BATCH_EVENTS, 1]
    assert batches[1][0].entry_id == 10_000


def test_a_2_mib_backlog_is_split_under_the_byte_limit_counting_26_bytes_an_event() -> None:
    backlog = events(2048, size=1024)  # 2 MiB of messages, plus 26 bytes each
    assert sum(e.size for e in backlog) > 2 * 1024 * 1024
    batches = plan(backlog)
    assert len(batches) == 3
    assert all(batch_bytes(batch) <= MAX_BATCH_BYTES for batch in batches)
    # Full batches: one more event would have gone over the limit.
    assert all(
        batch_bytes(batch) + 1024 + EVENT_OVERHEAD > MAX_BATCH_BYTES for batch in batches[:2]
    )
    assert [e.entry_id for batch in batches for e in batch] == list(range(2048))


def test_a_300_kib_event_is_cut_to_256_kib_at_a_character_boundary() -> None:
    message = '{"id":42,"message":"' + "é" * 150_000 + '"}'  # 300 KiB in UTF-8
    assert len(message.encode()) > 300_000
    event = make_event(1, 42, NOW, message)
    encoded = event.message.encode()
    assert len(encoded) + EVENT_OVERHEAD <= MAX_EVENT_BYTES
    assert len(encoded) + EVENT_OVERHEAD > MAX_EVENT_BYTES - 4  # cut no shorter than needed
    assert event.message.startswith('{"id":42,')  # the record id survives
    assert event.message.endswith(TRUNCATION_MARK)
    assert event.size == len(encoded) + EVENT_OVERHEAD
    small = make_event(2, 43, NOW, "short")
    assert small.message == "short" and small.size == 5 + EVENT_OVERHEAD


def test_a_25_hour_backlog_never_spans_24_hours_in_one_batch() -> None:
    backlog = events(26, start=NOW - 25 * HOUR - 1, step=HOUR)  # one an hour, 25 h apart
    batches = plan(backlog)
    assert len(batches) == 2
    for batch in batches:
        assert batch[-1].timestamp - batch[0].timestamp < DAY
    assert sum(len(batch) for batch in batches) == 26


def test_batches_are_chronological_whatever_the_claim_order() -> None:
    backlog = events(500, step=7)
    random.Random(4).shuffle(backlog)
    (batch,) = plan(backlog)
    stamps = [event.timestamp for event in batch]
    assert stamps == sorted(stamps)


def test_ties_keep_record_order() -> None:
    backlog = [make_event(i, 100 - i, NOW, "same ms") for i in range(5)]
    (batch,) = plan(backlog)
    assert [event.record_id for event in batch] == [96, 97, 98, 99, 100]


def test_events_outside_the_accepted_window_are_set_aside_with_the_reason() -> None:
    fresh = make_event(1, 1, NOW - HOUR, "fresh")
    edge_old = make_event(2, 2, NOW - 14 * DAY, "exactly 14 days")
    old = make_event(3, 3, NOW - 14 * DAY - 1, "too old")
    edge_new = make_event(4, 4, NOW + 2 * HOUR, "exactly 2 hours ahead")
    ahead = make_event(5, 5, NOW + 2 * HOUR + 1, "too new")
    accepted, aside = split_window([fresh, edge_old, old, edge_new, ahead], now=NOW)
    assert [event.entry_id for event in accepted] == [1, 2, 4]
    assert set(aside) == {3, 5}
    assert "older than 14 days" in aside[3]
    assert "2 hours in the future" in aside[5]


def test_a_shorter_group_retention_narrows_the_window() -> None:
    week_old = make_event(1, 1, NOW - 8 * DAY, "8 days")
    accepted, aside = split_window([week_old], now=NOW, retention_days=7)
    assert accepted == [] and "retention (7 days)" in aside[1]
    accepted, aside = split_window([week_old], now=NOW, retention_days=30)
    assert accepted == [week_old] and aside == {}


def test_millis_is_exact() -> None:
    moment = datetime(2025, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC)
    assert batcher.millis(moment) == 1_735_689_600_999
    assert batcher.millis(moment + timedelta(microseconds=1)) == 1_735_689_601_000
