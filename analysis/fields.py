"""A set of user ids stored as a bitmap: bit ``n`` is set when user ``n`` is in the set.

Distinct users over any number of days is then the number of bits set in the OR of one
bitmap per day, whatever the number of records behind them: that is what keeps the
analysis answers flat as the trail grows. On PostgreSQL the column is ``bit varying``
and the OR and the count are done in SQL (``bit_or``, ``bit_count``); every bitmap of
the rollups has the same length (``RollupState.user_bits``), which the fold raises, for
all of them at once, when a larger user id arrives. Elsewhere it is a BLOB read and
combined in Python (small databases).
"""

from __future__ import annotations

from typing import Any

from django.db import models


def to_bytes(ids: set[int] | frozenset[int], bits: int) -> bytes:
    value = 0
    for user_id in ids:
        value |= 1 << user_id
    return value.to_bytes(max(bits, value.bit_length() + 7) // 8, "little")


def pack(value: int) -> bytes:
    """A bitmap held as a Python int, as stored (at least one byte)."""
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "little")


def from_bytes(raw: bytes | memoryview | None) -> int:
    """The bitmap as a Python int (bit ``n`` = user ``n``)."""
    return int.from_bytes(bytes(raw or b""), "little")


def members(value: int) -> set[int]:
    found, n = set(), 0
    while value:
        if value & 1:
            found.add(n)
        value >>= 1
        n += 1
    return found


class UserSetField(models.Field):
    """``bit varying`` on PostgreSQL, a BLOB elsewhere; read raw (the queries combine)."""

    description = "A set of user ids as a bitmap"

    def db_type(self, connection: Any) -> str:
        return "bit varying" if connection.vendor == "postgresql" else "blob"

    def get_internal_type(self) -> str:
        return "UserSetField"
