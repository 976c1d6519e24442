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
  and after, one query each, whatever their number).
* On PostgreSQL a save costs no extra round trip (``audit.one_statement``).

``install`` is called for each tracked kind as it is registered (``audit.apps`` hooks it
into the registry), so the registry itself knows nothing of tracking.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import models, router, transaction
from django.db.models.signals import post_delete, post_init, post_save

from . import changes, one_statement, registry
from .recording import record_events
from .untracked import is_off
from .validation import ValidEvent

_M = TypeVar("_M", bound=models.Model)

_batch: ContextVar[list[ValidEvent] | None] = ContextVar("audit_tracking_batch", default=None)


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
                return method(self, *args, **kwargs)
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

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        if is_off():
            return super().bulk_create(objs, *args, **kwargs)
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
            created = super().bulk_create(objs, *args, **kwargs)
            new = [obj for obj in created if obj.pk is not None and obj.pk not in existing]
            _on_bulk_created(self.model, new, self.db)
        return created

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
            edited: list[tuple[dict[str, Any], changes.Changes]] = []
            for row in after.values(*wanted):
                old = {f.attname: before[row["pk"]][f.attname] for f in fields}
                new = {f.attname: row[f.attname] for f in fields}
                found = changes.diff(entry, old, new)
                if found:
                    edited.append((row, found))
            # The targets' names: from objects passed to update(), the rest in one query
            # per target model for all the rows.
            known = changes.name_targets(
                entry, [found for _, found in edited], changes.names_given(entry, kwargs), self.db
            )
            events: list[ValidEvent] = []
            for row, found in edited:
                named = row.get(name_field, "") if name_field else ""
                name = str(named or row["pk"])[:200]
                entities = changes.refs(entry, row["pk"], name, row, known)
                events += changes.edited_events(entry, found, entities, name)
            _emit(events)
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
