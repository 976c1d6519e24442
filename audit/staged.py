"""Deferred tracking: a tracked save stages its change, and its record is stored after
commit (``AUDIT_DEFERRED_TRACKING = 1``, PostgreSQL).

Why: a record is expensive to write in the save's own statement. It goes into two
tables with eight and five indexes, and five triggers fire (the outbox's, the rollups'
three, the seals' guard). On this machine that is about 140 us a save, more than a whole
django-pghistory save's extra. A narrow row in a table with no other index than its key
costs a tenth of that. So the save's statement writes only such a row
(``StagedChange``), with what the save changed, already described, named and masked,
and who made it. ``drain`` turns rows into records in batches, many records a statement,
as the ingest path stores them.

What stays as it was: the change and its staged row commit or roll back together, so
no change is lost and no record exists of a change that did not happen; the record is
the same, field for field (``tests/test_staged_changes.py`` compares both ways), with
the time of the save. What changes: a record is stored a moment after its change
commits, not with it. Readers of records settle first (``settle``): whatever is staged
then is stored before they read, so a read still shows every change committed before
it. The worker's beat drains every second, in batches of up to a thousand, for the rest.
Nothing drains at the end of the request that saved: a drain costs about 1.3 ms however
few rows it takes (four round trips and a commit), so one per request would cost more
than storing the record in the save, while one per second, or one per read that finds
something staged, shares that among every change since.

A row that cannot become a record (its kind no longer registered, a bug) keeps its
``error`` and waits: it never blocks the rows behind it and is never
dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from . import (
    changes,
    clock,
    config,
    dropped,
    recording,
    registry,
    sessions,
    storage,
    switch_rules,
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


# Takes up to a batch of changes, oldest first, in one round trip: the rows are locked
# and deleted, and come back to be stored in the same transaction.
_TAKE = (
    "DELETE FROM audit_stagedchange WHERE id IN (SELECT id FROM audit_stagedchange "
    "WHERE error = '' AND id <= %s ORDER BY id LIMIT %s FOR UPDATE{skip}) "
    "RETURNING id, events::text, user_id, session_id, request_id, created_at"
)
_NEWEST = "SELECT max(id) FROM audit_stagedchange WHERE error = ''"
_ALL = 2**63 - 1
# A change that could not become a record goes back, as it was, with its error.
_KEEP = (
    "INSERT INTO audit_stagedchange "
    "(id, events, user_id, session_id, request_id, created_at, error) "
    "VALUES (%s, %s::jsonb, %s, %s, %s, %s, %s)"
)
_decoder = msgspec.json.Decoder()


@dataclass(slots=True)
class _Taken:
    """A staged change as the drain reads it back."""

    id: int
    document: Any
    text: str
    user_id: int | None
    session_id: int
    request_id: str
    created_at: Any


def drain(limit: int = BATCH, *, wait: bool = False, upto: int = _ALL) -> Drained:
    """Store the records of up to ``limit`` staged changes, oldest first (none after
    ``upto``), and delete the rows, in one transaction: each change becomes its records
    exactly once, whichever processes drain at the same time. Rows another drain holds
    are skipped, or with ``wait`` waited for (and then found gone: their records are
    stored). Four round trips whatever the batch: begin, take, store, commit.

    If the database refuses the batch, the drain is rolled back and made again with each
    change's records stored apart, so that a change it refuses is kept with its error and
    the others are stored: a refused batch would otherwise come back at every drain, and
    fail every read that settles."""
    if connection.vendor != "postgresql":  # nothing is staged elsewhere
        return Drained()
    try:
        return _drain(limit, wait=wait, upto=upto, apart=False)
    except DatabaseError:
        logger.warning("a batch of staged changes was refused: storing them one by one")
        return _drain(limit, wait=wait, upto=upto, apart=True)


def _drain(limit: int, *, wait: bool, upto: int, apart: bool) -> Drained:
    result = Drained()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_TAKE.format(skip="" if wait else " SKIP LOCKED"), [upto, limit])
        taken = sorted(
            (_Taken(row[0], None, row[1], *row[2:]) for row in cursor.fetchall()),
            key=lambda change: change.id,
        )
        built: list[tuple[_Taken, list[storage.RecordRow]]] = []
        acting: dict[int | None, _Acting] = {}
        counted = recording.IngestResult()
        for change in taken:
            try:
                change.document = _decoder.decode(change.text)
                built.append((change, _rows_of(change, acting, counted)))
            except Exception as error:  # kept and named, never lost, never in the way
                _keep(cursor, change, error, result)
        result.disabled = counted.disabled
        stored = _store_apart(cursor, built, result) if apart else _store(built, result)
        if stored:
            records_stored.send(sender=storage.RecordRow, records=stored)
    result.records = len(stored)
    if result.disabled:
        dropped.maybe_flush()
    return result


def _store(
    built: list[tuple[_Taken, list[storage.RecordRow]]], result: Drained
) -> list[storage.RecordRow]:
    stored = storage.insert([row for _change, rows in built for row in rows])
    result.changes += len(built)
    return stored


def _store_apart(
    cursor: Any, built: list[tuple[_Taken, list[storage.RecordRow]]], result: Drained
) -> list[storage.RecordRow]:
    """Each change's records in a savepoint of their own."""
    stored: list[storage.RecordRow] = []
    for change, rows in built:
        try:
            with transaction.atomic():
                stored += storage.insert(rows)
            result.changes += 1
        except DatabaseError as error:
            _keep(cursor, change, error, result)
    return stored


