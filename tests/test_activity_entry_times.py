"""The panel's entries write times as Django's ``date`` filter does (they are written in
Python, ``activity.entry_html``): in the reader's zone, with the zone's name, which
``date`` leaves out for a wall time that a change of clocks makes ambiguous or skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template.defaultfilters import date as date_filter
from django.utils import timezone

from activity.entry_html import _iso, _local, _seconds, _stamp

# Around the clock changes of 2026 in Berlin (29 March, 25 October), St John's and Kolkata.
MOMENTS = (
    [datetime(2026, 3, 29, 0, 30, tzinfo=UTC) + timedelta(minutes=20 * n) for n in range(9)]
    + [datetime(2026, 10, 25, 0, 10, tzinfo=UTC) + timedelta(minutes=20 * n) for n in range(9)]
    + [
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 12, 6, 16, 20, 5, tzinfo=UTC),
    ]
)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"])
def test_times_are_written_as_the_date_filter_writes_them(zone: str) -> None:
    with timezone.override(zone):
        for moment in MOMENTS:
            local = timezone.localtime(moment)
            assert _stamp(moment) == date_filter(local, "Y-m-d H:i:s T"), moment
            assert _seconds(_local(moment)) == date_filter(local, "Y-m-d H:i:s")
            assert _iso(moment) == date_filter(local, "c")


def test_a_naive_time_is_named_in_the_default_zone(settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    naive = datetime(2026, 7, 1, 12, 0)
    assert _stamp(naive) == date_filter(naive, "Y-m-d H:i:s T") == "2026-07-01 12:00:00 CEST"
