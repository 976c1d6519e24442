"""``seed()``: the demo people and six weeks of their platform use, played in order.

Idempotent: the founders are created once (an existing account is left as it is), and
the history only into a trail that holds no demo history yet and whose newest record
is older than the history would start (``audit.clock`` would refuse it otherwise). A
trail that already has records of its own keeps them; the demo then says why it added
nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from analysis import rollups
from audit.models import AuditRecord
from catalog.kinds import KINDS

from . import plan as planning
from .inventory import ALL_SPECS
from .people import FOUNDERS, PEOPLE, api_token, ensure_founder, ensure_groups
from .replay import Replay, play

WEEKS = 6
DAYS = WEEKS * 7


@dataclass
class SeedSummary:
    """What a run did, for the command to print."""

    founders_created: list[str] = field(default_factory=list)
    founders_existing: list[str] = field(default_factory=list)
    token: str = ""
    history_skipped: str = ""  # why, when no history was added
    records: int = 0
    sittings: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    comments: int = 0
    newcomers: list[str] = field(default_factory=list)


def _already(first_day: datetime) -> str:
    """Why no history can be added now, or ""."""
    first = ALL_SPECS[0]
    if first.model._default_manager.filter(name=first.name, owner__username=first.owner).exists():
        return "The demo history is already there: nothing added."
    newest = AuditRecord.objects.order_by("-id").values_list("created_at", flat=True).first()
    if newest is not None and newest > first_day:
        return (
            f"The trail already holds records up to {newest:%Y-%m-%d %H:%M}, newer than the "
            f"demo's history would start ({first_day:%Y-%m-%d}): records are kept in time "
            "order, so no history was added. Seed an empty database to see it."
        )
    return ""


def seed(
    *,
    rng_seed: int = 2024,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeedSummary:
    """Create the founders and, unless there is a reason not to, the history."""
    now = now or timezone.now()
    today = now.astimezone(timezone.get_current_timezone()).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    first_day = today - timedelta(days=DAYS)
    summary = SeedSummary()
    with transaction.atomic():
        groups = ensure_groups()
        users = {}
        for person in FOUNDERS:
            user, created = ensure_founder(person, groups, first_day - timedelta(days=1))
            users[person.username] = user
            (summary.founders_created if created else summary.founders_existing).append(
                person.username
            )
    summary.history_skipped = _already(first_day)
    if summary.history_skipped:
        summary.token = api_token(users["alice"])
        return summary
    rng = random.Random(rng_seed)
    laid_out = planning.make(rng, first_day, DAYS)
    replay = Replay(
        rng=rng,
        users=users,
        groups=groups,
        people={person.username: person for person in PEOPLE},
    )
    play(laid_out, replay, progress=progress)
    rollups.fold()  # the analysis figures of the history, current at once
    summary.token = api_token(users["alice"])  # made now, and recorded now
    summary.records = AuditRecord.objects.filter(created_at__gte=first_day).count()
    summary.sittings = replay.sittings
    summary.comments = len(replay.comments)
    summary.newcomers = [p.username for p in PEOPLE if p.newcomer and p.username in replay.users]
    for kind, spec in KINDS.items():
        summary.entities[kind] = sum(
            1 for obj in replay.objects.values() if isinstance(obj, spec.model)
        )
    return summary
