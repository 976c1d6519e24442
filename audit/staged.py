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
no change is lost and no record exists of a change that did not happen (but for the
rare save whose statements Django writes otherwise than expected, staged in a statement
of its own right after, ``one_statement.save``, as its record was stored before); the record is
the same, field for field (``tests/test_staged_changes.py`` compares both ways), with
the time, user, session and switches of the save. Nor can the application take a
change back once it committed: it may not edit a staged row (its role may update only
``error``), and the database refuses to delete one before its first record is stored
under the row's ``uuid`` (``sql.STAGED_GUARD``).

What changes: a record is stored a moment after its change commits, not with it; its
id is given then, so it may follow the ids of records stored in that moment (its time is
the save's). Every read of records settles first (``settle``, from the records' and
links' querysets and from the pages' loaders; an entity's API page asks in its own
statement): whatever is staged then is stored before the read, so a read still shows
every change committed before it. The worker's
beat drains every second, in batches of up to a thousand, for the rest. Nothing drains
at the end of the request that saved: a drain costs about 1.3 ms however few rows it
takes (six round trips with the commit), so one per request would cost more than
storing the record in the save, while one per second, or one per read that finds
something staged, shares that among every change since.

A row that cannot become a record (its kind no longer registered, a bug) keeps its
``error`` and waits: it never blocks the rows behind it and is never
dropped.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msgspec
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, connections, transaction

from . import (
    changes,
    config,
    dropped,
    recording,
    registry,
    storage,
    uuids,
)
from .context import AuditContext, SessionRef, current
from .models import BEFORE_READ, StagedChange
from .signals import records_stored

logger = logging.getLogger(__name__)

# Rides on the save's statement (``audit.one_statement``), after ``audit_saved``: one
# row staged for each row the save wrote. Its text never changes, so it is prepared.
_STAGE = (
    "INSERT INTO audit_stagedchange "
    "(uuid, events, user_id, session_id, request_id, created_at, error) "
)
STAGE_SQL = _STAGE + "SELECT %s, %s::jsonb, %s, %s, %s, %s, '' FROM audit_saved"
# The same row on its own, for a save whose statement it found no way to ride on
# (``one_statement.save``): what the save decided (its time, its switches, its counts of
# events switched off) stands.
STAGE_APART_SQL = _STAGE + "VALUES (%s, %s::jsonb, %s, %s, %s, %s, '')"
BATCH = 1000

_encoder = msgspec.json.Encoder()


def params(
    entry: registry.EntityKind,
    diff: dict[str, Any],
    name: str,
    entities: list[Any],
    *,
    created: bool,
    ctx: AuditContext,
) -> tuple[list[Any], SessionRef] | None:
    """``STAGE_SQL``'s parameters for a save whose ``diff`` and names
    ``changes.described`` gave, made in ``ctx``, and the session it joins; None when
    every type of its events is switched off for its user (nothing to stage). Who acts,
    their session, their switches and the time are settled now, as for a record stored
    in the save: the context is gone later, and a switch turned on after the save must
    not bring back an event that was off when it happened. The events themselves are
    built when the records are (``_rows_of``): the save pays only for what cannot
    wait."""
    user, disabled, session, now = recording.acting(ctx)
    _staged_a_change()
    off: list[str] = []
    if disabled:  # most users have nothing switched off: no parts worked out for them
        parts = changes.event_parts(entry, diff, name, created=created)
        result = recording.IngestResult()
        off = recording.switched_off(parts, user, disabled, result)
        if result.disabled:
            dropped.maybe_flush()
        if len(off) == len(parts):
            return None
    document = _encoder.encode(
        {
            "kind": entry.kind,
            "created": created,
            "name": name,
            # As text: a JSON object stored as jsonb loses its keys' order, which the
            # event's message follows.
            "changes": recording.encode_changes(diff),
            "entities": [
                [ref.kind.content_type_id, ref.object_id, ref.role, getattr(ref, "name", "")]
                for ref in entities
            ],
            "off": off,
        }
    ).decode()
    return [
        uuids.uuid7(),
        document,
        user.pk if user is not None else None,
        session.pk,
        ctx.request_id,
        now,
    ], session


