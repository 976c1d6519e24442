"""Resolving event type names to rows, registering custom types on first use.

The ingest path resolves every event's type, so names map to ``(id, level)`` from a
per-process table that is loaded in one query and reloaded at most every
``AUDIT_EVENT_TYPES_RELOAD_SECONDS`` (an admin's change to a type's level shows within that time).
Unknown names become custom types, bounded by a name pattern and a cap.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from . import config, server_types, switch_rules
from .models import EventType
from .untracked import disabled

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")


@dataclass(frozen=True, slots=True)
class TypeInfo:
    id: int
    name: str
    level: str
    server_only: bool = False


class UnknownType(ValueError):
    """The name is not a type and cannot become one (pattern or cap)."""


class _Table:
    """The types by name, read again every ``AUDIT_EVENT_TYPES_RELOAD_SECONDS``, and as
    soon as the switches' generation moves (a type saved anywhere starts a new one, as
    every change of the rules does): a type marked server-only, or its level changed,
    applies in every process within the switches' half second, not a minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, TypeInfo] = {}
        self._loaded_at = 0.0
        self._generation = -1

    def clear(self) -> None:
        with self._lock:
            self._by_name = {}
            self._loaded_at = 0.0

    def _load(self, generation: int) -> None:
        rows = EventType.objects.values_list("id", "name", "level", "server_only")
        self._by_name = {row[1]: TypeInfo(*row) for row in rows}
        self._loaded_at = time.monotonic()
        self._generation = generation

    def get(self, name: str) -> TypeInfo | None:
        generation = switch_rules.generation()
        if (
            time.monotonic() - self._loaded_at > config.event_types_reload_seconds()
            or generation != self._generation
        ):
            with self._lock:
                self._load(generation)
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


def resolve(name: str, *, client_user: Any = None) -> TypeInfo:
    """The type called ``name``, creating a custom type if the name is new.

    ``client_user`` is the user whose client posted the name (None for server code):
    a client cannot register a name the server records by itself, and its new names
    count against its own cap as well as the server's. Raises ``UnknownType`` with a
    message for the client when the name cannot become a type.
    """
    info = _table.get(name)
    if info is not None:
        return info
    if not NAME_RE.match(name):
        raise UnknownType(
            "must be 1 to 64 letters, digits or '_.:-', starting with a letter or digit"
        )
    row = EventType.objects.filter(name=name).values_list("id", "level", "server_only").first()
    if row is None:
        row = _create_custom(name, client_user)
    info = TypeInfo(row[0], name, row[1], row[2])
    _table.remember(info)
    return info


def _create_custom(name: str, client_user: Any) -> tuple[int, str, bool]:
    server_only = server_types.is_server_type(name)
    if client_user is not None:
        if server_only:
            raise UnknownType(
                f"{name!r} is a type the server records by itself; clients cannot post it"
            )
        _check_caps(name, client_user)
    elif not server_only:
        _check_caps(name, None)
    try:  # registering a type is not a change of the rules: not tracked
        with transaction.atomic(), disabled():
            created = EventType.objects.create(
                name=name,
                level="info",
                description="Custom type, registered on first use.",
                server_only=server_only,
                registered_by=client_user,
            )
        return created.pk, created.level, created.server_only
    except IntegrityError:  # another process registered it first
        return EventType.objects.filter(name=name).values_list("id", "level", "server_only").get()


def _check_caps(name: str, client_user: Any) -> None:
    """Refuse a new custom type over the user's cap or the server's, saying whose."""
    custom = EventType.objects.filter(built_in=False, server_only=False).exclude(
        name__in=server_types.PROTECTED
    )
    if client_user is not None:
        mine = config.max_custom_types_per_user()
        if custom.filter(registered_by=client_user).count() >= mine:
            raise UnknownType(
                f"unknown type {name!r}: you have registered {mine} custom types, the limit "
                "per user (AUDIT_MAX_CUSTOM_TYPES_PER_USER); reuse one of yours or ask an "
                "admin to raise it"
            )
    cap = config.max_custom_types()
    if custom.count() >= cap:
        raise UnknownType(
            f"unknown type {name!r}: the server's limit of {cap} custom types "
            "(AUDIT_MAX_CUSTOM_TYPES, all users together) is reached"
        )
