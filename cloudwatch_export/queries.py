"""Query helpers shared by the outbox and the message renderer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL


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
