"""Automatic change tracking of registered models (``audit.register(..., track=True)``).

Whoever changes a tracked model (an API view, the admin, a shell, a Celery task), a
record follows by itself: ``KIND-created``, ``KIND-edited`` with only the changed
fields (old and new value) and ``KIND-deleted``. The design choices:

* The record is written in the same transaction as the change. ``save()`` and
  ``delete()`` of a tracked model are wrapped in ``transaction.atomic``: without it a
  change made in autocommit mode would be committed before ``post_save`` runs, and a
  failure to record would leave a change with no record.
* No extra SELECT per save: the tracked values are kept on the instance when it is
  loaded (``post_init``) and compared on save.
* Bulk operations, which send no signals, are recorded too: the managers of a tracked
  model hand out a queryset whose ``bulk_create``, ``update`` and ``delete`` record one
  event per row, stored in a single batch (``update`` reads the affected rows before
  and after, one query each, whatever their number).
* Masked fields (secrets) are recorded as changed, never with their values.
* A foreign key is recorded by the names of its targets, ids beside them
  (``audit.related_names``): without a query when the targets are at hand, else one
  query per target model for a whole batch.
* On PostgreSQL a save costs no extra round trip: the record rides in the model's own
  statement, which becomes ``WITH audit_saved AS (UPDATE ... RETURNING 1) SELECT
  audit_insert_record(...) FROM audit_saved`` (the same around an INSERT), so it
  records only if a row was written. ``audit_insert_record`` is PL/pgSQL, so its
  plans are kept. Measured with ``bench/tracking.py``: an atomic block around the save
  (BEGIN, INSERT, COMMIT round trips) cost 3.4x a plain save, a second statement in
  the same query string 2.2x, this about 1.4x.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models.signals import post_delete, post_init, post_save

from . import registry, related_names, sessions, storage
from .context import AuditContext
from .context import current as current_context
from .recording import IngestResult, NamedRef, build_event, prepare_rows, record_events
from .signals import records_stored
from .validation import ValidEvent

MASK = "••••••"
MAX_VALUE_LENGTH = 65_536
_SNAPSHOT = "_audit_snapshot"

_off: ContextVar[bool] = ContextVar("audit_tracking_off", default=False)
_batch: ContextVar[list[ValidEvent] | None] = ContextVar("audit_tracking_batch", default=None)
_fields_cache: dict[str, list[models.Field]] = {}
_fk_cache: dict[str, tuple[list[models.Field], list[models.Field]]] = {}


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Changes made inside are not recorded (imports, seeding, benchmarks' baseline)."""
    token = _off.set(True)
    try:
        yield
    finally:
        _off.reset(token)


def is_enabled() -> bool:
    return not _off.get()


@contextlib.contextmanager
def collecting() -> Iterator[None]:
    """Gather the events of the changes made inside and store them as one batch when
    the block ends without an error (nested blocks join the outermost one)."""
    if _batch.get() is not None:
        yield
        return
    events: list[ValidEvent] = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    if events:  # reached only when the block did not raise
        record_events(events, resolve_names=False)


def _emit(events: list[ValidEvent]) -> None:
    pending = _batch.get()
    if pending is not None:
        pending.extend(events)
    elif events:
        record_events(events, resolve_names=False)


# --- what is tracked ---------------------------------------------------------------


def tracked_fields(entry: registry.EntityKind) -> list[models.Field]:
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


def _foreign_keys(entry: registry.EntityKind) -> tuple[list[models.Field], list[models.Field]]:
    """The tracked foreign keys whose changes are recorded by name (masked ones stay
    masked), and every foreign key whose target a record names: those and ``links``."""
    found = _fk_cache.get(entry.kind)
    if found is None:
        named = [
            field
            for field in related_names.foreign_keys(tracked_fields(entry))
            if field.name not in entry.mask
        ]
        linked = [entry.model._meta.get_field(name) for name in entry.links]
        found = (named, [*named, *(f for f in linked if f not in named)])
        _fk_cache[entry.kind] = found
    return found


def _names_at_hand(entry: registry.EntityKind, instance: models.Model) -> related_names.Known:
    return related_names.at_hand(instance, _foreign_keys(entry)[1])


