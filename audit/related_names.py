"""Foreign keys in a change record say what they point to, by name.

A tracked model's foreign key is stored as an id (``event_type_id = 43``), and a record
of ``{"event_type": {"new": 43}}`` tells a reader nothing: someone has to look 43 up,
and once that row is gone nobody can. So change tracking records a foreign key's change
as the names of its targets, the ids beside them for machines and for names that repeat
(two projects called "Sales"):

    {"event_type": {"old": "log", "new": "error", "old_id": 42, "new_id": 43}}

Names cost no query where the targets are at hand: the object a save assigned is
cached on the instance (``mapping.event_type = error``), and the instance remembers the
names of the targets it saved before. What is left, usually the old target of an
instance loaded without it, is read with one query per target model for a whole batch
of changes (a ``QuerySet.update`` of a thousand rows costs one, not a thousand). Saves
that change no foreign key, the common case, never get here.

A target is named the way the activity panel names entities: by the registered kind's
``name_field`` (a user's username, an event type's name), otherwise by ``str()``. A
target that no longer exists reads "event type #43".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

from django.core.exceptions import ValidationError
from django.db import models

from . import registry

# Django's field classes are generic for type checkers only: a string alias.
ForeignKey: TypeAlias = "models.ForeignKey[Any, Any]"

# (target model, value of the field the foreign key points at) -> name
Known = dict[tuple[type[models.Model], Any], str]
_REMEMBERED = "_audit_target_names"


def foreign_keys(fields: Iterable[models.Field[Any, Any]]) -> list[ForeignKey]:
    """The many-to-one and one-to-one fields among ``fields`` (concrete fields: those
    are foreign keys, one-to-one fields being foreign keys too)."""
    return [field for field in fields if isinstance(field, models.ForeignKey)]


def target_model(field: ForeignKey) -> type[models.Model]:
    """The model ``field`` points to. Django resolves a lazy reference (``"self"``,
    ``"app.Model"``) to the class when the app registry is ready, before any change
    can be tracked."""
    model = field.related_model
    assert isinstance(model, type), f"{field} points to an unresolved {model!r}"
    return model


def _target_attname(field: ForeignKey) -> str:
    return field.target_field.attname


# id(foreign key) -> (the foreign key, its target model, the target field's
# ``to_python``): what ``key`` needs, looked up once rather than three times a save.
_targets: dict[int, tuple[ForeignKey, type[models.Model], Any]] = {}


def key(field: ForeignKey, value: Any) -> tuple[type[models.Model], Any]:
    """The ``Known`` key of the target ``value`` of ``field``, in the target field's own
    type (an id assigned as text, ``"43"``, is the same target as ``43``)."""
    found = _targets.get(id(field))
    if found is None or found[0] is not field:  # a field made again under the same id
        found = _targets[id(field)] = (field, target_model(field), field.target_field.to_python)
    _, model, to_python = found
    try:  # not contextlib.suppress, whose context manager costs more: a few a save
        return model, to_python(value)
    except ValidationError:  # a value it cannot read stays as given
        return model, value


def name_of(obj: models.Model) -> str:
    """How a target reads: its registered kind's name, else ``str(obj)``."""
    entry = registry.for_model(type(obj))
    if entry is not None:
        return entry.name_of(obj)
    return str(obj)[:200]


def missing_name(field: ForeignKey, value: Any) -> str:
    """What a target that cannot be found is called: "event type #43"."""
    return f"{target_model(field)._meta.verbose_name} #{value}"


def at_hand(instance: models.Model, fields: Iterable[ForeignKey]) -> Known:
    """The names of ``instance``'s targets that cost no query: the related objects
    loaded on it, and those it remembered from its earlier saves."""
    known: Known = {}
    for field in fields:
        remembered = instance.__dict__.get(_REMEMBERED, {}).get(field.attname)
        if remembered is not None:
            known[key(field, remembered[0])] = remembered[1]
        if field.is_cached(instance):
            target = field.get_cached_value(instance)
            if target is not None:
                known[key(field, getattr(target, _target_attname(field)))] = name_of(target)
    return known


def remember(instance: models.Model, fields: Iterable[ForeignKey], known: Known) -> None:
    """Keep the names of the targets ``instance`` now points to, so that its next save
    that moves a foreign key knows the old target's name without a query."""
    remembered = instance.__dict__.setdefault(_REMEMBERED, {})
    for field in fields:
        value = instance.__dict__.get(field.attname)
        name = known.get(key(field, value)) if value is not None else None
        if name is not None:
            remembered[field.attname] = (value, name)
        else:
            remembered.pop(field.attname, None)


def name_changes(
    fields: Iterable[models.Field[Any, Any]],
    changes: Iterable[dict[str, dict[str, Any]]],
    known: Known | None = None,
    *,
    using: str | None = None,
) -> Known:
    """Rewrite, in place, each foreign key's ``{"old": id, "new": id}`` in ``changes``
    (one dict of field changes per record) as names with the ids beside them. Names not
    in ``known`` are read with one query per target model. Returns every name known,
    for the records' entity links."""
    known = dict(known or {})
    fks = {field.name: field for field in foreign_keys(fields)}
    found: list[tuple[ForeignKey, dict[str, Any]]] = []
    wanted: dict[ForeignKey, set[Any]] = {}
    for change_set in changes:
        for field_name, change in change_set.items():
            field = fks.get(field_name)
            if field is None or not isinstance(change, dict):
                continue
            found.append((field, change))
            for side in ("old", "new"):
                value = change.get(side)
                if value is not None and key(field, value) not in known:
                    wanted.setdefault(field, set()).add(value)
    known.update(_look_up(wanted, using))
    for field, change in found:
        for side in ("old", "new"):
            if side not in change:
                continue
            value = change[side]
            change[f"{side}_id"] = value
            if value is not None:
                name = known.get(key(field, value))
                change[side] = name if name is not None else missing_name(field, value)
    return known


def _look_up(wanted: dict[ForeignKey, set[Any]], using: str | None) -> Known:
    """One query per target model (fields pointing at the same model share it)."""
    # (target model, target field's name, its attname) -> values
    by_target: dict[tuple[type[models.Model], str, str], set[Any]] = {}
    for field, values in wanted.items():
        target_field = field.target_field
        target = (target_model(field), target_field.name, target_field.attname)
        by_target.setdefault(target, set()).update(key(field, value)[1] for value in values)
    known: Known = {}
    for (model, name, attname), values in by_target.items():
        manager = model._base_manager.db_manager(using)
        rows = manager.filter(**{f"{name}__in": list(values)})
        entry = registry.for_model(model)
        if entry is not None and entry.name_field:
            pairs = rows.values_list(name, entry.name_field)
            known.update({(model, value): str(shown or "")[:200] for value, shown in pairs})
        else:
            known.update({(model, getattr(obj, attname)): name_of(obj) for obj in rows})
    return known
