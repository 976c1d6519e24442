"""Reading back times that Python cannot hold, instead of failing the whole page.

PostgreSQL stores times from 4713 BC to 294276 AD; Python's ``datetime`` holds years 1
to 9999 only. A record whose time falls outside (an older version accepted a client's
``0001-01-01T00:00:00+14:00``, which is year 0 in UTC) made psycopg raise ``DataError``
on every query that selected it: the entity's panel, the events list, the admin and
the CloudWatch export all answered 500, for good, since records cannot be changed.

Validation now refuses such times (``audit.validation``) and migration 0009 repairs
stored ones; this loader is the last line: a time out of Python's range loads as the
nearest time Python can show and convert to any zone (a day inside either end), so a
reader shows something and never crashes. It wraps the loader Django installed on the
connection (which fixes the time zone), so nothing else about loading changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg.abc import Buffer
    from psycopg.adapt import AdaptersMap

# A day inside Python's range, so that converting to any time zone (at most +-14 h)
# never overflows.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def out_of_range(data: bytes | bytearray | memoryview) -> datetime:
    """The stand-in for a time Python cannot hold, from PostgreSQL's text of it."""
    text = bytes(data)
    return EARLIEST if text.endswith(b"BC") or text.startswith(b"0") else LATEST


def install(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: wrap the connection's ``timestamptz`` loader."""
    if connection.vendor != "postgresql":
        return
    import psycopg
    from psycopg.pq import Format

    adapters: AdaptersMap = connection.connection.adapters
    oid = psycopg.adapters.types["timestamptz"].oid
    base = adapters.get_loader(oid, Format.TEXT)
    if base is None or getattr(base, "audit_safe", False):
        return

    # The base class is the loader Django installed, known only at run time: mypy
    # accepts only a class written in the source as a base.
    class SafeTimestamptzLoader(base):  # type: ignore[misc, valid-type]
        audit_safe = True

        def load(self, data: Buffer) -> datetime:
            try:
                loaded: datetime = super().load(data)  # a timestamptz loader's value
            except psycopg.DataError:
                return out_of_range(data)
            return loaded

    adapters.register_loader("timestamptz", SafeTimestamptzLoader)
