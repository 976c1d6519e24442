"""The panel's entries write times as Django's ``date`` filter does (they are written in
Python, ``activity.entry_html``): in the reader's zone, with the zone's name, which
``date`` leaves out for a wall time that a change of clocks makes ambiguous or skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template.defaultfilters import date as date_filter
from django.utils import timezone

from activity.entry_html import _iso, _Reader, _seconds, _stamp

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
        reader = _Reader(viewer=None)  # reads the zone once, for its page
        for moment in MOMENTS:
            local = timezone.localtime(moment)
            shown = reader.local(moment)
            assert shown == local and shown.tzinfo == local.tzinfo, moment
            assert _stamp(shown) == date_filter(local, "Y-m-d H:i:s T"), moment
            assert _seconds(shown) == date_filter(local, "Y-m-d H:i:s")
            assert _iso(shown) == date_filter(local, "c")


def test_a_naive_time_is_named_in_the_default_zone(settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    naive = datetime(2026, 7, 1, 12, 0)
    shown = _Reader(viewer=None).local(naive)
    assert shown is naive
    assert _stamp(shown) == date_filter(naive, "Y-m-d H:i:s T") == "2026-07-01 12:00:00 CEST"


# Ages well inside their minute, so that the few milliseconds between two readings of
# the clock cannot move one across a boundary.
AGES = [
    timedelta(seconds=20),
    timedelta(minutes=1, seconds=30),
    timedelta(minutes=10, seconds=25),
    timedelta(minutes=10, seconds=35),
    timedelta(minutes=59, seconds=30),
    timedelta(hours=1, minutes=0, seconds=30),
    timedelta(hours=2, minutes=10),
    timedelta(hours=2, minutes=50),
    timedelta(hours=23, minutes=59, seconds=30),
    timedelta(days=1, minutes=0, seconds=30),
    timedelta(days=3, hours=4, minutes=10),
    timedelta(days=3, hours=4, minutes=50),
    timedelta(days=13, hours=23, minutes=30),
    timedelta(days=14, minutes=30),
    timedelta(days=27, hours=23, minutes=59, seconds=30),
    timedelta(days=28, minutes=30),
    timedelta(days=31, hours=5),
    timedelta(days=400),
    -timedelta(hours=3, minutes=30),  # a time ahead of the clock
]


def test_a_pages_ages_read_as_naturaltime_reads_them() -> None:
    """The entries' "3 hours ago" are worked out once per text a page shows
    (``_Reader.age``); each still reads as ``naturaltime`` reads its own time, those of
    the same hour or minute included."""
    from django.contrib.humanize.templatetags.humanize import naturaltime

    from activity.entry_html import _Reader

    reader = _Reader(viewer=None)
    moments = [timezone.now() - age for age in AGES]
    for moment in [*moments, *moments]:  # the second time round from what was kept
        assert reader.age(moment) == naturaltime(moment), moment
    assert reader.age(moments[6]) == reader.age(moments[7]) == "2\xa0hours ago"
    assert reader.age(moments[10]) == "3\xa0days, 4\xa0hours ago"


# Clocks at the ends of months, of a leap February, of a day and of a second; for each, a
# time every 7 h 13 min 17.123457 s back from four weeks to two and a half years, so that
# most days hold moments on either side of the clock's time of day, and moments that
# differ from the clock's time of day by a microsecond, a fraction of a second, a day.
CLOCKS = [
    datetime(2026, 3, 31, 10, 0, 0, 500000, tzinfo=UTC),
    datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2028, 2, 29, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 12, 7, 4, 5, 6, 789000, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 7, 31, 12, 30, tzinfo=UTC),
]


def _old_moments(now: datetime) -> list[datetime]:
    step = timedelta(hours=7, minutes=13, seconds=17, microseconds=123457)
    swept = [now - timedelta(days=28) - step * n for n in range(3000)]
    edges = []
    for days in (28, 29, 30, 31, 58, 59, 60, 61, 365, 366, 395, 730):
        for shift in (-1, 0, 1, -500000, 500000, -999999, 999999):
            edges.append(now - timedelta(days=days, microseconds=shift))
        edges.append(now.replace(microsecond=0) - timedelta(days=days))
    return swept + edges


@pytest.mark.parametrize("now", CLOCKS, ids=lambda now: now.isoformat())
def test_ages_of_weeks_months_and_years_read_as_naturaltime_reads_them(monkeypatch, now) -> None:
    """From four weeks on, ``naturaltime`` counts years and months on the calendar; a
    page works each text out once per date and side of the clock's time of day
    (``_age_key``). Every moment, the second time round from what was kept, must still
    read as ``naturaltime`` reads it at the same clock."""
    from django.contrib.humanize.templatetags import humanize

    from activity.entry_html import _Reader

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return now

    monkeypatch.setattr(humanize, "datetime", Clock)
    reader = _Reader(viewer=None)
    reader._now = now
    moments = _old_moments(now)
    expected = [humanize.naturaltime(moment) for moment in moments]
    assert len(set(expected)) > 50  # the sweep crosses many texts
    for _ in range(2):
        assert [reader.age(moment) for moment in moments] == expected
