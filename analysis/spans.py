"""A period's days split into whole weeks and the days at its two ends.

Why: rollups by week (``ErrorWeek``, ``EntityWeek``) let a period read a row a week
instead of seven; only the days outside its whole weeks are read by day. Weeks run Monday
to Sunday, days of the rollups' zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WEEK = timedelta(days=7)
# An empty range of days, for a statement that always takes two ranges.
NEVER = (date(2, 1, 1), date(1, 1, 1))


def monday(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Span:
    """A span of days, inclusive, split into its whole weeks (Mondays ``weeks[0]`` to
    ``weeks[1]``, or none) and the days outside them (``edges``: up to two ranges)."""

    first: date
    last: date

    @property
    def weeks(self) -> tuple[date, date] | None:
        start = monday(self.first + timedelta(days=6))  # the first Monday on or after
        end = monday(self.last + timedelta(days=1)) - WEEK  # the last whole week's
        return (start, end) if start <= end else None

    @property
    def edges(self) -> list[tuple[date, date]]:
        weeks = self.weeks
        if weeks is None:
            return [(self.first, self.last)]
        ranges = [(self.first, weeks[0] - timedelta(days=1)), (weeks[1] + WEEK, self.last)]
        return [(low, high) for low, high in ranges if low <= high]

    def bounds(self) -> dict[str, date]:
        """The whole weeks (``w0``, ``w1``) and the two edge ranges (``a0``-``a1``,
        ``b0``-``b1``) as statement parameters, an empty range where there is none."""
        w0, w1 = self.weeks or NEVER
        (a0, a1), (b0, b1) = [*self.edges, NEVER, NEVER][:2]
        return {"w0": w0, "w1": w1, "a0": a0, "a1": a1, "b0": b0, "b1": b1}
