"""Deferred tracking: a tracked save stages its change, and its record is stored after
commit (``AUDIT_DEFERRED_TRACKING = 1``, PostgreSQL).

Why: a record is expensive to write in the save's own statement. It goes into two
tables with eight and five indexes, and five triggers fire (the outbox's, the rollups'
three, the seals' guard). On this machine that is about 140 us a save, more than a whole
django-pghistory save's extra. A narrow row in a table with no other index than its key
costs a tenth of that. So the save's statement writes only such a row
(``StagedChange``), with the events the save means, already described and masked, and
who made them. ``drain`` turns rows into records in batches, many records a statement,
as the ingest path stores them.

What stays as it was: the change and its staged row commit or roll back together, so
no change is lost and no record exists of a change that did not happen; the record is
the same, field for field (``tests/test_staged_changes.py`` compares both ways), with
the time of the save. What changes: a record shows a moment after its change commits,
not with it. The process that staged drains at the end of the request or task, after
the response is sent, and the worker's beat drains every second for everyone else.

A row that cannot become a record (its type switched into a name that cannot be one,
a bug) keeps its ``error`` and waits: it never blocks the rows behind it and is never
dropped.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msgspec
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from . import (
    changes,
    clock,
    config,
    dropped,
    event_types,
    recording,
    registry,
    sessions,
    storage,
    switch_rules,
    uuids,
)
from .context import AuditContext, SessionRef
from .models import StagedChange
from .signals import records_stored

logger = logging.getLogger(__name__)

# Rides on the save's statement (``audit.one_statement``), after ``audit_saved``: one
# row staged for each row the save wrote. Its text never changes, so it is prepared.
STAGE_SQL = (
    "INSERT INTO audit_stagedchange "
    "(events, user_id, session_id, request_id, created_at, error) "
    "SELECT %s::jsonb, %s, %s, %s, %s, '' FROM audit_saved"
)
BATCH = 1000

_encoder = msgspec.json.Encoder()
# Set when this context staged a change: the end of its request or task drains.
_staged_here: ContextVar[bool] = ContextVar("audit_staged_here", default=False)


def params(
    entry: registry.EntityKind,
    changes: dict[str, Any],
    name: str,
    entities: list[Any],
    *,
    created: bool,
    ctx: AuditContext,
) -> tuple[list[Any], SessionRef]:
    """``STAGE_SQL``'s parameters for a save described by ``changes.described``, made in
    ``ctx``, and the session it joins (resolved now, as a record's is: the context is
    gone later). The events themselves are built when the records are (``_rows_of``):
    the save pays only for what cannot wait, its names, its diff and who made it."""
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    session = sessions.for_context(ctx)
    document = _encoder.encode(
        {
            "kind": entry.kind,
            "created": created,
            "name": name,
            # As text: a JSON object stored as jsonb loses its keys' order, which the
            # event's message follows.
            "changes": recording.encode_changes(changes),
            "entities": [
                [ref.kind.content_type.pk, ref.object_id, ref.role, getattr(ref, "name", "")]
                for ref in entities
            ],
        }
    ).decode()
    _staged_here.set(True)
    return [
        document,
        user.pk if user is not None else None,
        session.pk,
        ctx.request_id,
        clock.now(),
    ], session


@dataclass(slots=True)
class Drained:
    """What one ``drain`` did."""

    changes: int = 0  # staged rows taken
    records: int = 0  # records stored from them
    disabled: int = 0  # events of types switched off for their user
    failed: int = 0  # rows kept with their error


def drain(limit: int = BATCH, *, wait: bool = False) -> Drained:
    """Store the records of up to ``limit`` staged changes, oldest first, and delete the
    rows, in one transaction: each change becomes its records exactly once, whichever
    processes drain at the same time. Rows another drain holds are skipped, or with
    ``wait`` waited for (and then found gone: their records are stored)."""
    result = Drained()
    with transaction.atomic():
        staged = list(
            StagedChange.objects.select_for_update(skip_locked=not wait)
            .filter(error="")
            .order_by("id")[:limit]
        )
        if not staged:
            return result
        users = get_user_model()._default_manager.in_bulk(
            {change.user_id for change in staged if change.user_id is not None}
        )
        rows: list[storage.RecordRow] = []
        done: list[int] = []
        for change in staged:
            try:
                built = _rows_of(change, users.get(change.user_id), result)
            except Exception as error:  # kept and named, never lost, never in the way
                logger.exception("staged change #%s cannot become a record", change.pk)
                change.error = f"{type(error).__name__}: {error}"[:2000]
                change.save(update_fields=["error"])
                result.failed += 1
                continue
            rows += built
            done.append(change.pk)
        stored = storage.insert(rows)
        if stored:
            records_stored.send(sender=storage.RecordRow, records=stored)
        StagedChange.objects.filter(pk__in=done).delete()
    result.changes = len(done)
    result.records = len(stored)
    if result.disabled:
        dropped.maybe_flush()
    return result


def drain_all(limit: int = BATCH, *, wait: bool = False) -> Drained:
    """``drain`` until no staged change is left that this process may take."""
    total = Drained()
    while True:
        batch = drain(limit, wait=wait)
        total.changes += batch.changes
        total.records += batch.records
        total.disabled += batch.disabled
        total.failed += batch.failed
        if batch.changes + batch.failed < limit:
            return total


def settle() -> None:
    """Before a read of records: store what is staged, so that the read shows every
    change committed before it began, whichever process made it. One query when nothing
    is staged, none when tracking is not deferred; drains that hold rows are waited
    for, so their records are stored when this returns."""
    if not config.deferred_tracking() or connection.vendor != "postgresql":
        return
    if StagedChange.objects.filter(error="").exists():
        drain_all(wait=True)


def drain_if_staged_here() -> None:
    """At the end of a request or task that staged a change: store its records now,
    rather than at the worker's next beat."""
    if _staged_here.get():
        _staged_here.set(False)
        drain_all()


