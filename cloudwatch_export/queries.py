"""Query helpers shared by the outbox and the message renderer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, DateTimeField, Func, TextField
from django.db.models.expressions import RawSQL
from django.db.models.sql.compiler import SQLCompiler

import audit

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


def id_list(ids: Sequence[int]) -> Any:
    """A value for ``pk__in`` that stays cheap for thousands of ids.

    Django binds parameters client-side on PostgreSQL, quoting each of them into the
    SQL text in Python: for 10,000 ids that costs more than running the query, and
    even one array parameter is dumped element by element. One comma-separated string
    is quoted in C and split by the server. SQLite binds in C and needs no help (its
    limit of 32,766 parameters is above the largest claim).
    """
    if connection.vendor == "postgresql":
        return RawSQL(
            "SELECT unnest(string_to_array(%s, ',')::bigint[])", [",".join(map(str, ids))]
        )
    return list(ids)


# The times Python's ``datetime`` holds (years 1 to 9999 in UTC). PostgreSQL holds more,
# and ``audit.time_loader`` loads such a time as a stand-in instead of failing.
_IN_PYTHON = "{t} >= '0001-01-01 00:00:00+00' AND {t} < '10000-01-01 00:00:00+00'"
# EXTRACT(EPOCH) is an exact numeric since PostgreSQL 14 (the oldest Django 5.2 supports).
_PG_MICROS = f"CASE WHEN {_IN_PYTHON} THEN (EXTRACT(EPOCH FROM {{t}}) * 1000000)::bigint END"
_PG_BEYOND = f"CASE WHEN NOT ({_IN_PYTHON}) THEN {{t}} END"


def _repeat(template: str, column: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """``template`` with each ``{t}`` replaced by the column's SQL, and its parameters
    as many times."""
    return template.replace("{t}", column), list(params) * template.count("{t}")


class EpochMicros(Func):
    """A time column as whole microseconds since 1970, an ``int``: what
    ``times.ApiTimes`` writes from, without a ``datetime`` per value. PostgreSQL
    computes it, and gives None for a time Python cannot hold (``BeyondPython`` reads
    that one); elsewhere the stored time is converted in Python as it loads."""

    template = "%(expressions)s"
    output_field = BigIntegerField()

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return _repeat(_PG_MICROS, *compiler.compile(self.source_expressions[0]))

    def get_db_converters(self, connection: BaseDatabaseWrapper) -> list[Converter]:
        if connection.vendor == "postgresql":
            return []
        return [_stored_micros, *super().get_db_converters(connection)]


class BeyondPython(Func):
    """A time column only where ``EpochMicros`` gives None for a time that is there (on
    PostgreSQL, before year 1 or after 9999, or infinite), else None: loaded as every
    time is, so such a time becomes the stand-in ``audit.time_loader`` makes of it, as
    it did when the exporter read datetimes. No other database stores such times."""

    template = "NULL"
    output_field = DateTimeField()

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        return _repeat(_PG_BEYOND, *compiler.compile(self.source_expressions[0]))


def _stored_micros(value: Any, expression: Any, connection: BaseDatabaseWrapper) -> int | None:
    """A stored time as the backend hands it over (SQLite: text in the connection's
    zone, UTC) in microseconds since 1970."""
    return None if value is None else audit.micros(value)


class UuidText(Func):
    """A UUID column as its canonical text (``str(uuid)``), made by PostgreSQL instead of
    a ``uuid.UUID`` per row that is turned back into text."""

    template = "%(expressions)s"
    output_field = TextField()

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.source_expressions[0])
        return f"({column})::text", list(params)

    def get_db_converters(self, connection: BaseDatabaseWrapper) -> list[Converter]:
        if connection.vendor == "postgresql":
            return []
        return [_uuid_text, *super().get_db_converters(connection)]


def _uuid_text(value: Any, expression: Any, connection: BaseDatabaseWrapper) -> str | None:
    """SQLite keeps a UUID as 32 hex digits: the canonical text has the dashes."""
    if value is None:
        return None
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
