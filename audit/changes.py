"""What a change of a tracked model says: the fields that changed, the names of what its
foreign keys point to, and the events that record it.

Pure description: nothing here is stored or installed. ``audit.tracking`` calls it from
the receivers, the bulk operations and the one-statement save alike, so a change reads
the same whichever way it was made:

* ``KIND-created`` holds the fields set to something; ``KIND-edited`` only the changed
  fields, ``{"field": {"old": ..., "new": ...}}``, computed from the values the instance
  was loaded with (``SNAPSHOT``), so a save costs no extra SELECT; a field with a type of
  its own (``field_types``) gets its own event.
* Masked fields (secrets) are recorded as changed, never with their values.
* A foreign key is recorded by the names of its targets, ids beside them
  (``audit.related_names``): without a query when the targets are at hand, else one
  query per target model for a whole batch.
* A record links the entity itself and the registered targets of its ``links`` fields
  (a query's edit shows in its project's activity).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, TypeAlias

from django.db import models

from . import registry, related_names
from .recording import NamedRef, build_event
from .validation import ValidEvent

MASK = "••••••"
MAX_VALUE_LENGTH = 65_536
SNAPSHOT = "_audit_snapshot"  # the tracked values an instance was loaded or saved with

Changes = dict[str, dict[str, Any]]

# Django's field classes are generic for type checkers only: string aliases.
Field: TypeAlias = "models.Field[Any, Any]"
ForeignKey: TypeAlias = "models.ForeignKey[Any, Any]"

_fields_cache: dict[str, list[Field]] = {}
_attnames_cache: dict[str, tuple[str, ...]] = {}
_fk_cache: dict[str, tuple[list[ForeignKey], list[ForeignKey]]] = {}


def forget(entry: registry.EntityKind) -> None:
    """Drop what was worked out about ``entry``'s fields (it was registered again)."""
    _fields_cache.pop(entry.kind, None)
    _attnames_cache.pop(entry.kind, None)
    _fk_cache.pop(entry.kind, None)


def tracked_fields(entry: registry.EntityKind) -> list[Field]:
    """The concrete fields whose changes are recorded (primary key excluded)."""
    found = _fields_cache.get(entry.kind)
    if found is None:
        found = [
            field
            for field in entry.model._meta.concrete_fields
            if not field.primary_key
            and (entry.fields is None or field.name in entry.fields)
            and field.name not in entry.exclude
        ]
        _fields_cache[entry.kind] = found
    return found


def foreign_keys(entry: registry.EntityKind) -> tuple[list[ForeignKey], list[ForeignKey]]:
    """The tracked foreign keys whose changes are recorded by name (masked ones stay
    masked), and every foreign key whose target a record names: those and ``links``."""
    found = _fk_cache.get(entry.kind)
    if found is None:
        named = [
            field
            for field in related_names.foreign_keys(tracked_fields(entry))
            if field.name not in entry.mask
        ]
        linked = [link_field(entry, name) for name in entry.links]
        found = (named, [*named, *(f for f in linked if f not in named)])
        _fk_cache[entry.kind] = found
    return found


def link_field(entry: registry.EntityKind, name: str) -> ForeignKey:
    """The field of ``entry.links`` called ``name``: a foreign key, as ``register``
    documents ``links``."""
    field = entry.model._meta.get_field(name)
    assert isinstance(field, models.ForeignKey), f"{entry.kind}: link {name!r} is no foreign key"
    return field


def names_at_hand(entry: registry.EntityKind, instance: models.Model) -> related_names.Known:
    return related_names.at_hand(instance, foreign_keys(entry)[1])


def name_targets(
    entry: registry.EntityKind,
    change_sets: list[Changes],
    known: related_names.Known,
    using: str | None,
) -> related_names.Known:
    """Foreign keys in ``change_sets`` become names (see ``audit.related_names``); no
    work at all when none of them changed."""
    fields = foreign_keys(entry)[0]
    if not fields or not any(field.name in changes for changes in change_sets for field in fields):
        return known
    return related_names.name_changes(fields, change_sets, known, using=using)