def stage_apart(using: str, params: list[Any]) -> None:
    """Stage a change with ``params`` (``params``'s answer) in a statement of its own.

    After the save's other statements: a receiver that read or recorded in the midst of
    the save settled before this row existed, so the context's next read or record must
    settle again, and store this change before whatever it records next."""
    with connections[using].cursor() as cursor:
        cursor.execute(STAGE_APART_SQL, params)
    _staged_a_change()


@dataclass(slots=True)
class Drained:
    """What one ``drain`` did."""

    changes: int = 0  # staged changes stored as their records
    records: int = 0  # records stored from them
    failed: int = 0  # rows kept with their error


# One drain at a time, by a lock of the transaction's ("auditdrn"), taken in a
# statement of its own so that the next statement's snapshot sees what the drain
# before it committed. Not a lock on each row taken (``FOR UPDATE``): that wrote every
# staged row twice, once to lock it and once to delete it, and cost a drain a third
# more. A drain that would wait (the beat's) leaves the work to the one at it.
DRAIN_LOCK = 0x617564697464726E
_WAIT = f"SELECT pg_advisory_xact_lock({DRAIN_LOCK})"
_TRY = f"SELECT pg_try_advisory_xact_lock({DRAIN_LOCK})"
# Takes up to a batch of changes, oldest first. They are deleted once their records are
# stored, in the same transaction: the database refuses the delete of a row whose
# record is not (``sql.STAGED_GUARD``).
_TAKE = (
    "SELECT id, uuid, events::text, user_id, session_id, request_id, created_at "
    "FROM audit_stagedchange WHERE error = '' AND id <= %s ORDER BY id LIMIT %s"
)
# The newest staged change waiting for its record, or NULL: what ``settle`` asks first,
# and what a page's own statement may ask as one of its columns (``checks_in_statement``)
# to spare the round trip.
NEWEST_STAGED = "(SELECT max(id) FROM audit_stagedchange WHERE error = '')"
_NEWEST = f"SELECT {NEWEST_STAGED}"
_ALL = 2**63 - 1
_DELETE = "DELETE FROM audit_stagedchange WHERE id = ANY(%s)"
# A change that could not become a record stays, with its error.
_KEEP = "UPDATE audit_stagedchange SET error = %s WHERE id = %s"
_decoder = msgspec.json.Decoder()
# Set while this context reads records as they are stored (``as_stored``): a drain's
# own reads (the receivers of the records it stores, say) must not start another drain,
# which would take its rows again, nor may the sealer's, the purge's or the rollups'.
_as_stored: ContextVar[bool] = ContextVar("audit_as_stored", default=False)


@contextmanager
def as_stored() -> Iterator[None]:
    """Reads of records inside see them as stored: nothing staged is stored first. For
    the work done on one snapshot of the records (the sealer, the purge, the rollups'
    fold and rebuild), where records stored from staged changes in its midst would be
    sealed, purged or counted apart from the rest."""
    token = _as_stored.set(True)
    try:
        yield
    finally:
        _as_stored.reset(token)


@dataclass(slots=True)
class _Taken:
    """A staged change as the drain reads it back."""

    id: int
    uuid: uuid.UUID
    text: str
    user_id: int | None
    session_id: int
    request_id: str
    created_at: Any


