"""Which event types are switched off for a user, without a database query per event.

A user's event is dropped when its type is off globally or for any group the user is
in; an event with no user follows the global switch only.

The rules (global switches and per-group switches) and each user's group ids are kept
in the shared cache (Redis when ``REDIS_URL`` is set) and deleted from it by signals
when a rule, a group or a membership changes (``audit.receivers``). Each process also
keeps what it read for at most ``LOCAL_SECONDS``, so that a busy process does not ask
the cache on every event either; a change therefore shows everywhere within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from .models import EventType
from .server_types import PROTECTED

RULES_KEY = "audit:toggles:rules"
GROUPS_KEY = "audit:toggles:groups:{}"
LOCAL_SECONDS = 0.5
_CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Rules:
    globally_off: frozenset[str]
    off_for_group: dict[int, frozenset[str]]
    group_names: dict[int, str]


class _Local:
    """A per-process memo with a short life; a dict swap is atomic under the GIL."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < LOCAL_SECONDS:
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


def rules() -> Rules:
    found = _local.get(RULES_KEY)
    if found is None:
        found = cache.get(RULES_KEY)
        if found is None:
            found = _load_rules()
            cache.set(RULES_KEY, found, _CACHE_SECONDS)
        _local.put(RULES_KEY, found)
    return found


def group_ids(user: Any) -> frozenset[int]:
    key = GROUPS_KEY.format(user.pk)
    found = _local.get(key)
    if found is None:
        found = cache.get(key)
        if found is None:
            found = frozenset(user.groups.values_list("pk", flat=True))
            cache.set(key, found, _CACHE_SECONDS)
        _local.put(key, found)
    return found


def disabled_types(user: Any) -> frozenset[str]:
    """Names of the types whose events ``user`` (or None for system) does not record."""
    current = rules()
    if user is None or not getattr(user, "is_authenticated", False):
        return current.globally_off
    names = set(current.globally_off)
    for group_id in group_ids(user):
        names |= current.off_for_group.get(group_id, frozenset())
    return frozenset(names)


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


def forget_rules() -> None:
    """Called by signals when a type's switches change or a group goes."""
    cache.delete(RULES_KEY)
    _local.clear()


def forget_groups(user_ids: Iterable[int]) -> None:
    """Called by signals when memberships change."""
    cache.delete_many([GROUPS_KEY.format(pk) for pk in user_ids])
    _local.clear()


def clear_local() -> None:
    _local.clear()