def _name_targets(
    entry: registry.EntityKind,
    change_sets: list[dict[str, dict[str, Any]]],
    known: related_names.Known,
    using: str | None,
) -> related_names.Known:
    """Foreign keys in ``change_sets`` become names (see ``audit.related_names``); no
    work at all when none of them changed."""
    fields = _foreign_keys(entry)[0]
    if not fields or not any(field.name in changes for changes in change_sets for field in fields):
        return known
    return related_names.name_changes(fields, change_sets, known, using=using)


def _copy(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, dict | list) else value


def _values(entry: registry.EntityKind, instance: models.Model) -> dict[str, Any]:
    loaded = instance.__dict__  # deferred fields are absent: they are not compared
    return {
        field.attname: _copy(loaded[field.attname])
        for field in tracked_fields(entry)
        if field.attname in loaded
    }


def _shown(entry: registry.EntityKind, field: models.Field, value: Any) -> Any:
    if field.name in entry.mask:
        return MASK if value not in (None, "", b"") else ""  # an empty one is no secret
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        return value[:MAX_VALUE_LENGTH] + "…"
    return value


def _diff(
    entry: registry.EntityKind, old: dict[str, Any], new: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    changes: dict[str, dict[str, Any]] = {}
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


def _refs(
    entry: registry.EntityKind,
    pk: Any,
    name: str,
    values: dict[str, Any],
    known: related_names.Known,
) -> list[Any]:
    """The entity itself (role "") and the registered targets of ``links`` fields, named
    when their names are ``known``."""
    refs = [NamedRef(entry, entry.parse_id(pk), "", name)]
    for field_name in entry.links:
        field = entry.model._meta.get_field(field_name)
        target = registry.for_model(field.related_model)
        target_id = values.get(field.attname)
        if target is None or target_id is None:
            continue
        target_name = known.get(related_names.key(field, target_id), "")
        refs.append(NamedRef(target, target.parse_id(target_id), field_name, target_name))
    return refs


def _events_for_edit(
    entry: registry.EntityKind,
    changes: dict[str, dict[str, Any]],
    refs: list[Any],
    name: str,
) -> list[ValidEvent]:
    """One ``KIND-edited`` event, plus one per field that has a type of its own."""
    by_type: dict[str, dict[str, dict[str, Any]]] = {}
    for field_name, change in changes.items():
        type_name = entry.field_types.get(field_name, f"{entry.kind}-edited")
        by_type.setdefault(type_name, {})[field_name] = change
    return [
        build_event(
            type_name,
            f"Edited {entry.kind} '{name}': {', '.join(part)}",
            entities=refs,
            changes=part,
        )
        for type_name, part in by_type.items()
    ]


# --- one statement on PostgreSQL ----------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """A record INSERT waiting to ride on the model's own statement."""

    instance_id: int
    prefix: str  # the statement to ride on: the model's UPDATE, or its INSERT
    calls: str
    params: list[Any]
    created: bool
    rows: list[Any]
    session: Any
    consumed: bool = False
    saw_created: bool | None = None


_pending: ContextVar[_Pending | None] = ContextVar("audit_tracking_pending", default=None)
_NOTHING = object()  # the save changes no tracked field: nothing to record


def _append_record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """``connection.execute_wrapper``: put the pending record into the save's SQL.

    The statement becomes ``WITH audit_saved AS (UPDATE ... RETURNING 1) SELECT
    audit_insert_record(...) FROM audit_saved`` (or the same around the INSERT): one
    statement, which records only if a row was written and answers with as many rows
    as were written, so Django reads the same row count. Django's own statement must
    not return rows (``RETURNING``): those it would read are left alone.
    """
    pending = _pending.get()
    if (
        pending is None
        or pending.consumed
        or many
        or not sql.startswith(pending.prefix)
        or " RETURNING " in sql
    ):
        return execute(sql, params, many, context)
    pending.consumed = True
    if params is None:  # the SQL is not a template yet: its "%" are literal
        sql, params = sql.replace("%", "%%"), ()
    # Placeholders, not literals: the query text stays the same from save to save, so
    # psycopg parses it once, and each value is quoted once.
    sql = f"WITH audit_saved AS ({sql} RETURNING 1) SELECT {pending.calls} FROM audit_saved"
    return execute(sql, (*params, *pending.params), many, context)


def _prepare_one_statement(
    instance: models.Model, using: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Pending | object | None:
    """The pending record for this save, ``_NOTHING``, or None for the general path."""
    conn = connections[using]
    entry = registry.for_model(type(instance))
    if (
        entry is None
        or args
        or conn.vendor != "postgresql"
        or conn.settings_dict.get("OPTIONS", {}).get("server_side_binding")
        or _batch.get() is not None
        or records_stored.has_listeners()  # receivers expect the stored rows' ids
        or instance.pk is None
    ):
        return None
    created = instance._state.adding
    values = _values(entry, instance)
    current = _only_saved(entry, values, kwargs.get("update_fields"))
    if created:
        changes = _initial_changes(entry, current)
    else:
        changes = _diff(entry, instance.__dict__.get(_SNAPSHOT, {}), current)
        if not changes:
            return _NOTHING
    # Names are settled here, before the statement: it carries the record as it is.
    known = _name_targets(entry, [changes], _names_at_hand(entry, instance), using)
    related_names.remember(instance, _foreign_keys(entry)[1], known)
    name = entry.name_of(instance)
    refs = _refs(entry, instance.pk, name, values, known)
    if created:
        events = [_created_event(entry, changes, refs, name)]
    else:
        events = _events_for_edit(entry, changes, refs, name)
    ctx = current_context() or AuditContext()
    rows, session = prepare_rows(
        list(enumerate(events)), ctx=ctx, source="server", result=IngestResult()
    )
    if not rows:
        return _NOTHING  # every type switched off for this user
    table = type(instance)._meta.db_table
    calls, params = storage.tracked_calls(rows)
    return _Pending(
        instance_id=id(instance),
        prefix=f'INSERT INTO "{table}" ' if created else f'UPDATE "{table}" ',
        calls=calls,
        params=params,
        created=created,
        rows=rows,
        session=session,
    )


def _save_in_one_statement(
    method: Any,
    instance: models.Model,
    pending: _Pending,
    using: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    token = _pending.set(pending)
    try:
        with connections[using].execute_wrapper(_append_record):
            result = method(instance, *args, **kwargs)
    finally:
        _pending.reset(token)
    if not pending.consumed or pending.saw_created != pending.created:
        # Django ran a statement we did not expect (an UPDATE that matched nothing
        # became an INSERT, say): record the way every other path does.
        with transaction.atomic(using=using, savepoint=False):
            if pending.saw_created and not pending.created:
                _on_save(type(instance), instance, created=True, _rerecord=True)
            elif not pending.consumed:
                storage.insert(pending.rows)
    sessions.touch(pending.session)
    return result


# --- signal receivers ----------------------------------------------------------------


def _on_init(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if _off.get():
        return
    entry = registry.for_model(sender)
    if entry is not None:  # from_db() marks loaded rows only after __init__, so keep all
        instance.__dict__[_SNAPSHOT] = _values(entry, instance)


def _saved_values(
    entry: registry.EntityKind, instance: models.Model, update_fields: Iterable[str] | None
) -> dict[str, Any]:
    return _only_saved(entry, _values(entry, instance), update_fields)


def _only_saved(
    entry: registry.EntityKind, current: dict[str, Any], update_fields: Iterable[str] | None
) -> dict[str, Any]:
    if update_fields is None:
        return current
    names = set(update_fields)
    saved = {f.attname for f in tracked_fields(entry) if {f.name, f.attname} & names}
    return {attname: value for attname, value in current.items() if attname in saved}


def _initial_changes(entry: registry.EntityKind, current: dict[str, Any]) -> dict[str, Any]:
    """A creation's changes: the fields set to something."""
    return {
        field: change
        for field, change in _diff(entry, {}, current).items()
        if change["new"] not in (None, "", [], {})
    }


def _created_event(
    entry: registry.EntityKind, changes: dict[str, Any], refs: list[Any], name: str
) -> ValidEvent:
    return build_event(
        f"{entry.kind}-created",
        f"Created {entry.kind} '{name}'",
        entities=refs,
        changes=changes,
    )


def _on_save(
    sender: type[models.Model],
    instance: models.Model,
    created: bool,
    raw: bool = False,
    update_fields: Iterable[str] | None = None,
    _rerecord: bool = False,
    **kwargs: Any,
) -> None:
    entry = registry.for_model(sender)
    if entry is None:
        return
    current = _saved_values(entry, instance, update_fields)
    previous = instance.__dict__.get(_SNAPSHOT, {})
    if not _rerecord:
        instance.__dict__[_SNAPSHOT] = {**previous, **current}
    pending = _pending.get()
    if pending is not None and pending.instance_id == id(instance):
        pending.saw_created = created  # recorded by the statement itself
        return
    if raw or _off.get():
        return
    changes = _initial_changes(entry, current) if created else _diff(entry, previous, current)
    if not created and not changes:
        return
    known = _name_targets(entry, [changes], _names_at_hand(entry, instance), kwargs.get("using"))
    related_names.remember(instance, _foreign_keys(entry)[1], known)
    name = entry.name_of(instance)
    refs = _refs(entry, instance.pk, name, _values(entry, instance), known)
    if created:
        _emit([_created_event(entry, changes, refs, name)])
    else:
        _emit(_events_for_edit(entry, changes, refs, name))


def _on_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if _off.get():
        return
    entry = registry.for_model(sender)
    if entry is None:
        return
    name = entry.name_of(instance)
    refs = _refs(
        entry, instance.pk, name, _values(entry, instance), _names_at_hand(entry, instance)
    )
    _emit([build_event(f"{entry.kind}-deleted", f"Deleted {entry.kind} '{name}'", entities=refs)])


# --- installing ----------------------------------------------------------------------


def _atomic(method: Any, *, one_statement: bool = False) -> Any:
    """Run a model method in a transaction, collecting the events it causes; for
    ``save`` on PostgreSQL, in the model's own statement when it can."""

    @functools.wraps(method)
    def wrapper(self: models.Model, *args: Any, **kwargs: Any) -> Any:
        if _off.get():
            return method(self, *args, **kwargs)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        if one_statement:
            pending = _prepare_one_statement(self, using, args, kwargs)
            if pending is _NOTHING:
                return method(self, *args, **kwargs)
            if isinstance(pending, _Pending):
                return _save_in_one_statement(method, self, pending, using, args, kwargs)
        with transaction.atomic(using=using), collecting():
            return method(self, *args, **kwargs)

    wrapper.__audit_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _resnapshot_after_refresh(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: models.Model, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        entry = registry.for_model(type(self))
        if entry is not None:
            fields = kwargs.get("fields", args[1] if len(args) > 1 else None)
            fresh = _values(entry, self)
            if fields is not None:
                wanted = set(fields)
                fresh = {
                    f.attname: fresh[f.attname]
                    for f in tracked_fields(entry)
                    if (f.name in wanted or f.attname in wanted) and f.attname in fresh
                }
            self.__dict__[_SNAPSHOT] = {**self.__dict__.get(_SNAPSHOT, {}), **fresh}
        return result

    wrapper.__audit_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


class TrackedQuerySetMixin:
    """Records the bulk operations that Django runs without signals."""

    model: type[models.Model]
    db: str

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any) -> Any:
        if _off.get():
            return super().bulk_create(objs, *args, **kwargs)  # type: ignore[misc]
        objs = list(objs)
        existing: set[Any] = set()
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            known = [obj.pk for obj in objs if obj.pk is not None]
            existing = set(
                self.model._base_manager.using(self.db)
                .filter(pk__in=known)
                .values_list("pk", flat=True)
            )
        with transaction.atomic(using=self.db), collecting():
            created = super().bulk_create(objs, *args, **kwargs)  # type: ignore[misc]
            new = [obj for obj in created if obj.pk is not None and obj.pk not in existing]
            _on_bulk_created(self.model, new, self.db)
        return created

    def update(self, **kwargs: Any) -> int:
        entry = registry.for_model(self.model)
        if _off.get() or entry is None:
            return super().update(**kwargs)  # type: ignore[misc]
        fields = [f for f in tracked_fields(entry) if f.name in kwargs or f.attname in kwargs]
        if not fields:
            return super().update(**kwargs)  # type: ignore[misc]
        wanted = ["pk", *{f.attname for f in fields}, *_link_attnames(entry)]
        if entry.name_field:
            wanted.append(entry.name_field)
        with transaction.atomic(using=self.db), collecting():
            before = {row["pk"]: row for row in self.values(*wanted)}
            count = super().update(**kwargs)  # type: ignore[misc]
            after = self.model._base_manager.using(self.db).filter(pk__in=list(before))
            edited: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = []
            for row in after.values(*wanted):
                old = {f.attname: before[row["pk"]][f.attname] for f in fields}
                new = {f.attname: row[f.attname] for f in fields}
                changes = _diff(entry, old, new)
                if changes:
                    edited.append((row, changes))
            # The targets' names: from objects passed to update(), the rest in one query
            # per target model for all the rows.
            known = _name_targets(
                entry, [changes for _, changes in edited], _names_given(entry, kwargs), self.db
            )
            events: list[ValidEvent] = []
            for row, changes in edited:
                name = str(row.get(entry.name_field, "") or row["pk"])[:200]
                refs = _refs(entry, row["pk"], name, row, known)
                events += _events_for_edit(entry, changes, refs, name)
            _emit(events)
        return count

    def delete(self) -> Any:
        if _off.get():
            return super().delete()  # type: ignore[misc]
        # Tracked models have post_delete receivers, so Django's collector loads each
        # row and sends the signal; collecting() turns them into one batch.
        with transaction.atomic(using=self.db), collecting():
            return super().delete()  # type: ignore[misc]


def _names_given(entry: registry.EntityKind, kwargs: dict[str, Any]) -> related_names.Known:
    """Names of the targets an ``update(owner=alice)`` was given as objects."""
    known: related_names.Known = {}
    for field in _foreign_keys(entry)[1]:
        target = kwargs.get(field.name)
        if isinstance(target, models.Model):
            value = getattr(target, field.target_field.attname)
            known[related_names.key(field, value)] = related_names.name_of(target)
    return known


def _on_bulk_created(model: type[models.Model], objs: list[models.Model], using: str) -> None:
    """``KIND-created`` for each object ``bulk_create`` stored, their targets named with
    at most one query per target model for the whole batch."""
    entry = registry.for_model(model)
    if entry is None or not objs:
        return
    known: related_names.Known = {}
    created: list[tuple[models.Model, dict[str, Any], dict[str, Any]]] = []
    for obj in objs:
        current = _values(entry, obj)
        obj.__dict__[_SNAPSHOT] = {**obj.__dict__.get(_SNAPSHOT, {}), **current}
        known.update(_names_at_hand(entry, obj))
        created.append((obj, current, _initial_changes(entry, current)))
    known = _name_targets(entry, [changes for _, _, changes in created], known, using)
    events: list[ValidEvent] = []
    for obj, current, changes in created:
        related_names.remember(obj, _foreign_keys(entry)[1], known)
        name = entry.name_of(obj)
        events.append(
            _created_event(entry, changes, _refs(entry, obj.pk, name, current, known), name)
        )
    _emit(events)


def _link_attnames(entry: registry.EntityKind) -> list[str]:
    return [entry.model._meta.get_field(name).attname for name in entry.links]


_manager_classes: dict[type, type] = {}


def _tracked_manager_class(manager_class: type) -> type:
    if getattr(manager_class, "_audit_tracked", False):
        return manager_class
    found = _manager_classes.get(manager_class)
    if found is None:
        base_queryset = manager_class._queryset_class
        queryset_class = type(
            f"Tracked{base_queryset.__name__}", (TrackedQuerySetMixin, base_queryset), {}
        )
        found = type(
            f"Tracked{manager_class.__name__}",
            (manager_class,),
            {
                "_queryset_class": queryset_class,
                "_audit_tracked": True,
                "__module__": manager_class.__module__,
            },
        )
        _manager_classes[manager_class] = found
    return found


def track(entry: registry.EntityKind) -> None:
    """Start recording the changes of ``entry.model`` (called by ``audit.register``)."""
    model = entry.model
    _fields_cache.pop(entry.kind, None)
    _fk_cache.pop(entry.kind, None)
    uid = f"audit.tracking.{model._meta.label_lower}"
    post_init.connect(_on_init, sender=model, weak=False, dispatch_uid=f"{uid}.init")
    post_save.connect(_on_save, sender=model, weak=False, dispatch_uid=f"{uid}.save")
    post_delete.connect(_on_delete, sender=model, weak=False, dispatch_uid=f"{uid}.delete")
    if not getattr(model.save, "__audit_wrapped__", False):
        model.save = _atomic(model.save, one_statement=True)
    if not getattr(model.delete, "__audit_wrapped__", False):
        model.delete = _atomic(model.delete)
    if not getattr(model.refresh_from_db, "__audit_wrapped__", False):
        model.refresh_from_db = _resnapshot_after_refresh(model.refresh_from_db)
    for manager in [*model._meta.managers, model._meta.base_manager]:
        manager.__class__ = _tracked_manager_class(manager.__class__)
