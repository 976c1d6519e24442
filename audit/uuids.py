"""Record ids made on the server: UUIDv7 (RFC 9562), ordered by time.

A record's ``uuid`` is its idempotency key, held unique by a b-tree. Random (v4) keys
land on a random page of that index: once it outgrows memory, every insert reads and
dirties a page of its own and writes it whole to the WAL after each checkpoint. Keys
that start with the time land where the last one did, like the primary key.

The random part comes from the operating system's generator, as ``uuid4`` takes it,
but 4 KiB at a time: one system call per 400 ids rather than one per id, which on a
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

_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1
_CHUNK = 4096
_ID_BYTES = 10  # 74 random bits, plus 6 that the version and variant overwrite


class _RandomPool(threading.local):
    buffer: bytes = b""
    offset: int = 0


_pool = _RandomPool()


def _forget_pool() -> None:
    _pool.buffer, _pool.offset = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def _random_bits() -> int:
    pool = _pool
    if pool.offset + _ID_BYTES > len(pool.buffer):
        pool.buffer, pool.offset = os.urandom(_CHUNK), 0
    start = pool.offset
    pool.offset = start + _ID_BYTES
    return int.from_bytes(pool.buffer[start : start + _ID_BYTES], "big")


def uuid7() -> uuid.UUID:
    """48 bits of Unix time in milliseconds, version 7, variant 10, 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = _random_bits()
    value = (
        (millis & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (rand >> 62 & _RAND_A) << 64
        | 0b10 << 62
        | rand & _RAND_B
    )
    return uuid.UUID(int=value)
