"""Times as the read API writes them, from whole microseconds since 1970.

A CloudWatch message carries two times per record, written as DRF's ``DateTimeField``
writes them (``audit.api.serializers.RecordSerializer``): ``isoformat()`` in the current
time zone, ``+00:00`` written ``Z``, the microseconds only when they are not zero.
Loading each time as an aware ``datetime`` (psycopg's parser behind the project's
out-of-range guard), converting it and calling ``isoformat()`` was a fifth of the
exporter's time, so the database hands the times over as integers
(``queries.EpochMicros``) and ``ApiTimes`` writes them.

It formats each distinct second once, with ``api_time`` itself (so through the same
``astimezone`` and ``isoformat``), and adds the fraction: in a zone whose offsets and
transitions fall on whole seconds (every ``zoneinfo`` zone; a fixed offset without
microseconds), every instant of one UTC second has the same offset, so the text of the
second and the fraction make the whole text. Any other ``tzinfo`` takes the ``datetime``
path for every time. ``tests/test_cloudwatch_times.py`` holds the two equal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = 1_000_000  # microseconds
_WHOLE = len("2025-06-01T12:00:00")  # the date and time of isoformat(), before any fraction


def api_time(moment: datetime, zone: tzinfo) -> str:
    """``moment`` as DRF's ``DateTimeField`` writes it in ``zone``: the definition that
    ``ApiTimes`` reproduces from integers."""
    text = moment.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def moment(us: int) -> datetime:
    """The aware UTC datetime of ``us`` microseconds since 1970."""
    return EPOCH + timedelta(microseconds=us)


def _whole_seconds(zone: tzinfo) -> bool:
    """Whether every offset of ``zone``, and every change of offset, falls on a whole
    second, so that one UTC second has one offset."""
    if isinstance(zone, ZoneInfo):
        return True  # TZif data: offsets and transition times in whole seconds
    if isinstance(zone, timezone):
        offset = zone.utcoffset(None)
        return offset is not None and offset % timedelta(seconds=1) == timedelta(0)
    return False


class ApiTimes:
    """Writes times of one zone, for one batch: the text of each second is kept, so a
    batch of records stored within a few seconds formats a handful of datetimes."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.by_second = _whole_seconds(zone)
        # UTC second -> (date and time, offset or "Z")
        self._seconds: dict[int, tuple[str, str]] = {}

    def text(self, us: int | None) -> str | None:
        """The read API's text of the time ``us`` (None stays None)."""
        if us is None:
            return None
        if not self.by_second:
            return api_time(moment(us), self.zone)
        second, fraction = divmod(us, _SECOND)
        parts = self._seconds.get(second)
        if parts is None:
            parts = self._second(second)
        whole, offset = parts
        return f"{whole}.{fraction:06d}{offset}" if fraction else whole + offset

    def _second(self, second: int) -> tuple[str, str]:
        text = api_time(moment(second * _SECOND), self.zone)
        parts = self._seconds[second] = (text[:_WHOLE], text[_WHOLE:])
        return parts