def names_given(entry: registry.EntityKind, kwargs: dict[str, Any]) -> related_names.Known:
    """Names of the targets an ``update(owner=alice)`` was given as objects."""
    known: related_names.Known = {}
    for field in foreign_keys(entry)[1]:
        target = kwargs.get(field.name)
        if isinstance(target, models.Model):
            value = getattr(target, field.target_field.attname)
            known[related_names.key(field, value)] = related_names.name_of(target)
    return known


def remember_names(
    entry: registry.EntityKind, instance: models.Model, known: related_names.Known
) -> None:
    related_names.remember(instance, foreign_keys(entry)[1], known)


_MUTABLE = (dict, list)  # a JSON field's values, changed in place by callers


def _attnames(entry: registry.EntityKind) -> tuple[str, ...]:
    found = _attnames_cache.get(entry.kind)
    if found is None:
        found = _attnames_cache[entry.kind] = tuple(f.attname for f in tracked_fields(entry))
    return found


def values(entry: registry.EntityKind, instance: models.Model) -> dict[str, Any]:
    """The tracked values an instance holds now (deferred fields are left out: they
    are not compared). A JSON field's dict or list is copied, so that a change made to
    it in place still differs from the snapshot; run several times a save, hence the
    plain loop over cached names."""
    loaded = instance.__dict__
    found: dict[str, Any] = {}
    for attname in _attnames(entry):
        if attname in loaded:
            value = loaded[attname]
            found[attname] = copy.deepcopy(value) if isinstance(value, _MUTABLE) else value
    return found


def only_saved(
    entry: registry.EntityKind, current: dict[str, Any], update_fields: Iterable[str] | None
) -> dict[str, Any]:
    """Of ``current``, the values a save with ``update_fields`` writes."""
    if update_fields is None:
        return current
    names = set(update_fields)
    saved = {f.attname for f in tracked_fields(entry) if {f.name, f.attname} & names}
    return {attname: value for attname, value in current.items() if attname in saved}


def snapshot(instance: models.Model) -> dict[str, Any]:
    found: dict[str, Any] = instance.__dict__.get(SNAPSHOT, {})  # as keep_snapshot left it
    return found


def keep_snapshot(instance: models.Model, fresh: dict[str, Any]) -> None:
    instance.__dict__[SNAPSHOT] = {**snapshot(instance), **fresh}


def _shown(entry: registry.EntityKind, field: Field, value: Any) -> Any:
    if field.name in entry.mask:
        return MASK if value not in (None, "", b"") else ""  # an empty one is no secret
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        return value[:MAX_VALUE_LENGTH] + "…"
    return value


def diff(entry: registry.EntityKind, old: dict[str, Any], new: dict[str, Any]) -> Changes:
    """The fields of ``new`` whose values differ from ``old``'s, as they are shown."""
    changes: Changes = {}
    for field in tracked_fields(entry):
        if field.attname not in new:
            continue
        after = new[field.attname]
        if field.attname not in old:
            changes[field.name] = {"new": _shown(entry, field, after)}
        elif old[field.attname] != after:
            changes[field.name] = {
                "old": _shown(entry, field, old[field.attname]),
                "new": _shown(entry, field, after),
            }
    return changes


def initial(entry: registry.EntityKind, current: dict[str, Any]) -> Changes:
    """A creation's changes: the fields set to something."""
    return {
        field: change
        for field, change in diff(entry, {}, current).items()
        if change["new"] not in (None, "", [], {})
    }


def refs(
    entry: registry.EntityKind,
    pk: Any,
    name: str,
    current: dict[str, Any],
    known: related_names.Known,
    *,
    object_id: str | None = None,
) -> list[Any]:
    """The entity itself (role "") and the registered targets of ``links`` fields, named
    when their names are ``known``; ``object_id`` is ``pk`` as stored, when the caller
    has it already."""
    if object_id is None:
        object_id = entry.parse_id(pk)
    found: list[Any] = [NamedRef(entry, object_id, "", name)]
    for field_name in entry.links:
        field = link_field(entry, field_name)
        target = registry.for_model(related_names.target_model(field))
        target_id = current.get(field.attname)
        if target is None or target_id is None:
            continue
        target_name = known.get(related_names.key(field, target_id), "")
        found.append(NamedRef(target, target.parse_id(target_id), field_name, target_name))
    return found


