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

It also reads faster than that loader. Django's loader derives from psycopg's pure-Python
one, which parses each time's text with a regular expression: a few microseconds a
time, a fifth of an export page's time. psycopg's C loader (``psycopg[binary]``), which
cannot be derived from, parses it in well under one, and this loader gives its result
the zone Django's would (``replace(tzinfo=...)``, Django's own step). Without the C
loader, or under a loader that is not Django's, the installed loader parses as before.
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


def _fast_parser(base: type, default: type | None) -> type | None:
    """psycopg's own ``timestamptz`` loader (``default``, the C one with
    ``psycopg[binary]``) when ``base`` is Django's loader built on psycopg's pure-Python
    one, and so parses slower than ``default`` to the same time before fixing its zone
    (its ``timezone``); else None: ``base`` parses by itself."""
    from psycopg.types.datetime import TimestamptzLoader

    if (
        default is None
        or not hasattr(base, "timezone")
        or not issubclass(base, TimestamptzLoader)
        or issubclass(base, default)
    ):
        return None
    return default


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
    fast = _fast_parser(base, psycopg.adapters.get_loader(oid, Format.TEXT))

    # The base class is the loader Django installed, known only at run time: mypy
    # accepts only a class written in the source as a base.
    class SafeTimestamptzLoader(base):  # type: ignore[misc, valid-type]
        audit_safe = True

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._parse = None if fast is None else fast(oid, context).load

        def load(self, data: Buffer) -> datetime:
            try:
                if self._parse is not None:
                    parsed: datetime = self._parse(data)
                    return parsed.replace(tzinfo=self.timezone)  # as Django's loader does
                loaded: datetime = super().load(data)  # a timestamptz loader's value
            except psycopg.DataError:
                return out_of_range(data)
            return loaded

    adapters.register_loader("timestamptz", SafeTimestamptzLoader)