def _keep(cursor: Any, change: _Taken, error: Exception, result: Drained) -> None:
    """Put a change that cannot become a record back, as it was, with its error."""
    logger.error("staged change #%s cannot become a record", change.id, exc_info=error)
    cursor.execute(
        _KEEP,
        [
            change.id,
            change.text,
            change.user_id,
            change.session_id,
            change.request_id,
            change.created_at,
            f"{type(error).__name__}: {error}"[:2000],
        ],
    )
    result.failed += 1


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
    is staged, none when tracking is not deferred.

    Every change staged up to the newest one seen now is stored when this returns:
    rows another drain holds are waited for, and the drains go on until none is left up
    to it (a drain that waited may take fewer than a batch, and stopping then could
    leave committed changes behind). Changes staged after it began are not waited for:
    they committed after the read began."""
    if not config.deferred_tracking() or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(_NEWEST)
        (newest,) = cursor.fetchone()
    if newest is None:
        return
    while True:
        batch = drain(wait=True, upto=newest)
        if not batch.changes + batch.failed:
            return


def failed() -> int:
    """How many staged changes wait with an error."""
    return StagedChange.objects.exclude(error="").count()


def retry_failed() -> int:
    """Clear the error of the changes kept with one, so that the next drain tries them
    again; answers how many."""
    return StagedChange.objects.exclude(error="").update(error="")


@dataclass(frozen=True, slots=True)
class _Acting:
    """Who made a batch's changes of one user, and the types switched off for them."""

    user: Any
    disabled: frozenset[str]


def _acting(user_id: int | None, known: dict[int | None, _Acting]) -> _Acting:
    """The user by key (the switches need only their groups, cached by key), and their
    switched-off types, read now: once a drain for each user, not once a change."""
    found = known.get(user_id)
    if found is None:
        user = None if user_id is None else get_user_model()(pk=user_id)
        found = known[user_id] = _Acting(user, switch_rules.disabled_types(user))
    return found


def _rows_of(
    change: _Taken, acting: dict[int | None, _Acting], counted: recording.IngestResult
) -> list[storage.RecordRow]:
    """The records of one staged change, as the save would have made them
    (``recording.tracked_rows``), but for the switches, which are read now, and with the
    save's time and its entities as they were named then."""
    document = change.document
    if not isinstance(document, dict):
        raise TypeError(f"the staged change is not a JSON object: {type(document).__name__}")
    entry = registry.get(document["kind"])
    if entry is None:
        raise LookupError(f"no entity kind {document['kind']!r} is registered")
    parts = changes.event_parts(
        entry, json.loads(document["changes"]), document["name"], created=document["created"]
    )
    links = [
        storage.LinkRow(content_type_id=content_type_id, object_id=object_id, role=role, name=name)
        for content_type_id, object_id, role, name in document["entities"]
    ]
    who = _acting(change.user_id, acting)
    return recording.part_rows(
        parts,
        links,
        user=who.user,
        disabled=who.disabled,
        session_id=change.session_id,
        created_at=change.created_at,
        request_id=change.request_id,
        result=counted,
    )
