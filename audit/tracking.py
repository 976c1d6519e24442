"""Change tracking installed on a registered model (``audit.register(..., track=True)``).

Whoever changes a tracked model (an API view, the admin, a shell, a Celery task), a
record follows by itself: ``KIND-created``, ``KIND-edited`` and ``KIND-deleted``, as
``audit.changes`` describes them. How it is installed, and why:

* The record is written in the same transaction as the change. ``save()`` and
  ``delete()`` of a tracked model are wrapped in ``transaction.atomic``: without it a
  change made in autocommit mode would be committed before ``post_save`` runs, and a
  failure to record would leave a change with no record.
* No extra SELECT per save: the tracked values are kept on the instance when it is
  loaded (``post_init``) and compared on save.
* Bulk operations, which send no signals, are recorded too: the managers of a tracked
  model hand out a queryset whose ``bulk_create``, ``update`` and ``delete`` record one
  event per row, stored in a single batch (``update`` reads the affected rows before
  and after, one query each, whatever their number). ``bulk_create`` with
  ``ignore_conflicts`` or ``update_conflicts`` reads the rows the objects' keys match
  the same way, so that a row a conflict left alone gets no record and a row an upsert
  changed gets ``KIND-edited``, not ``KIND-created``.
* On PostgreSQL a save costs no extra round trip (``audit.one_statement``).

``install`` is called for each tracked kind as it is registered (``audit.apps`` hooks it
into the registry), so the registry itself knows nothing of tracking.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models.signals import post_delete, post_init, post_save

from . import changes, one_statement, registry, related_names
from .recording import record_events
from .untracked import is_off
from .validation import ValidEvent

_M = TypeVar("_M", bound=models.Model)

_batch: ContextVar[list[ValidEvent] | None] = ContextVar("audit_tracking_batch", default=None)
# A save ``one_statement.prepare`` found nothing to record for (no tracked field changed,
# or every type of its events is off for the user, already counted as dropped): the
# instance and whether it was being created. Its ``post_save`` then records nothing,
# unless Django did otherwise (an UPDATE that matched no row became an INSERT).
_nothing: ContextVar[tuple[int, bool] | None] = ContextVar("audit_nothing", default=None)


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


# --- signal receivers ----------------------------------------------------------------


def _on_init(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if is_off():
        return
    entry = registry.for_model(sender)
    if entry is not None:  # from_db() marks loaded rows only after __init__, so keep all
        instance.__dict__[changes.SNAPSHOT] = changes.values(entry, instance)


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
    current = changes.only_saved(entry, changes.values(entry, instance), update_fields)
    if _nothing.get() == (id(instance), created):  # decided before the save: no record
        changes.keep_snapshot(instance, current)
        return
    pending = one_statement.pending_for(instance)
    if pending is not None:  # recorded by the statement itself
        if not _rerecord:
            changes.keep_snapshot(instance, current)
        pending.saw_created = created
        return
    previous = changes.snapshot(instance)
    if not _rerecord:
        changes.keep_snapshot(instance, current)
    if raw or is_off():
        return
    found = changes.initial(entry, current) if created else changes.diff(entry, previous, current)
    if not created and not found:
        return
    _emit(changes.of_instance(entry, instance, found, created=created, using=kwargs.get("using")))


def _on_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if is_off():
        return
    entry = registry.for_model(sender)
    if entry is None:
        return
    name = entry.name_of(instance)
    entities = changes.refs(
        entry,
        instance.pk,
        name,
        changes.values(entry, instance),
        changes.names_at_hand(entry, instance),
    )
    _emit([changes.deleted_event(entry, entities, name)])


# --- wrapped model methods -------------------------------------------------------------


# Marks a model method this module wrapped, so that installing twice (a kind registered
# again, a subclass inheriting a wrapped method) does not wrap it twice.
_WRAPPED = "__audit_wrapped__"


def _mark_wrapped(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    # Through __dict__: a callable's type cannot declare an attribute of its own.
    wrapper.__dict__[_WRAPPED] = True
    return wrapper


def _atomic(method: Callable[..., Any], *, one_statement_save: bool = False) -> Callable[..., Any]:
    """Run a model method in a transaction, collecting the events it causes; for
    ``save`` on PostgreSQL, in the model's own statement when it can."""

    @functools.wraps(method)
    def wrapper(self: models.Model, *args: Any, **kwargs: Any) -> Any:
        if is_off():
            return method(self, *args, **kwargs)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        if one_statement_save:
            pending = one_statement.prepare(
                self, using, args, kwargs, collecting=_batch.get() is not None
            )
            if pending is one_statement.NOTHING:
                token = _nothing.set((id(self), self._state.adding))
                try:
                    return method(self, *args, **kwargs)
                finally:
                    _nothing.reset(token)
            if isinstance(pending, one_statement.Pending):
                result, became_insert = one_statement.save(
                    method, self, pending, using, args, kwargs
                )
                if became_insert:  # Django's UPDATE matched nothing and it inserted
                    with transaction.atomic(using=using, savepoint=False):
                        _on_save(type(self), self, created=True, _rerecord=True)
                return result
        with transaction.atomic(using=using), collecting():
            return method(self, *args, **kwargs)

    return _mark_wrapped(wrapper)


