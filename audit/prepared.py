"""Server-side prepared statements for the statements the audit repeats most: the reads
of every activity page, and a tracked save's statement with its record.

Why: Django binds parameters on the client (each value is quoted into the SQL text)
and keeps psycopg's prepared statements off, so that a transaction-mode pooler never
meets a statement prepared on another connection. PostgreSQL then parses and plans
each statement anew. For the panel API's page of 50 records (one statement that also
builds each record's entities) planning is half of the statement's time, 1.2 of 2.5
ms; for a tracked save, its UPDATE wrapped in a CTE with the call that stores the
record and twelve arguments quoted in, parsing and planning are about 100
microseconds of the database's part of the save. Bound on the server, the text of each
is the same from call to call whatever the values, and psycopg prepares a text at its
second run on a connection; PostgreSQL keeps the plan for the connection's life
(psycopg deallocates the least recently used beyond 100).

Only these statements switch: a block of reads (``prepared_reads``), or the one
statement of a tracked save (``server_bound``); everything else keeps Django's
client-side binding. ``AUDIT_PREPARED_STATEMENTS = 0`` turns both off, for a pooler
that cannot carry prepared statements; SQLite has nothing to switch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from . import config

# The second run of a text on a connection prepares it: a text that runs once (a
# rare filter's shape) costs the server no prepared statement.
PREPARE_THRESHOLD = 1


@functools.cache
def _server_binding_cursor() -> Any:
    # Django's own server-binding cursor (psycopg 3); the stubs leave it out. Imported
    # once: a tracked save asks for it at every save.
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )

    return ServerBindingCursor


def _enabled(connection: Any) -> bool:
    """On PostgreSQL, unless switched off or while queries are logged (``DEBUG``, a
    test capturing them): psycopg keeps no text of a prepared run, so Django's log
    would show no SQL; a logged statement is left bound on the client, as Django writes
    it into the log with its values."""
    return (
        connection.vendor == "postgresql"
        and config.prepared_statements()
        and not connection.queries_logged
    )


@contextmanager
def _preparing(raw: Any) -> Iterator[None]:
    """psycopg prepares on ``raw`` (a connection) inside the block, as Django keeps it
    from doing outside."""
    threshold = raw.prepare_threshold
    raw.prepare_threshold = PREPARE_THRESHOLD
    try:
        yield
    finally:
        raw.prepare_threshold = threshold


@contextmanager
def prepared_reads(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Statements run on ``using`` inside the block are bound on the server and
    prepared from their second run on the same connection."""
    connection = connections[using]
    if not _enabled(connection):
        yield
        return
    cursor_class = _server_binding_cursor()
    connection.ensure_connection()
    raw = connection.connection
    if raw.cursor_factory is cursor_class:  # nested, or the whole site binds so
        yield
        return
    factory = raw.cursor_factory
    raw.cursor_factory = cursor_class
    try:
        with _preparing(raw):
            yield
    finally:
        raw.cursor_factory = factory


def server_bound(cursor: Any) -> Any:
    """Bind the statement run next through Django's ``cursor`` (a ``CursorWrapper``, as
    ``execute_wrapper`` receives it) on the server; returns the raw connection, whose
    ``prepare_threshold`` the caller sets around that statement (``PREPARE_THRESHOLD``:
    prepared from its second run), or None when statements are not prepared.

    Django made the wrapper's cursor before the statement was known, so the wrapper is
    given a server-binding cursor on the same connection (the same transaction) in its
    place: Django runs the statement on it, reads the row count from it and closes it.
    Only that statement changes: the statements before and after it (a ``save()``
    override's, a receiver's) are made with Django's cursors as ever.

    A plain function rather than a context manager (it replaced two generator-based
    ones): it runs at every tracked save.
    """
    connection = cursor.db
    if not _enabled(connection):
        return None
    raw = connection.connection
    cursor_class = _server_binding_cursor()
    if not isinstance(cursor.cursor, cursor_class):
        cursor.cursor.close()
        cursor.cursor = cursor_class(raw)
    return raw
