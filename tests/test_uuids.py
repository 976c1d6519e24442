"""Server-made record keys: UUIDv7, time-ordered, unpredictable, never repeated."""

from __future__ import annotations

import copy
import os
import pickle
import time
import uuid

import pytest

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


def test_a_key_is_the_uuid_its_number_makes() -> None:
    """``uuid7`` fills the instance itself instead of calling ``UUID(int=...)``: what it
    makes must behave as that constructor's in every way a record's key is used."""
    for key in (uuid7() for _ in range(200)):
        made = uuid.UUID(int=key.int)
        assert key == made and hash(key) == hash(made)
        assert (str(key), key.bytes, key.hex) == (str(made), made.bytes, made.hex)
        assert (key.version, key.variant, key.is_safe) == (7, made.variant, made.is_safe)
        assert pickle.loads(pickle.dumps(key)) == key == copy.deepcopy(key)
        assert uuid.UUID(str(key)) == key
    with pytest.raises(TypeError):
        key.int = 0  # type: ignore[misc]