def link_attnames(entry: registry.EntityKind) -> list[str]:
    return [link_field(entry, name).attname for name in entry.links]


# One event of a save: its type's name, its message and the changes it records.
EventPart: TypeAlias = tuple[str, str, Changes]


def event_parts(
    entry: registry.EntityKind, changes: Changes, name: str, *, created: bool
) -> list[EventPart]:
    """What a save's events say: ``KIND-created``, or one ``KIND-edited`` plus one per
    field that has a type of its own. The events are built from these
    (``events_of``), and so are the records a tracked save's statement carries
    (``recording.tracked_records``): one wording for both."""
    if created:
        return [(f"{entry.kind}-created", f"Created {entry.kind} '{name}'", changes)]
    by_type: dict[str, Changes] = {}
    for field_name, change in changes.items():
        type_name = entry.field_types.get(field_name, f"{entry.kind}-edited")
        by_type.setdefault(type_name, {})[field_name] = change
    return [
        (type_name, f"Edited {entry.kind} '{name}': {', '.join(part)}", part)
        for type_name, part in by_type.items()
    ]


def created_event(
    entry: registry.EntityKind, changes: Changes, entities: list[Any], name: str
) -> ValidEvent:
    ((type_name, message, _),) = event_parts(entry, changes, name, created=True)
    return build_event(type_name, message, entities=entities, changes=changes)


def edited_events(
    entry: registry.EntityKind, changes: Changes, entities: list[Any], name: str
) -> list[ValidEvent]:
    """One ``KIND-edited`` event, plus one per field that has a type of its own."""
    return [
        build_event(type_name, message, entities=entities, changes=part)
        for type_name, message, part in event_parts(entry, changes, name, created=False)
    ]


def deleted_event(entry: registry.EntityKind, entities: list[Any], name: str) -> ValidEvent:
    return build_event(f"{entry.kind}-deleted", f"Deleted {entry.kind} '{name}'", entities=entities)


def described(
    entry: registry.EntityKind,
    instance: models.Model,
    changes: Changes,
    *,
    using: str | None,
    current: dict[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    """What one instance's save is about: its name, and the entity and its links
    referenced, their targets named (and remembered on the instance for its next save);
    ``changes`` get their foreign keys' names. ``current`` is ``values(entry,
    instance)`` when the caller has it already."""
    known = name_targets(entry, [changes], names_at_hand(entry, instance), using)
    remember_names(entry, instance, known)
    name = entry.name_of(instance)
    if current is None:
        current = values(entry, instance)
    return name, refs(
        entry, instance.pk, name, current, known, object_id=object_id(entry, instance)
    )


_OBJECT_ID = "_audit_object_id"  # (the key, its text) as ``object_id`` last made it


def object_id(entry: registry.EntityKind, instance: models.Model) -> str:
    """``instance``'s key as records store it, kept on the instance for its next saves:
    a UUID's text costs a tenth of what a tracked save adds."""
    pk = instance.pk
    kept = instance.__dict__.get(_OBJECT_ID)
    if kept is not None and kept[0] is pk:
        text: str = kept[1]
        return text
    text = entry.parse_id(pk)
    instance.__dict__[_OBJECT_ID] = (pk, text)
    return text


def events_of(
    entry: registry.EntityKind, changes: Changes, entities: list[Any], name: str, *, created: bool
) -> list[ValidEvent]:
    if created:
        return [created_event(entry, changes, entities, name)]
    return edited_events(entry, changes, entities, name)


def of_instance(
    entry: registry.EntityKind,
    instance: models.Model,
    changes: Changes,
    *,
    created: bool,
    using: str | None,
) -> list[ValidEvent]:
    """The events of one instance's save (``described``, then ``events_of``)."""
    name, entities = described(entry, instance, changes, using=using)
    return events_of(entry, changes, entities, name, created=created)
