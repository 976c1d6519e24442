"""When people sit down at the platform: the rhythm of a working team.

Most sittings fall on weekdays in working hours, fewer on Mondays' mornings and
Fridays' afternoons, a few on weekends; each person sits down a few times a week from
the day they join, never twice at once. A sitting is one browser session, from the
sign-in to the sign-out; what happens in it is laid out by ``demo.plan``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .people import Person

# How busy each weekday is (Monday first), relative to a Tuesday.
WEEKDAY_WEIGHT = (0.85, 1.0, 1.0, 0.95, 0.7, 0.12, 0.06)
# Sitting slots of a day: (first hour, last hour, weight).
# Starts are two hours apart at least, so a person's sittings never overlap.
SLOTS = ((8, 10, 1.0), (13, 14, 1.0), (16, 17, 0.5), (20, 21, 0.15))


@dataclass
class Step:
    """One thing that happens in a sitting, at ``at`` (server time): ``do`` is called
    with the replay's state; ``order`` breaks ties between steps of the same time."""

    at: datetime
    do: Any  # Callable[[Replay], None]
    label: str
    order: int = 0


@dataclass
class Sitting:
    person: Person
    start: datetime
    ip: str
    user_agent: str
    steps: list[Step] = field(default_factory=list)

    def latest(self) -> datetime:
        return max([self.start, *(step.at for step in self.steps)])

    def room(self, most: int) -> int:
        return most - len(self.steps)


@dataclass
class Worker:
    """A server process that runs the nightly jobs for a week: one ``server`` session."""

    number: int
    start: datetime
    steps: list[Step] = field(default_factory=list)

    def latest(self) -> datetime:
        return max([self.start, *(step.at for step in self.steps)])


@dataclass
class Plan:
    sittings: list[Sitting]
    workers: list[Worker]
    first_day: datetime
    days: int


USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)


def sittings(
    rng: random.Random, person: Person, index: int, first_day: datetime, days: int
) -> list[Sitting]:
    """``person``'s sittings from the day they join to the last day of the history.

    ``first_day`` is midnight of day 0; the history has ``days`` days. A person's usual
    address is the office's (their own fixed one), sometimes home's."""
    office_ip = f"10.20.{index + 1}.{rng.randint(10, 250)}"
    agent = USER_AGENTS[index % len(USER_AGENTS)]
    taken: set[tuple[int, int]] = set()
    found: list[Sitting] = []
    for week_start in range(person.joins_on_day, days, 7):
        week_days = list(range(week_start, min(week_start + 7, days)))
        share = len(week_days) / 7
        wanted = round(rng.randint(*person.sittings_per_week) * share)
        if week_start == person.joins_on_day and person.newcomer:
            wanted += 1  # a newcomer looks around more in the first week
        candidates = [
            (day, slot_index)
            for day in week_days
            for slot_index in range(len(SLOTS))
            if (day, slot_index) not in taken
        ]
        weights = [
            WEEKDAY_WEIGHT[(first_day + timedelta(days=day)).weekday()] * SLOTS[slot][2]
            for day, slot in candidates
        ]
        for _ in range(min(wanted, len(candidates))):
            pick = rng.choices(range(len(candidates)), weights=weights)[0]
            day, slot_index = candidates[pick]
            weights[pick] = 0.0  # never the same slot twice
            if not any(weights):
                break
            taken.add((day, slot_index))
            low, high, _weight = SLOTS[slot_index]
            start = first_day + timedelta(
                days=day,
                hours=rng.randint(low, high - 1),
                minutes=rng.randint(0, 59),
                seconds=rng.randint(0, 59),
            )
            home = rng.random() < 0.2 or slot_index == 3
            ip = f"192.168.{rng.randint(0, 3)}.{rng.randint(2, 99)}" if home else office_ip
            found.append(Sitting(person, start, ip, agent))
    found.sort(key=lambda sitting: sitting.start)
    if person.newcomer and found:
        # The first sitting is on the day they join: that is when they accept.
        first = found[0]
        joined = first_day + timedelta(
            days=person.joins_on_day, hours=10, minutes=rng.randint(0, 50)
        )
        if first.start > joined + timedelta(days=1):
            found.insert(0, Sitting(person, joined, office_ip, agent))
    return found
