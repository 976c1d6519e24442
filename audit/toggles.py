"""Which event types are switched off for a user.

A user's event is dropped when its type is off globally or for any group the user is
in; an event with no user follows the global switch only.
"""

from __future__ import annotations

from typing import Any

from .models import EventType


def disabled_types(user: Any) -> frozenset[str]:
    """Names of the types whose events ``user`` (or None for system) does not record."""
    globally_off = EventType.objects.filter(enabled=False).values_list("name", flat=True)
    names = set(globally_off)
    if user is not None and getattr(user, "is_authenticated", False):
        names.update(
            EventType.objects.filter(disabled_for__user=user).values_list("name", flat=True)
        )
    return frozenset(names)