def _resnapshot_after_refresh(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: models.Model, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        entry = registry.for_model(type(self))
        if entry is not None:
            fields = kwargs.get("fields", args[1] if len(args) > 1 else None)
            fresh = changes.values(entry, self)
            if fields is not None:
                wanted = set(fields)
                fresh = {
                    f.attname: fresh[f.attname]
                    for f in changes.tracked_fields(entry)
                    if (f.name in wanted or f.attname in wanted) and f.attname in fresh
                }
            changes.keep_snapshot(self, fresh)
        return result

    return _mark_wrapped(wrapper)


# --- bulk operations -------------------------------------------------------------------


class TrackedQuerySetMixin(models.QuerySet[_M]):
    """Records the bulk operations that Django runs without signals.

    Put before a model's own queryset class (``TrackedQuerySet``, or one built by
    ``_tracked_manager_class``); ``super()`` is that class. A ``QuerySet`` itself, so
    that Django's ``AltersData`` marks these methods ``alters_data`` as it marks the
    ones they override: a template never calls ``delete`` or ``update``.
    """

    def bulk_create(
        self,
        objs: Iterable[_M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[_M]:
        options: dict[str, Any] = {
            "batch_size": batch_size,
            "ignore_conflicts": ignore_conflicts,
            "update_conflicts": update_conflicts,
            "update_fields": update_fields,
            "unique_fields": unique_fields,
        }
        if is_off():
            return super().bulk_create(objs, **options)
        objs = list(objs)
        entry = registry.for_model(self.model)
        if entry is not None and objs and (ignore_conflicts or update_conflicts):
            return self._bulk_create_on_conflict(entry, objs, options)
        with transaction.atomic(using=self.db), collecting():
            created = super().bulk_create(objs, **options)
            _on_bulk_created(self.model, [obj for obj in created if obj.pk is not None], self.db)
        return created

    def _bulk_create_on_conflict(
        self, entry: registry.EntityKind, objs: list[_M], options: dict[str, Any]
    ) -> list[_M]:
        """``bulk_create`` with ``ignore_conflicts`` or ``update_conflicts``: a row the
        insert created is recorded as ``KIND-created``, a row an upsert changed as
        ``KIND-edited`` with its diff, a row a conflict left as it was not at all.

        Which rows existed is read before the insert, one query for all the rows that
        the objects' conflict keys match (``update_conflicts``: ``unique_fields``, those
        rows locked until the transaction ends, as the upsert would lock them;
        ``ignore_conflicts``: the primary key, unique fields and total unique
        constraints). After the insert, one query reads the same rows and the new ones,
        by those keys and by the primary keys Django set: an object whose row did not
        exist before is a creation (its ``pk`` set from the row when Django left it
        unset, as ``ignore_conflicts`` does), and a row that existed is diffed as
        ``update()`` diffs its rows.

        With ``ignore_conflicts``, an object whose conflicts cannot be told from its
        values (it carries no value of any key, or the model has a unique constraint
        with a condition or expressions, or an exclusion constraint) is inserted on its
        own in a savepoint, a conflict rolling back that savepoint only: correct, but
        three statements per object instead of a share of one.

        A row a concurrent transaction inserts with the same key between the read
        before and the insert is taken for one this call created.
        """
        ignore = bool(options["ignore_conflicts"])
        opts = self.model._meta
        pk_field = opts.pk
        assert pk_field is not None
        unique_fields = options["unique_fields"]
        keys: list[_Key] | None
        if not ignore and unique_fields:
            names = [pk_field.name if name == "pk" else name for name in unique_fields]
            keys = [_Key(tuple(_concrete(opts.get_field(name)) for name in names), False)]
        else:  # ignore_conflicts; or an upsert on a database that takes no target
            keys = _unique_keys(self.model)
        one_by_one: list[_M] = []
        keyed = objs
        if ignore:
            if keys is None:
                keyed, one_by_one = [], objs
            else:
                keyed = [obj for obj in objs if any(k.of(obj) is not None for k in keys)]
                one_by_one = [obj for obj in objs if all(k.of(obj) is None for k in keys)]
        keys = keys or []
        tracked = changes.tracked_fields(entry)
        wanted = list(
            dict.fromkeys(
                [
                    "pk",
                    *(f.attname for f in tracked),
                    *changes.link_attnames(entry),
                    *([entry.name_field] if entry.name_field else []),
                    *(f.attname for k in keys for f in k.fields),
                ]
            )
        )
        rows = self.model._base_manager.using(self.db)
        with transaction.atomic(using=self.db), collecting():
            matching = _matching(keys, keyed)
            before: dict[Any, dict[str, Any]] = {}
            if matching is not None:
                found_before = rows.filter(matching)
                if not ignore:  # the upsert locks them too; the diff's "old" stays true
                    found_before = found_before.select_for_update()
                before = {row["pk"]: row for row in found_before.values(*wanted)}
            created = super().bulk_create(keyed, **options) if keyed else []
            given_pks = [obj.pk for obj in created if obj.pk is not None]
            after_filter = models.Q(pk__in=[*before, *given_pks])
            if matching is not None:
                after_filter |= matching
            after = list(rows.filter(after_filter).values(*wanted))
            new, edited_before = _sort_out(entry, keys, keyed, before, after, ignore=ignore)
            new += self._insert_one_by_one(one_by_one, options["batch_size"])
            _on_bulk_created(self.model, new, self.db)
            if not ignore:
                known: related_names.Known = {}
                for obj in objs:
                    known.update(changes.names_at_hand(entry, obj))
                _record_edits(entry, tracked, edited_before, after, known, self.db)
        return objs

    def _insert_one_by_one(self, objs: list[_M], batch_size: int | None) -> list[_M]:
        """Insert each of ``objs`` in a savepoint of its own, as ``ignore_conflicts``
        would, and return those inserted (their ``pk`` set): a conflict rolls back that
        savepoint only."""
        inserted: list[_M] = []
        for obj in objs:
            try:
                with transaction.atomic(using=self.db):
                    super().bulk_create([obj], batch_size=batch_size)
            except IntegrityError as error:
                if not _is_conflict(error, self.db):
                    raise
                obj._state.adding = False  # as bulk_create leaves an object it ignored
                obj._state.db = self.db
                continue
            inserted.append(obj)
        return inserted

    def update(self, **kwargs: Any) -> int:
        entry = registry.for_model(self.model)
        if is_off() or entry is None:
            return super().update(**kwargs)
        fields = [
            f for f in changes.tracked_fields(entry) if f.name in kwargs or f.attname in kwargs
        ]
        if not fields:
            return super().update(**kwargs)
        name_field = entry.name_field
        wanted = ["pk", *{f.attname for f in fields}, *changes.link_attnames(entry)]
        if name_field:
            wanted.append(name_field)
        with transaction.atomic(using=self.db), collecting():
            before = {row["pk"]: row for row in self.values(*wanted)}
            count = super().update(**kwargs)
            after = self.model._base_manager.using(self.db).filter(pk__in=list(before))
            _record_edits(
                entry,
                fields,
                before,
                after.values(*wanted),
                changes.names_given(entry, kwargs),
                self.db,
            )
        return count

    def delete(self) -> tuple[int, dict[str, int]]:
        if is_off():
            return super().delete()
        # Tracked models have post_delete receivers, so Django's collector loads each
        # row and sends the signal; collecting() turns them into one batch.
        with transaction.atomic(using=self.db), collecting():
            return super().delete()


def _on_bulk_created(model: type[models.Model], objs: Sequence[models.Model], using: str) -> None:
    """``KIND-created`` for each object ``bulk_create`` stored, their targets named with
    at most one query per target model for the whole batch."""
    entry = registry.for_model(model)
    if entry is None or not objs:
        return
    known: dict[Any, str] = {}
    created: list[tuple[models.Model, dict[str, Any], changes.Changes]] = []
    for obj in objs:
        current = changes.values(entry, obj)
        changes.keep_snapshot(obj, current)
        known.update(changes.names_at_hand(entry, obj))
        created.append((obj, current, changes.initial(entry, current)))
    known = changes.name_targets(entry, [found for _, _, found in created], known, using)
    events: list[ValidEvent] = []
    for obj, current, found in created:
        changes.remember_names(entry, obj, known)
        name = entry.name_of(obj)
        entities = changes.refs(entry, obj.pk, name, current, known)
        events.append(changes.created_event(entry, found, entities, name))
    _emit(events)


def _record_edits(
    entry: registry.EntityKind,
    fields: Sequence[changes.Field],
    before: dict[Any, dict[str, Any]],
    after: Iterable[dict[str, Any]],
    known: related_names.Known,
    using: str,
) -> None:
    """``KIND-edited`` for each row of ``after`` (``values()`` with ``"pk"``) whose
    ``fields`` differ from its row in ``before``, its targets named with at most one
    query per target model for all the rows."""
    name_field = entry.name_field
    edited: list[tuple[dict[str, Any], changes.Changes]] = []
    for row in after:
        old_row = before.get(row["pk"])
        if old_row is None:
            continue
        old = {f.attname: old_row[f.attname] for f in fields if f.attname in old_row}
        new = {f.attname: row[f.attname] for f in fields}
        found = changes.diff(entry, old, new)
        if found:
            edited.append((row, found))
    known = changes.name_targets(entry, [found for _, found in edited], known, using)
    events: list[ValidEvent] = []
    for row, found in edited:
        named = row.get(name_field, "") if name_field else ""
        name = str(named or row["pk"])[:200]
        entities = changes.refs(entry, row["pk"], name, row, known)
        events += changes.edited_events(entry, found, entities, name)
    _emit(events)


# --- bulk_create's conflicts -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    """Fields whose values two rows cannot share (``nulls_conflict``: NULLs included,
    as a unique constraint with ``nulls_distinct=False`` has it)."""

    fields: tuple[changes.Field, ...]
    nulls_conflict: bool

    def of(self, obj: models.Model) -> tuple[Any, ...] | None:
        """The key's values in ``obj``, comparable with ``in_row``'s; None when they
        cannot conflict (a NULL among them)."""
        return self._values([getattr(obj, f.attname) for f in self.fields])

    def in_row(self, row: dict[str, Any]) -> tuple[Any, ...] | None:
        return self._values([row[f.attname] for f in self.fields])

    def _values(self, raw: list[Any]) -> tuple[Any, ...] | None:
        if not self.nulls_conflict and any(value is None for value in raw):
            return None
        return tuple(_normalized(f, value) for f, value in zip(self.fields, raw, strict=True))

    def matching(self, objs: Iterable[models.Model]) -> models.Q | None:
        """The rows that share this key with one of ``objs``."""
        found = {values for obj in objs if (values := self.of(obj)) is not None}
        if not found:
            return None
        if len(self.fields) == 1:
            return models.Q(**{f"{self.fields[0].attname}__in": [v for (v,) in found]})
        q = models.Q()
        for values in found:
            q |= models.Q(**{f.attname: v for f, v in zip(self.fields, values, strict=True)})
        return q


def _normalized(field: changes.Field, value: Any) -> Any:
    """``value`` as the field's Python type (an id given as a string, a UUID as text),
    so that an object's key compares equal to the row's."""
    try:
        return field.to_python(value)
    except ValidationError:
        return value


def _concrete(field: Any) -> changes.Field:
    assert isinstance(field, models.Field) and field.concrete, field
    return field


def _unique_keys(model: type[models.Model]) -> list[_Key] | None:
    """Every set of fields on which an insert can conflict with a row: the primary
    key, unique fields, ``unique_together`` and the unique constraints on fields. None
    when a conflict cannot be told from the values: a unique constraint with a
    condition or expressions, an exclusion constraint."""
    opts = model._meta
    assert opts.pk is not None
    keys = [_Key((opts.pk,), False)]
    keys += [
        _Key((field,), False)
        for field in opts.concrete_fields
        if field.unique and not field.primary_key
    ]
    for names in opts.unique_together:
        keys.append(_Key(tuple(_concrete(opts.get_field(name)) for name in names), False))
    total = opts.total_unique_constraints
    for constraint in opts.constraints:
        if isinstance(constraint, models.CheckConstraint):
            continue
        if constraint not in total:
            return None
        assert isinstance(constraint, models.UniqueConstraint)
        fields = tuple(_concrete(opts.get_field(name)) for name in constraint.fields)
        keys.append(_Key(fields, constraint.nulls_distinct is False))
    return keys


def _matching(keys: list[_Key], objs: list[Any]) -> models.Q | None:
    """The rows that share a key with one of ``objs``; None when none can."""
    found: models.Q | None = None
    for key in keys:
        q = key.matching(objs)
        if q is not None:
            found = q if found is None else found | q
    return found


def _sort_out(
    entry: registry.EntityKind,
    keys: list[_Key],
    objs: Sequence[models.Model],
    before: dict[Any, dict[str, Any]],
    after: list[dict[str, Any]],
    *,
    ignore: bool,
) -> tuple[list[models.Model], dict[Any, dict[str, Any]]]:
    """After a ``bulk_create`` on conflict: the objects that created their rows (the
    first of several that share a new row), and the rows to diff for edits, as they
    were before (for an upsert that updated a row an earlier object of the batch
    created, SQLite's way, that object's values).

    An object's row is the one with its primary key, else the first that shares one
    of its keys. An object that a conflict left out keeps the snapshot of the row it
    names by its primary key, if any, so that its next save records what it changes."""
    pk_field = entry.model._meta.pk
    assert pk_field is not None
    by_pk = {row["pk"]: row for row in after}
    by_key = [
        (key, {values: row for row in after if (values := key.in_row(row)) is not None})
        for key in keys
    ]
    tracked = changes.tracked_fields(entry)
    new: list[models.Model] = []
    claimed: dict[Any, models.Model] = {}
    edited_before = {} if ignore else dict(before)
    for obj in objs:
        row = by_pk.get(_normalized(pk_field, obj.pk)) if obj.pk is not None else None
        if row is None:
            for key, rows in by_key:
                values = key.of(obj)
                if values is not None and values in rows:
                    row = rows[values]
                    break
        if row is None:  # not stored (SQLite's INSERT OR IGNORE skips a row it refuses)
            continue
        pk = row["pk"]
        if pk in before or pk in claimed:
            if pk in claimed and not ignore:
                edited_before.setdefault(pk, changes.values(entry, claimed[pk]))
            elif _normalized(pk_field, obj.pk) == pk:
                changes.keep_snapshot(obj, {f.attname: row[f.attname] for f in tracked})
            continue
        if obj.pk is None:  # ignore_conflicts: Django does not read the new pks back
            obj.pk = pk
        claimed[pk] = obj
        new.append(obj)
    return new, edited_before


def _is_conflict(error: IntegrityError, using: str) -> bool:
    """Whether ``ignore_conflicts`` would have skipped the row ``error`` refused:
    PostgreSQL's ON CONFLICT DO NOTHING skips unique and exclusion violations;
    SQLite's INSERT OR IGNORE any constraint it checks at once (foreign keys are
    checked at commit)."""
    if connections[using].vendor != "postgresql":
        return True
    cause = error.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code in ("23505", "23P01")  # unique_violation, exclusion_violation


class TrackedQuerySet(TrackedQuerySetMixin[_M]):
    """The queryset of a tracked model whose manager is Django's plain ``Manager``."""


class TrackedManager(models.Manager[_M]):
    """What a tracked model's plain ``Manager`` becomes. Named here, not built at run
    time like the tracked version of a custom manager: django-stubs' plugin types a
    model's managers by looking their classes up by name, and finds this one."""

    _queryset_class = TrackedQuerySet
    _audit_tracked = True


_manager_classes: dict[type[models.Manager[Any]], type[models.Manager[Any]]] = {
    models.Manager: TrackedManager
}


def _tracked_manager_class(manager_class: type[models.Manager[Any]]) -> type[models.Manager[Any]]:
    """The tracked version of ``manager_class``: ``TrackedManager`` for Django's own,
    else a subclass built once whose queryset class puts ``TrackedQuerySetMixin``
    before the manager's."""
    if getattr(manager_class, "_audit_tracked", False):
        return manager_class
    found = _manager_classes.get(manager_class)
    if found is None:
        # _queryset_class: where Django's managers keep their queryset class (private,
        # so django-stubs does not declare it).
        base_queryset = manager_class._queryset_class  # type: ignore[attr-defined]
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


# --- installing --------------------------------------------------------------------------


def install(entry: registry.EntityKind) -> None:
    """Start recording the changes of ``entry.model`` if its kind is tracked (the
    registry calls this for every kind registered, before and after ``audit`` is ready)."""
    if not entry.track:
        return
    model = entry.model
    changes.forget(entry)
    uid = f"audit.tracking.{model._meta.label_lower}"
    post_init.connect(_on_init, sender=model, weak=False, dispatch_uid=f"{uid}.init")
    post_save.connect(_on_save, sender=model, weak=False, dispatch_uid=f"{uid}.save")
    post_delete.connect(_on_delete, sender=model, weak=False, dispatch_uid=f"{uid}.delete")
    # Replacing methods of a class at run time is what mypy's method-assign refuses.
    if not getattr(model.save, _WRAPPED, False):
        model.save = _atomic(model.save, one_statement_save=True)  # type: ignore[method-assign]
    if not getattr(model.delete, _WRAPPED, False):
        model.delete = _atomic(model.delete)  # type: ignore[method-assign]
    if not getattr(model.refresh_from_db, _WRAPPED, False):
        model.refresh_from_db = _resnapshot_after_refresh(model.refresh_from_db)  # type: ignore[method-assign]
    for manager in [*model._meta.managers, model._meta.base_manager]:
        manager.__class__ = _tracked_manager_class(manager.__class__)
