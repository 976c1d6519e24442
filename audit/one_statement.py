"""On PostgreSQL, a tracked save's record rides in the model's own statement.

The save's UPDATE (or INSERT) becomes ``WITH audit_saved AS (UPDATE ... RETURNING 1)
SELECT audit_insert_record(...) FROM audit_saved``: one statement and one round trip,
which records only if a row was written. ``audit_insert_record`` is PL/pgSQL
(``audit.sql``), so its plans are kept. Measured with ``bench/tracking.py``: an atomic
block around the save (BEGIN, INSERT, COMMIT round trips) cost 3.4x a plain save, a
second statement in the same query string 2.2x, this about 1.4x. The statement itself
is bound on the server and prepared (``audit.prepared``), so PostgreSQL parses and plans
it once per connection rather than at every save.

With ``AUDIT_DEFERRED_TRACKING`` the statement carries a staged row instead of the
record (``INSERT INTO audit_stagedchange ... SELECT ... FROM audit_saved``), and the record
is stored after commit (``audit.staged``).

``prepare`` decides whether a save can take this path and builds the record;
``save`` runs the save with the record attached, and falls back to storing it (or
staging it) in a statement of its own when Django ran another statement than the one
expected: what ``prepare`` decided stands, its switches and counts included.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, transaction

from . import changes, config, registry, sessions, staged, storage
from .context import AuditContext
from .context import current as current_context
from .prepared import PREPARE_THRESHOLD, server_bound
from .recording import tracked_rows
from .signals import records_stored


@dataclass(slots=True)
class Pending:
    """A record INSERT waiting to ride on the model's own statement."""

    instance_id: int
    prefix: str  # the statement to ride on: the model's UPDATE, or its INSERT
    tail: str  # what follows ``audit_saved``: the record's call, or the staged row
    params: list[Any]
    created: bool
    rows: list[Any]  # the records, when the statement stores them itself
    session: Any
    consumed: bool = False
    saw_created: bool | None = None


_pending: ContextVar[Pending | None] = ContextVar("audit_tracking_pending", default=None)
NOTHING = object()  # the save changes no tracked field, or its types are off: no record


def pending_for(instance: models.Model) -> Pending | None:
    """The record riding on ``instance``'s save now, if any (``post_save`` asks)."""
    pending = _pending.get()
    return pending if pending is not None and pending.instance_id == id(instance) else None


def _append_record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """``connection.execute_wrapper``: put the pending record into the save's SQL.

    The statement answers with as many rows as were written, so Django reads the same
    row count. Django's own statement must not return rows (``RETURNING``): those it
    would read are left alone.
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
    sql = f"WITH audit_saved AS ({sql} RETURNING 1) {pending.tail}"
    params = (*params, *pending.params)
    # Bound on the server, the text is the same from save to save: PostgreSQL parses
    # and plans it once per connection (``audit.prepared``).
    raw = server_bound(context["cursor"])
    if raw is None:
        return execute(sql, params, many, context)
    threshold = raw.prepare_threshold
    raw.prepare_threshold = PREPARE_THRESHOLD
    try:
        return execute(sql, params, many, context)
    finally:
        raw.prepare_threshold = threshold


_riding: dict[str, bool] = {}


def _rides(using: str) -> bool:
    """Whether saves on the database ``using`` can carry their record: PostgreSQL with
    Django's client-side binding (whose statement texts the record is appended to).
    Fixed for an alias's life, so worked out once, not at every save."""
    found = _riding.get(using)
    if found is None:
        conn = connections[using]
        found = _riding[using] = conn.vendor == "postgresql" and not conn.settings_dict.get(
            "OPTIONS", {}
        ).get("server_side_binding")
    return found


def prepare(
    instance: models.Model,
    using: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    collecting: bool,
) -> Pending | object | None:
    """The pending record for this save, ``NOTHING``, or None for the general path
    (another database, a batch being collected, receivers that need record ids...)."""
    entry = registry.for_model(type(instance))
    if (
        entry is None
        or args
        or not _rides(using)
        or collecting
        # receivers expect the stored rows' ids (``receivers`` first: it costs nothing)
        or (records_stored.receivers and records_stored.has_listeners())
        or instance.pk is None
    ):
        return None
    created = instance._state.adding
    everything = changes.values(entry, instance)
    current = changes.only_saved(entry, everything, kwargs.get("update_fields"))
    if created:
        found = changes.initial(entry, current)
    else:
        found = changes.diff(entry, changes.snapshot(instance), current)
        if not found:
            return NOTHING
    # Names are settled here, before the statement: it carries the record as it is.
    name, entities = changes.described(entry, instance, found, using=using, current=everything)
    ctx = current_context() or AuditContext()
    table = type(instance)._meta.db_table
    prefix = f'INSERT INTO "{table}" ' if created else f'UPDATE "{table}" '
    if config.deferred_tracking():  # the events and their types when the record is stored
        found_staged = staged.params(entry, found, name, entities, created=created, ctx=ctx)
        if found_staged is None:
            return NOTHING  # every type switched off for this user
        staged_params, staged_session = found_staged
        return Pending(
            instance_id=id(instance),
            prefix=prefix,
            tail=staged.STAGE_SQL,
            params=staged_params,
            created=created,
            rows=[],
            session=staged_session,
        )
    parts = changes.event_parts(entry, found, name, created=created)
    rows, session = tracked_rows(parts, entities, ctx=ctx)
    if not rows:
        return NOTHING  # every type switched off for this user
    calls, params = storage.tracked_calls(rows)
    return Pending(
        instance_id=id(instance),
        prefix=prefix,
        tail=f"SELECT {calls} FROM audit_saved",
        params=params,
        created=created,
        rows=rows,
        session=session,
    )


def save(
    method: Any,
    instance: models.Model,
    pending: Pending,
    using: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, bool]:
    """Run the save with ``pending`` attached. Returns its result, and True when Django
    turned an expected UPDATE into an INSERT (the caller records a creation instead);
    a record (or staged row) that found no statement to ride on is stored in a statement
    of its own, in the caller's transaction if there is one, else in its own right after
    the save's."""
    token = _pending.set(pending)
    # ``execute_wrapper``'s own steps, without its generator-based context manager,
    # which cost a fifth of what this module adds to a save.
    wrappers = connections[using].execute_wrappers
    wrappers.append(_append_record)
    try:
        result = method(instance, *args, **kwargs)
    finally:
        wrappers.pop()
        _pending.reset(token)
    became_insert = bool(pending.saw_created) and not pending.created
    if not pending.consumed and not became_insert:
        with transaction.atomic(using=using, savepoint=False):
            if pending.rows:
                storage.insert(pending.rows)
            else:  # staged: the row the statement was to carry, as it was decided
                staged.stage_apart(using, pending.params)
    sessions.touch(pending.session)
    return result, became_insert