def failed() -> int:
    """How many staged changes wait with an error."""
    return StagedChange.objects.exclude(error="").count()


def retry_failed() -> int:
    """Clear the error of the changes kept with one, so that the next drain tries them
    again; answers how many."""
    return StagedChange.objects.exclude(error="").update(error="")


def _rows_of(change: StagedChange, user: Any, result: Drained) -> list[storage.RecordRow]:
    """The records of one staged change, as ``recording.prepare_rows`` would have made
    them at the save, but for the switches, which are read now."""
    document = change.events
    if not isinstance(document, dict):
        raise TypeError(f"the staged change is not a JSON object: {type(document).__name__}")
    entry = registry.get(document["kind"])
    if entry is None:
        raise LookupError(f"no entity kind {document['kind']!r} is registered")
    events = changes.events_of(
        entry,
        json.loads(document["changes"]),
        [],
        document["name"],
        created=document["created"],
    )
    entities = document["entities"]
    disabled = switch_rules.disabled_types(user)
    rows = []
    for event in events:
        info = event_types.resolve(event.type)
        if info.name in disabled:
            result.disabled += 1
            dropped.count(info.name, switch_rules.drop_reasons(user, info.name))
            continue
        rows.append(
            storage.RecordRow(
                uuid=uuids.uuid7(),
                type_id=info.id,
                type_name=info.name,
                level=event.level or info.level,
                message=event.message,
                params_json=event.params_json,
                changes_json=event.changes_json,
                stack_trace="",
                fingerprint="",
                user_id=change.user_id,
                session_id=change.session_id,
                created_at=change.created_at,
                client_time=None,
                source="server",
                request_id=change.request_id,
                links=[
                    storage.LinkRow(
                        content_type_id=content_type_id, object_id=object_id, role=role, name=name
                    )
                    for content_type_id, object_id, role, name in entities
                ],
            )
        )
    return rows
