"""Server-made record keys: UUIDv7, time-ordered, unpredictable, never repeated."""

from __future__ import annotations

import os
import time

from audit.uuids import uuid7


def test_version_variant_and_time_prefix() -> None:
    before = time.time_ns() // 1_000_000
    key = uuid7()
    after = time.time_ns() // 1_000_000
    assert key.version == 7
    assert key.variant == "specified in RFC 4122"
    assert before <= int.from_bytes(key.bytes[:6], "big") <= after


def test_keys_are_unique_and_ordered_by_millisecond() -> None:
    keys = [uuid7() for _ in range(20_000)]
    assert len(set(keys)) == len(keys)
    prefixes = [key.bytes[:6] for key in keys]
    assert prefixes == sorted(prefixes)


def test_a_forked_child_draws_other_random_bits() -> None:
    uuid7()  # the parent's buffer is filled; a child must not reuse it
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write_end, uuid7().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read_end, 16)
    os.close(read_end)
    os.close(write_end)
    parent = uuid7().bytes
    assert child[6:] != parent[6:]
