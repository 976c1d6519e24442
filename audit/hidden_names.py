"""Names a reader may not see: of the entities a page's records name that the reader
may not view.

A record keeps the names of the entities it links as they were when it was written (a
query's project, a job's queries), and a tracked edit the names of the targets of the
foreign keys it changed (``audit.related_names``). A reader of one entity's activity
may view that entity, but not every entity its records name: a published query in a
private project. So a page shows the names of only those the reader may view; of the
others it keeps the kind and the id, and a foreign key's change reads "project #12":
the reader learns that something of that kind was touched, not what it is called, and
gets no link to a page they could not open.

People are not hidden: a user (as every record's actor is named) or a group, the
audience of a share. Staff may view everything: nothing is hidden and nothing is asked.
For the others, one query per kind the page names besides the people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

import msgspec
from django.core.exceptions import ValidationError

from . import changes, registry, related_names

# Named on every page whoever reads it.
OPEN_KINDS = frozenset({"user", "group"})

Target = tuple[str, str]  # (kind, object id)

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def sees_every_name(user: Any) -> bool:
    """Staff may view every entity: nothing is hidden from them, and callers need not
    even gather what a page names."""
    return bool(getattr(user, "is_staff", False) and getattr(user, "is_active", False))


def hidden(user: Any, targets: Iterable[Target]) -> frozenset[Target]:
    """The ``targets`` whose names ``user`` may not see."""
    if sees_every_name(user):
        return frozenset()
    wanted: dict[str, set[str]] = defaultdict(set)
    for kind, object_id in targets:
        if kind not in OPEN_KINDS:
            wanted[kind].add(object_id)
    found: set[Target] = set()
    for kind_name, ids in wanted.items():
        entry = registry.get(kind_name)
        keys = _keys(entry, ids) if entry is not None else {}
        visible = set()
        if entry is not None and keys:
            pks = entry.visible_to(user).filter(pk__in=list(keys)).values_list("pk", flat=True)
            visible = {keys[pk] for pk in pks if pk in keys}
        found.update((kind_name, object_id) for object_id in ids if object_id not in visible)
    return frozenset(found)


def _keys(entry: registry.EntityKind, ids: Iterable[str]) -> dict[Any, str]:
    """The primary keys of ``ids`` as the model reads them, to the id as stored; an id
    that is no key of the model names nothing the reader may view."""
    keys: dict[Any, str] = {}
    for object_id in ids:
        try:
            keys[entry.model._meta.pk.to_python(object_id)] = object_id
        except (ValidationError, ValueError, TypeError):  # of another shape: hidden
            continue
    return keys


@cache
def _foreign_kinds(type_name: str) -> dict[str, str]:
    """The foreign keys a record of ``type_name`` may name in its changes, by field, to
    the kind of their targets: the tracked fields of the entity the type is about."""
    entry = registry.get(type_name.rsplit("-", 1)[0])
    if entry is None or not entry.track:
        return {}
    kinds = {}
    for field in changes.foreign_keys(entry)[0]:
        target = registry.for_model(related_names.target_model(field))
        if target is not None:
            kinds[field.name] = target.kind
    return kinds


def change_targets(type_name: str, change_set: Any) -> list[Target]:
    """The entities a record's changes name by a foreign key, old and new."""
    kinds = _foreign_kinds(type_name)
    if not kinds or not isinstance(change_set, dict):
        return []
    found = []
    for field, kind in kinds.items():
        change = change_set.get(field)
        if isinstance(change, dict):
            found += [(kind, str(change[key])) for key in ("old_id", "new_id") if key in change]
    return found


def masked_changes(type_name: str, change_set: Any, hide: frozenset[Target]) -> Any:
    """``change_set`` with each hidden foreign key target named by its kind and id."""
    kinds = _foreign_kinds(type_name)
    if not hide or not kinds or not isinstance(change_set, dict):
        return change_set
    masked = dict(change_set)
    for field, kind in kinds.items():
        change = masked.get(field)
        if not isinstance(change, dict):
            continue
        for side in ("old", "new"):
            target_id = change.get(f"{side}_id")
            if target_id is not None and (kind, str(target_id)) in hide:
                change = {**change, side: f"{kind} #{target_id}"}
        masked[field] = change
    return masked


# --- the API's records --------------------------------------------------------------


def _decoded(value: Any) -> Any:
    return _decoder.decode(bytes(value)) if isinstance(value, msgspec.Raw) else value


def api_targets(record: dict[str, Any]) -> list[Target]:
    """What an API record (its ``entities`` and ``changes``, decoded or not) names."""
    entities = _decoded(record.get("entities")) or []
    named = [(str(e.get("type")), str(e.get("id"))) for e in entities if isinstance(e, dict)]
    return named + change_targets(str(record.get("type")), _decoded(record.get("changes")))


def mask_api_records(records: list[dict[str, Any]], user: Any) -> list[dict[str, Any]]:
    """API records with the names ``user`` may not see taken out (in place, and
    returned): an entity's ``name`` left empty, a foreign key's change named by kind
    and id. Records that name nothing hidden are left as they are."""
    if sees_every_name(user):
        return records
    hide = hidden(user, (target for record in records for target in api_targets(record)))
    return _masked(records, hide) if hide else records


def _masked(records: list[dict[str, Any]], hide: frozenset[Target]) -> list[dict[str, Any]]:
    for record in records:
        entities = _decoded(record.get("entities")) or []
        if any((str(e.get("type")), str(e.get("id"))) in hide for e in entities):
            record["entities"] = [
                {**e, "name": ""} if (str(e.get("type")), str(e.get("id"))) in hide else e
                for e in entities
            ]
        change_set = _decoded(record.get("changes"))
        masked = masked_changes(str(record.get("type")), change_set, hide)
        if masked is not change_set:
            record["changes"] = masked
    return records


def mask_api_page(page: Any, user: Any) -> Any:
    """A page encoded as a JSON array of API records, masked for ``user``: decoded only
    for readers who are not staff, encoded again only when something is hidden. A page
    that is no encoded array (the empty list of a filter that matches nobody) names
    nothing."""
    if not isinstance(page, msgspec.Raw) or sees_every_name(user):
        return page
    records = _decoder.decode(bytes(page))
    hide = hidden(user, (target for record in records for target in api_targets(record)))
    if not hide:
        return page
    return msgspec.Raw(_encoder.encode(_masked(records, hide)))
