"""Resolving event type names to rows, registering custom types on first use.

The ingest path resolves every event's type, so names map to ``(id, level)`` from a
per-process table that is loaded in one query and reloaded at most every
``_RELOAD_SECONDS`` (an admin's change to a type's level shows within that time).
Unknown names become custom types, bounded by a name pattern and a cap.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from . import config
from .models import EventType

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_RELOAD_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TypeInfo:
    id: int
    name: str
    level: str


class UnknownType(ValueError):
    """The name is not a type and cannot become one (pattern or cap)."""


class _Table:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, TypeInfo] = {}
        self._loaded_at = 0.0

    def clear(self) -> None:
        with self._lock:
            self._by_name = {}
            self._loaded_at = 0.0

    def _load(self) -> None:
        rows = EventType.objects.values_list("id", "name", "level")
        self._by_name = {name: TypeInfo(pk, name, level) for pk, name, level in rows}
        self._loaded_at = time.monotonic()

    def get(self, name: str) -> TypeInfo | None:
        if time.monotonic() - self._loaded_at > _RELOAD_SECONDS:
            with self._lock:
                self._load()
        return self._by_name.get(name)

    def remember(self, info: TypeInfo) -> None:
        self._by_name = {**self._by_name, info.name: info}


_table = _Table()


def clear_cache() -> None:
    _table.clear()


def ids_of(names: Iterable[str]) -> list[int]:
    """The ids of the existing types among ``names``, never creating one: from this
    process's table, asking the database only about names it does not know (a type
    another process created since the table was loaded)."""
    ids, unknown = [], []
    for name in names:
        info = _table.get(name)
        if info is None:
            unknown.append(name)
        else:
            ids.append(info.id)
    if unknown:
        ids += EventType.objects.filter(name__in=unknown).values_list("id", flat=True)
    return ids


def resolve(name: str) -> TypeInfo:
    """The type called ``name``, creating a custom type if the name is new.

    Raises ``UnknownType`` with a message for the client when the name does not match
    the pattern or the cap on custom types is reached.
    """
    info = _table.get(name)
    if info is not None:
        return info
    if not NAME_RE.match(name):
        raise UnknownType(
            "must be 1 to 64 letters, digits or '_.:-', starting with a letter or digit"
        )
    row = EventType.objects.filter(name=name).values_list("id", "level").first()
    if row is None:
        row = _create_custom(name)
    info = TypeInfo(row[0], name, row[1])
    _table.remember(info)
    return info


def _create_custom(name: str) -> tuple[int, str]:
    cap = config.max_custom_types()
    from .toggles import PROTECTED  # the system's own types are not custom ones

    if EventType.objects.filter(built_in=False).exclude(name__in=PROTECTED).count() >= cap:
        raise UnknownType(
            f"unknown type {name!r}: the limit of {cap} custom types "
            "(AUDIT_MAX_CUSTOM_TYPES) is reached"
        )
    from .tracking import disabled  # registering a type is not a change of the rules

    try:
        with transaction.atomic(), disabled():
            created = EventType.objects.create(
                name=name, level="info", description="Custom type, registered on first use."
            )
        return created.pk, created.level
    except IntegrityError:  # another process registered it first
        return EventType.objects.filter(name=name).values_list("id", "level").get()
