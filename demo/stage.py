"""What a step of the demo may use of the replay that runs it: the people, the entities
made so far, the replayed time and the acting user, and the browser's way in.

A protocol, so that the steps (``demo.acts``) and the replay (``demo.replay``) do not
import each other: the plan holds steps, the replay runs them.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Protocol

from django.contrib.auth.models import Group, User

from catalog.models import Comment, Entity

from .people import Person


class Stage(Protocol):
    rng: random.Random
    users: dict[str, User]
    groups: dict[str, Group]
    objects: dict[str, Entity]
    comments: list[tuple[Comment, datetime]]

    @property
    def user(self) -> User:
        """The person acting in the step that runs."""

    def now(self) -> datetime:
        """The replayed time of the step that runs."""

    def touched(self, name: str) -> None:
        """Entity ``name`` was changed now (its ``updated_at`` is set from it at the end)."""

    def post(self, events: list[dict[str, Any]]) -> None:
        """Post browser events as the browser logger would."""

    def invite(self, person: Person) -> None:
        """The acting admin invites ``person``."""
