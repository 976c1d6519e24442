"""Record ids made on the server: UUIDv7 (RFC 9562), ordered by time.

A record's ``uuid`` is its idempotency key, held unique by a b-tree. Random (v4) keys
land on a random page of that index: once it outgrows memory, every insert reads and
dirties a page of its own and writes it whole to the WAL after each checkpoint. Keys
that start with the time land where the last one did, like the primary key.
"""

from __future__ import annotations

import os
import time
import uuid

_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


def uuid7() -> uuid.UUID:
    """48 bits of Unix time in milliseconds, version 7, variant 10, 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (rand >> 62 & _RAND_A) << 64
        | 0b10 << 62
        | rand & _RAND_B
    )
    return uuid.UUID(int=value)
