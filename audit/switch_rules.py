"""Which event types are switched off for a user, without a database query per event.

A user's event is dropped when its type is off globally or for any group the user is
in; an event with no user follows the global switch only.

The rules (global switches and per-group switches) and each user's group ids are kept
in the shared cache (Redis when ``REDIS_URL`` is set) under a *generation*: a counter
in the cache that every change of a rule, a group or a membership raises once its
transaction has committed (``audit.receivers``). Readers look up the current
generation, then the rules stored for it. Why a generation rather than deleting the
cached rules: a process that read the old rules from the database just before the
change committed could store them after the delete and keep them for the entry's whole
life; stored under the old generation, they are simply never read again. Each process
keeps what it read for at most ``AUDIT_SWITCHES_LOCAL_SECONDS``, so a change shows in every process
within that time after its commit.

Without the cache (Redis away) the rules come from the database, kept by each process
for the same short time (``audit.shared_cache``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.cache.backends.base import BaseCache
from django.db import transaction

from . import config, shared_cache
from .models import EventType
from .server_types import PROTECTED

T = TypeVar("T")

GENERATION_KEY = "audit:toggles:generation"
# What a generation holds: "rules", and "groups:USER_ID" per user.
ENTRY_KEY = "audit:toggles:{}:{}"
# Entries of a generation outlive it only until this: a stale one is never read anyway.


@dataclass(frozen=True, slots=True)
class Rules:
    globally_off: frozenset[str]
    off_for_group: dict[int, frozenset[str]]
    group_names: dict[int, str]
    # What ``disabled_types`` made of these rules for a set of groups (this process's).
    by_groups: dict[frozenset[int], frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )


class _Local:
    """A per-process memo with a short life; a dict swap is atomic under the GIL."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < config.switches_local_seconds():
            return hit[1]
        return None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            if len(self._values) > 10_000:
                self._values = {}
            self._values[key] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._values = {}


_local = _Local()


def _load_rules() -> Rules:
    globally_off = (
        frozenset(EventType.objects.filter(enabled=False).values_list("name", flat=True))
        - PROTECTED
    )
    by_group: dict[int, set[str]] = {}
    names: dict[int, str] = {}
    pairs = EventType.disabled_for.through.objects.values_list(
        "group_id", "group__name", "eventtype__name"
    )
    for group_id, group_name, type_name in pairs:
        if type_name not in PROTECTED:
            by_group.setdefault(group_id, set()).add(type_name)
            names[group_id] = group_name
    return Rules(globally_off, {gid: frozenset(n) for gid, n in by_group.items()}, names)


def _generation() -> int:
    """The current generation (1 round trip), started from the clock if the cache lost
    it, so that it never comes back to a number whose entries may still be stored."""
    found: int | None = _local.get(GENERATION_KEY)
    if found is None:
        _pay_owed_generation()

        def read(cache: BaseCache) -> int:
            value = cache.get(GENERATION_KEY)
            if value is None:
                cache.add(GENERATION_KEY, time.time_ns() // 1000, None)
                value = cache.get(GENERATION_KEY)
            # Gone again at once (a flush, an eviction): the database, this time.
            return -1 if value is None else int(value)

        found = shared_cache.call(read, lambda: -1)
        _local.put(GENERATION_KEY, found)
    return found


def generation() -> int:
    """The switches' current generation, as this process knows it (kept half a second;
    -1 while the cache is away): what other caches of the rules' tables follow."""
    return _generation()


def _cached(name: str, load: Callable[[], T]) -> T:
    """``name`` of the current generation: from this process, the shared cache, or the
    database (``load``) when neither has it or the cache is away.

    What is read inside a transaction is never shared: it may include a change of that
    same transaction, which could still roll back."""
    # Under one name, this process and the cache hold only what ``load`` made for it.
    found: T | None = _local.get(name)
    if found is not None:
        return found
    generation = _generation()
    if generation < 0:  # the cache is away: the database, for a short local life
        found = load()
    else:
        key = ENTRY_KEY.format(generation, name)
        shareable = not transaction.get_connection().in_atomic_block

        def read(cache: BaseCache) -> T:
            value: T | None = cache.get(key)
            if value is None:
                value = load()
                if shareable:
                    cache.set(key, value, config.switches_cache_seconds())
            return value

        found = shared_cache.call(read, load)
    _local.put(name, found)
    return found


def rules() -> Rules:
    return _cached("rules", _load_rules)


def group_ids(user: Any) -> frozenset[int]:
    return _cached(f"groups:{user.pk}", lambda: frozenset(user.groups.values_list("pk", flat=True)))


def disabled_types(user: Any) -> frozenset[str]:
    """Names of the types whose events ``user`` (or None for system) does not record.

    Every tracked save asks, so the answer for a set of groups is kept on the rules it
    was made from (``Rules.by_groups``) and goes with them."""
    current = rules()
    if not current.off_for_group or not getattr(user, "is_authenticated", False):
        return current.globally_off  # no group switch, or no user: no group to ask for
    groups = group_ids(user)
    found = current.by_groups.get(groups)
    if found is None:
        names = set(current.globally_off)
        for group_id in groups:
            names |= current.off_for_group.get(group_id, frozenset())
        found = current.by_groups[groups] = frozenset(names)
    return found


def drop_reasons(user: Any, type_name: str) -> list[str]:
    """Why ``type_name`` is off for ``user``: "" for the global switch, else the names of
    the user's groups that switch it off (for the dropped-event counts)."""
    current = rules()
    if type_name in current.globally_off:
        return [""]
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return [
        current.group_names.get(group_id, str(group_id))
        for group_id in sorted(group_ids(user))
        if type_name in current.off_for_group.get(group_id, frozenset())
    ]


def changed() -> None:
    """A rule, a group or a membership changed: start a new generation once the change
    has committed (at once outside a transaction). This process forgets its memo now."""
    _local.clear()
    transaction.on_commit(_next_generation)


# A new generation this process could not start (the cache failed or was marked down
# when its change committed): started as soon as the cache answers again. Other
# processes, whose cache may never have failed, would serve the old generation's rules
# for as long as they are kept (``AUDIT_SWITCHES_CACHE_SECONDS``).
_owed = threading.Event()


def _next_generation() -> None:
    _local.clear()

    def bump(cache: Any) -> bool:
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:  # the cache lost it: start again from the clock
            cache.set(GENERATION_KEY, time.time_ns() // 1000, None)
        return True

    if shared_cache.call(bump, lambda: False):
        _owed.clear()
    else:
        _owed.set()


def _pay_owed_generation() -> None:
    """Start the generation a change could not start, once the cache is back."""
    if _owed.is_set() and shared_cache.available():
        _next_generation()


def clear_local() -> None:
    _local.clear()