def drain(limit: int = BATCH, *, wait: bool = False, upto: int = _ALL) -> Drained:
    """Store the records of up to ``limit`` staged changes, oldest first (none after
    ``upto``), and delete the rows, in one transaction: each change becomes its records
    exactly once, whichever processes drain at the same time, since they drain one at a
    time. While another drain is at work this one does nothing, or with ``wait`` waits
    for it to commit and then takes what is left. Six round trips whatever the batch:
    begin, lock, take, store, delete, commit.

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
    with as_stored():  # what the drain reads of records needs no settling
        return _drain_batch(limit, wait=wait, upto=upto, apart=apart)


def _drain_batch(limit: int, *, wait: bool, upto: int, apart: bool) -> Drained:
    result = Drained()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_WAIT if wait else _TRY)
        if not wait and not cursor.fetchone()[0]:
            return result  # another drain is at work: what it leaves waits for the next
        cursor.execute(_TAKE, [upto, limit])
        taken = [_Taken(*row) for row in cursor.fetchall()]
        built: list[tuple[_Taken, list[storage.RecordRow]]] = []
        users: dict[int | None, Any] = {}
        for change in taken:
            try:
                built.append((change, _rows_of(change, users)))
            except Exception as error:  # kept and named, never lost, never in the way
                _keep(cursor, change, error, result)
        if apart:
            stored = _store_apart(cursor, built, result)
        else:
            done, stored = _store(built)
            if done:
                cursor.execute(_DELETE, [done])
            result.changes = len(done)
        if stored:
            records_stored.send(sender=storage.RecordRow, records=stored)
    result.records = len(stored)
    return result


def _store(
    built: list[tuple[_Taken, list[storage.RecordRow]]],
) -> tuple[list[int], list[storage.RecordRow]]:
    stored = storage.insert([row for _change, rows in built for row in rows])
    return [change.id for change, _rows in built], stored


def _store_apart(
    cursor: Any, built: list[tuple[_Taken, list[storage.RecordRow]]], result: Drained
) -> list[storage.RecordRow]:
    """Each change's records, and the delete of its row, in a savepoint of their own: a
    change whose records the database refuses, or whose row it will not let go (its
    record is not the one stored under its uuid), waits with the error, and the others
    are stored."""
    done = 0
    stored: list[storage.RecordRow] = []
    for change, rows in built:
        try:
            with transaction.atomic():
                found = storage.insert(rows)
                cursor.execute(_DELETE, [[change.id]])
            stored += found
            done += 1
        except DatabaseError as error:
            _keep(cursor, change, error, result)
    result.changes = done
    return stored


def _keep(cursor: Any, change: _Taken, error: Exception, result: Drained) -> None:
    """Keep a change that cannot become a record where it is, with its error."""
    logger.error("staged change #%s cannot become a record", change.id, exc_info=error)
    cursor.execute(_KEEP, [f"{type(error).__name__}: {error}"[:2000], change.id])
    result.failed += 1


def drain_all(limit: int = BATCH, *, wait: bool = False) -> Drained:
    """``drain`` until no staged change is left that this process may take."""
    total = Drained()
    while True:
        batch = drain(limit, wait=wait)
        total.changes += batch.changes
        total.records += batch.records
        total.failed += batch.failed
        if batch.changes + batch.failed < limit:
            return total


# The context (a request, a task: ``audit.context.bind``) that last settled, and when.
# Its further reads within a second settle again only after it staged a change itself:
# a request reads what was committed before its first read, and its own changes, and
# pays one query for it however many reads it makes.
_settled: ContextVar[tuple[object, float] | None] = ContextVar("audit_settled", default=None)
# Whether this context staged a change since it last settled (``settle_own``).
_staged_here: ContextVar[bool] = ContextVar("audit_staged_here", default=False)
SETTLED_FOR = 1.0  # seconds: the beat's period, beyond which a context asks again


def settle() -> bool:
    """Before a read of records: store what is staged, so that the read shows every
    change committed before it began, whichever process made it. One query when nothing
    is staged, none when tracking is not deferred, and none for the further reads of a
    request or task within a second when it staged nothing since. Answers whether it
    stored anything.

    Every change staged up to the newest one seen now is stored when this returns: a
    drain at work is waited for, and the drains go on until none is left up to it.
    Changes staged after it began are not waited for: they committed after the read
    began."""
    if not checks_in_statement():
        return False
    with connection.cursor() as cursor:
        cursor.execute(_NEWEST)
        (newest,) = cursor.fetchone()
    return settle_upto(newest)


def _staged_a_change() -> None:
    """This context staged a change: its next read settles again (it must show the
    change), and its next record stored straight away stores the change first."""
    _settled.set(None)
    _staged_here.set(True)


def settle_upto(newest: int | None) -> bool:
    """``settle``'s work once the newest staged change is known (None: nothing staged);
    answers whether it stored anything."""
    stored = False
    while newest is not None:
        batch = drain(wait=True, upto=newest)
        if not batch.changes + batch.failed:
            break
        stored = True
    ctx = current()
    if ctx is not None:
        _settled.set((ctx, time.monotonic()))
    _staged_here.set(False)
    return stored


def settle_own() -> None:
    """Before records are stored straight away (an event, a deletion, a bulk change):
    the changes this context staged and has not stored yet go first, in its own
    transaction, so that the ids of one request's records follow what it did (a query
    created, then run; a row edited, then deleted). Nothing when it staged nothing."""
    if _staged_here.get():
        settle()


def checks_in_statement() -> bool:
    """Whether a read of records would settle now (``settle`` asks it first). A page's
    statement that asks it carries ``NEWEST_STAGED`` as a column and calls
    ``settle_upto`` with what it found, instead of ``settle`` asking in a round trip of
    its own."""
    if _as_stored.get() or not config.deferred_tracking() or connection.vendor != "postgresql":
        return False
    ctx = current()
    if ctx is None:
        return True
    last = _settled.get()
    return last is None or last[0] is not ctx or time.monotonic() - last[1] >= SETTLED_FOR


BEFORE_READ.append(settle)
recording.BEFORE_STORE.append(settle_own)


def failed() -> int:
    """How many staged changes wait with an error."""
    return StagedChange.objects.exclude(error="").count()


def retry_failed() -> int:
    """Clear the error of the changes kept with one, so that the next drain tries them
    again; answers how many."""
    return StagedChange.objects.exclude(error="").update(error="")


def _user(user_id: int | None, known: dict[int | None, Any]) -> Any:
    """The acting user by key, made once a drain for each user: a record needs only
    the key."""
    found = known.get(user_id)
    if found is None and user_id is not None:
        found = known[user_id] = get_user_model()(pk=user_id)
    return found


def _rows_of(change: _Taken, users: dict[int | None, Any]) -> list[storage.RecordRow]:
    """The records of one staged change, as the save would have made them
    (``recording.tracked_rows``), with the save's time, its entities as they were named
    then and the types that were switched off then left out. The first is stored under
    the staged row's uuid, which lets the row be deleted."""
    document = _decoder.decode(change.text)
    if not isinstance(document, dict):
        raise TypeError(f"the staged change is not a JSON object: {type(document).__name__}")
    entry = registry.get(document["kind"])
    if entry is None:
        raise LookupError(f"no entity kind {document['kind']!r} is registered")
    off = document.get("off") or ()
    parts = [
        part
        for part in changes.event_parts(
            entry, json.loads(document["changes"]), document["name"], created=document["created"]
        )
        if part[0] not in off
    ]
    links = [
        storage.LinkRow(content_type_id=content_type_id, object_id=object_id, role=role, name=name)
        for content_type_id, object_id, role, name in document["entities"]
    ]
    rows = recording.part_rows(
        parts,
        links,
        user=_user(change.user_id, users),
        disabled=frozenset(),
        session_id=change.session_id,
        created_at=change.created_at,
        request_id=change.request_id,
        result=recording.IngestResult(),
    )
    if not rows:
        raise ValueError("the staged change describes no event to record")
    rows[0].uuid = change.uuid
    return rows
