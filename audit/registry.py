"""The registry of entity kinds: which models audit records may link to, and how.

``audit`` never imports the apps whose models it links to; they register themselves
(``audit.register(Model, kind="query")``) from their ``AppConfig.ready``. The registry
answers, for a kind: the model, how to parse an id, how to name an object, and which
objects a user may view.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import post_migrate

KIND_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"

_content_type_ids: dict[type[models.Model], int] = {}


def forget_content_types(**kwargs: Any) -> None:
    """``post_migrate`` receiver: content types may have been made again, with new ids."""
    _content_type_ids.clear()


post_migrate.connect(forget_content_types, dispatch_uid="audit_forget_content_types")

# (user, queryset) -> the objects of the queryset this user may view. Of any model: a
# kind's model is known at run time only.
Viewable = Callable[[Any, models.QuerySet[Any]], models.QuerySet[Any]]


@dataclass(frozen=True)
class EntityKind:
    """How one registered model takes part in the audit trail."""

    kind: str
    model: type[models.Model]
    name_field: str | None = None
    fields: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    track: bool = False
    # Foreign keys whose targets (registered kinds) a change record links too, with
    # the field name as role: a query's edit shows in its project's activity.
    links: tuple[str, ...] = ()
    # Fields whose changes are recorded under their own type, e.g.
    # {"transformations": "query-transformations-edited"}.
    field_types: dict[str, str] = field(default_factory=dict, compare=False)
    # (user, queryset) -> queryset of the objects this user may view; None: staff only.
    viewable: Viewable | None = field(default=None, compare=False)
    # object id -> the URL of the entity's own page, so that every mention links to it.
    page: Callable[[str], str] | None = field(default=None, compare=False)

    def url(self, object_id: str) -> str | None:
        """The entity's page, when the app that registered the kind has one."""
        return self.page(object_id) if self.page is not None else None

    @property
    def content_type(self) -> ContentType:
        return ContentType.objects.get_for_model(self.model, for_concrete_model=False)

    @property
    def content_type_id(self) -> int:
        """The key of ``content_type``, kept: every tracked save and entity page asks,
        and Django's own cache costs a database router's answer each time (about 14,000
        instructions against a dict's hundred). Forgotten when content types may have
        been made again (``post_migrate``, which a test database's flush sends too)."""
        found = _content_type_ids.get(self.model)
        if found is None:
            found = _content_type_ids[self.model] = self.content_type.pk
        return found

    def parse_id(self, raw: Any) -> str:
        """The object id as stored (text), or ``ValueError`` if it cannot be one."""
        pk_field = self.model._meta.pk
        if isinstance(raw, uuid.UUID):
            if isinstance(pk_field, models.UUIDField):
                return str(raw)  # the common case, a saved object's key: already valid
            raw = str(raw)
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise ValueError("must be a string or an integer")
        text = str(raw).strip()
        if not text or len(text) > 64 or "\x00" in text:
            raise ValueError("must be 1 to 64 characters, with no NUL")
        if isinstance(pk_field, models.UUIDField):
            return str(uuid.UUID(text))
        if isinstance(pk_field, models.AutoField | models.BigAutoField | models.IntegerField):
            value = int(text)
            if value < 1:
                raise ValueError("must be a positive integer")
            return str(value)
        return text

    def name_of(self, obj: models.Model) -> str:
        if self.name_field:
            return str(getattr(obj, self.name_field, "") or "")[:200]
        return str(obj)[:200]

    def names(self, ids: Iterable[str]) -> dict[str, str]:
        """Names of the objects that exist among ``ids``, in one query."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        objects = self.model._default_manager.filter(pk__in=wanted)
        if self.name_field:
            return {
                str(pk): str(name or "")[:200]
                for pk, name in objects.values_list("pk", self.name_field)
            }
        return {str(obj.pk): self.name_of(obj) for obj in objects}

    def visible_to(self, user: Any) -> models.QuerySet[models.Model]:
        """The objects of this kind that ``user`` may view."""
        queryset = self.model._default_manager.all()
        if getattr(user, "is_staff", False):
            return queryset
        if self.viewable is None:
            return queryset.none()
        return self.viewable(user, queryset)


_by_kind: dict[str, EntityKind] = {}
_by_model: dict[type[models.Model], EntityKind] = {}
# By the (app label, model name) a content type stores: a page's links name their kind
# by content type, one lookup a link (``for_content_type_id``).
_by_label: dict[tuple[str, str], EntityKind] = {}


def register(
    model: type[models.Model],
    *,
    kind: str,
    name_field: str | None = None,
    fields: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    mask: Iterable[str] = (),
    track: bool = False,
    links: Iterable[str] = (),
    field_types: dict[str, str] | None = None,
    viewable: Viewable | None = None,
    page: Callable[[str], str] | None = None,
) -> EntityKind:
    """Make ``model`` an entity kind that audit records can link to.

    ``viewable(user, queryset)`` narrows a queryset to what a non-staff user may view;
    without it only staff read the kind's activity.

    With ``track=True`` every create, save and delete of the model, bulk operations
    included, records ``KIND-created`` / ``KIND-edited`` / ``KIND-deleted`` by itself
    (installed by ``audit.tracking``). ``fields`` or ``exclude`` choose the fields whose changes are
    recorded; ``mask`` fields are recorded as changed but never in clear; ``links``
    name foreign keys whose targets the record links too; ``field_types`` records the
    changes of some fields under a type of their own; ``page(object_id)`` gives the URL of
    an entity's page, which every mention of it links to.
    """
    if not re.match(KIND_PATTERN, kind):
        raise ValueError(f"entity kind {kind!r} must match {KIND_PATTERN}")
    existing = _by_kind.get(kind)
    if existing is not None and existing.model is not model:
        raise ValueError(f"entity kind {kind!r} is already registered for {existing.model}")
    entry = EntityKind(
        kind=kind,
        model=model,
        name_field=name_field,
        fields=tuple(fields) if fields is not None else None,
        exclude=tuple(exclude),
        mask=tuple(mask),
        track=track,
        links=tuple(links),
        field_types=dict(field_types or {}),
        viewable=viewable,
        page=page,
    )
    _by_kind[kind] = entry
    _by_model[model] = entry
    _by_label[(model._meta.app_label, model._meta.model_name or "")] = entry
    for hook in _on_register:
        hook(entry)
    return entry


_on_register: list[Callable[[EntityKind], None]] = []


def on_register(hook: Callable[[EntityKind], None]) -> None:
    """Call ``hook`` with every kind registered, those already registered included:
    how change tracking is installed (``audit.apps``) without the registry importing
    it."""
    _on_register.append(hook)
    for entry in list(_by_model.values()):
        hook(entry)


def get(kind: str) -> EntityKind | None:
    return _by_kind.get(kind)


def for_model(model: type[models.Model]) -> EntityKind | None:
    return _by_model.get(model)


def for_content_type_id(content_type_id: int) -> EntityKind | None:
    """The kind of a content type's model: by the label it stores (what ``model_class()``
    would look up in the app registry first), from ``ContentType``'s own cache."""
    content_type = ContentType.objects.get_for_id(content_type_id)
    return _by_label.get((content_type.app_label, content_type.model))


def kinds() -> list[str]:
    return sorted(_by_kind)
