"""Record ids made on the server: UUIDv7 (RFC 9562), ordered by time.

A record's ``uuid`` is its idempotency key, held unique by a b-tree. Random (v4) keys
land on a random page of that index: once it outgrows memory, every insert reads and
dirties a page of its own and writes it whole to the WAL after each checkpoint. Keys
that start with the time land where the last one did, like the primary key.

The random part comes from the operating system's generator, as ``uuid4`` takes it,
but 4 KiB at a time: one system call per 409 ids rather than one per id, which on a
tracked save was a noticeable part of what recording costs. It must stay
unpredictable (a client that could guess a server key could send it first and have
the server's record dropped as a duplicate), and it must never repeat in a forked
child, so the buffer is per thread and emptied after a fork.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_MILLIS = (1 << 48) - 1
_VERSION_7 = 0x7 << 76
_VARIANT = 0b10 << 62
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1
_CHUNK = 4096
_ID_BYTES = 10  # 74 random bits, plus 6 that the version and variant overwrite


class _RandomPool(threading.local):
    """This thread's random draws, each the 80 bits of one id, taken from the end."""

    def __init__(self) -> None:
        self.draws: list[int] = []


_pool = _RandomPool()


def _forget_pool() -> None:
    _pool.draws = []


os.register_at_fork(after_in_child=_forget_pool)


def _random_bits() -> int:
    draws = _pool.draws
    if not draws:  # one system call, cut into ids at once: a list pop per id after it
        chunk = os.urandom(_CHUNK)
        draws.extend(
            int.from_bytes(chunk[start : start + _ID_BYTES], "big")
            for start in range(0, _CHUNK - _ID_BYTES + 1, _ID_BYTES)
        )
    return draws.pop()


# ``uuid.UUID(int=...)`` checks which of its five arguments was given and the value's
# range at every call; the value here is in range, its version and variant set, by
# construction. The instance is filled as that constructor fills it (its two slots,
# ``int`` and ``is_safe``), through ``object.__setattr__`` as it does, since a UUID
# refuses attribute assignment. About a third of an id's cost.
_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def uuid7() -> uuid.UUID:
    """48 bits of Unix time in milliseconds, version 7, variant 10, 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = _random_bits()
    made = _new(uuid.UUID)
    _set(
        made,
        "int",
        (millis & _MILLIS) << 80
        | _VERSION_7
        | (rand >> 62 & _RAND_A) << 64
        | _VARIANT
        | rand & _RAND_B,
    )
    _set(made, "is_safe", _UNKNOWN)
    return made
