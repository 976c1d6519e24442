"""The time records and sessions are stored at: now, or a replayed moment of the past.

Lists read newest first by record id, which is the order of storage. That is only the
order of time if no record is ever stored with a time older than one stored before it.
Every live path stores at the server's clock. The one way to store the past is
``backdated(at)``, for replaying a history in order (the demo, an import into a new
trail): inside it, records and sessions take ``at`` as their time, and a record whose
time would be older than the newest record already stored is refused with
``OutOfOrder``. A backfill into a trail that already has newer records therefore stores
its events now and keeps their own time as the client's claim (``client_time``), as any
client's ``timestamp`` is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_replayed: ContextVar[datetime | None] = ContextVar("audit_replayed_time", default=None)


class OutOfOrder(ValueError):
    """A backdated record would be older than a record already stored."""


def now() -> datetime:
    """The time to store a record or open a session at."""
    replayed = _replayed.get()
    if replayed is not None:
        return replayed
    # ``timezone.now()``'s answer, at a third of its cost: every record asks.
    return datetime.now(UTC) if settings.USE_TZ else datetime.now()


def is_backdated() -> bool:
    return _replayed.get() is not None


@contextlib.contextmanager
def backdated(at: datetime) -> Iterator[None]:
    """Store what is recorded inside at ``at`` (an aware datetime, not in the future).

    Replays must go forward in time: each batch stored inside is checked against the
    newest stored record (``check_in_order``)."""
    if timezone.is_naive(at):
        raise ValueError("backdated() needs an aware datetime")
    if at > timezone.now():
        raise OutOfOrder(f"{at.isoformat()} is in the future: records cannot be post-dated")
    token = _replayed.set(at)
    try:
        yield
    finally:
        _replayed.reset(token)


def check_in_order(at: datetime, newest: datetime | None) -> None:
    """Refuse to store a backdated record at ``at`` when the newest record stored is
    ``newest`` and newer (``audit.storage.newest_time`` reads it: one query on the
    primary key's index, paid only by backdated batches)."""
    if newest is not None and at < newest:
        raise OutOfOrder(
            f"A record cannot be stored at {at.isoformat()}: the trail already holds one "
            f"stored at {newest.isoformat()}, and records are kept in the order of their "
            "time. Replay in time order, or record now and keep the original time as the "
            "client's timestamp."
        )


def micros(moment: datetime | str) -> int:
    """A time as whole microseconds since 1970 UTC (floor, as ``timedelta`` does): an
    aware ``datetime``, or a stored time as a backend hands it over, SQLite's ISO text
    or a naive value, both in UTC. What the seals hash and the export writes from."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)
