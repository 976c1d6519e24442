"""``cloudwatch_export.times`` writes every time exactly as the read API's
``DateTimeField`` does, from integers: in every zone, at the edges of Python's range,
around changes of offset, with and without microseconds."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import pytest
from django.utils import timezone as django_timezone
from rest_framework.serializers import DateTimeField

from audit import micros
from cloudwatch_export.times import ApiTimes, moment

FIRST = micros(datetime(1, 1, 2, tzinfo=UTC))  # a day inside Python's range: any zone fits
LAST = micros(datetime(9999, 12, 30, tzinfo=UTC))
SECOND = 1_000_000


def drf(us: int, zone: tzinfo) -> str:
    """The read API's text of a time: the definition."""
    with django_timezone.override(zone):
        return DateTimeField().to_representation(moment(us))


def tricky() -> Iterator[int]:
    """Whole seconds and the microseconds either side, at fixed points of the calendar."""
    for point in (
        FIRST,
        LAST,
        0,
        micros(datetime(1900, 1, 1, tzinfo=UTC)),
        micros(datetime(2000, 2, 29, 23, 59, 59, tzinfo=UTC)),
        micros(datetime(2024, 3, 31, 1, tzinfo=UTC)),  # Berlin's offset changes here
        micros(datetime(2024, 10, 27, 1, tzinfo=UTC)),
    ):
        yield from (point - SECOND, point - 1, point, point + 1, point + SECOND - 1)


def spread(count: int, seed: int) -> list[int]:
    """Times all over Python's range; a third of them on a whole second."""
    rng = random.Random(seed)
    found = [rng.randrange(FIRST, LAST) for _ in range(count)]
    return [us - us % SECOND if i % 3 == 0 else us for i, us in enumerate(found)]


def offset_changes(zone: ZoneInfo, year: int) -> list[int]:
    """The instants of ``year`` at which ``zone`` changes its offset (to the second)."""
    found = []
    start = micros(datetime(year, 1, 1, tzinfo=UTC)) // SECOND
    hours = [start + 3600 * hour for hour in range(24 * 366 + 1)]
    for low, high in pairwise(hours):
        if (
            moment(low * SECOND).astimezone(zone).utcoffset()
            == moment(high * SECOND).astimezone(zone).utcoffset()
        ):
            continue
        while high - low > 1:
            middle = (low + high) // 2
            same = (
                moment(middle * SECOND).astimezone(zone).utcoffset()
                == moment(low * SECOND).astimezone(zone).utcoffset()
            )
            low, high = (middle, high) if same else (low, middle)
        found.append(high * SECOND)
    return found


def check(zone: tzinfo, times: list[int]) -> None:
    writer = ApiTimes(zone)
    for us in times:
        assert writer.text(us) == drf(us, zone), (us, zone)


@pytest.mark.parametrize(
    "zone",
    [
        UTC,
        ZoneInfo("UTC"),
        ZoneInfo("Europe/Berlin"),
        ZoneInfo("America/St_Johns"),
        ZoneInfo("Asia/Kathmandu"),
        ZoneInfo("Australia/Lord_Howe"),  # half an hour of daylight saving
        ZoneInfo("Pacific/Kiritimati"),  # +14:00
        ZoneInfo("Europe/Dublin"),  # negative daylight saving in tzdata
        timezone(timedelta(hours=-9, minutes=-30)),
    ],
    ids=str,
)
def test_tricky_and_random_times_in_chosen_zones(zone: tzinfo) -> None:
    check(zone, [*tricky(), *spread(3000, seed=1)])


def test_a_few_times_in_every_zone_python_knows() -> None:
    times = [*tricky(), *spread(60, seed=2)]
    for name in sorted(available_timezones()):
        check(ZoneInfo(name), times)


@pytest.mark.parametrize("name", ["Europe/Berlin", "Australia/Lord_Howe", "America/St_Johns"])
def test_each_microsecond_around_a_change_of_offset(name: str) -> None:
    zone = ZoneInfo(name)
    changes = offset_changes(zone, 2024) + offset_changes(zone, 1916)
    assert changes
    times = [at + step for at in changes for step in (-SECOND, -1, 0, 1, SECOND - 1, SECOND)]
    check(zone, times)
    check(zone, list(reversed(times)))  # the seconds kept do not depend on the order


class _Odd(tzinfo):
    """A zone whose offset is not a whole second: ApiTimes cannot write it by the
    second, and must fall back to a datetime per time."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1, microseconds=250_000)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "odd"


@pytest.mark.parametrize("zone", [_Odd(), timezone(timedelta(seconds=1, microseconds=5))], ids=str)
def test_an_offset_with_microseconds_is_written_through_a_datetime(zone: tzinfo) -> None:
    assert not ApiTimes(zone).by_second
    check(zone, [*tricky(), *spread(300, seed=3)])


def test_none_stays_none() -> None:
    assert ApiTimes(UTC).text(None) is None


def test_micros_and_moment_are_exact_inverses_at_the_edges() -> None:
    for us in [*tricky(), *spread(1000, seed=4)]:
        assert micros(moment(us)) == us
    assert micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
