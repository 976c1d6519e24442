"""Server-side prepared statements for the reads that every activity page repeats.

Why: Django binds parameters on the client (the values are quoted into the SQL text)
and turns psycopg's prepared statements off, so that a transaction-mode pooler never
meets a statement prepared on another connection. PostgreSQL then parses and plans
each page query anew: for the panel API's page of 50 records (one statement that also
builds each record's entities) planning is half of the statement's time, 1.2 of
2.5 ms. The reads of an activity page have few shapes, so inside ``prepared_reads()``
they are bound on the server (the SQL text is the same whatever the entity, cursor or
filter values) and psycopg prepares a statement the second time its text runs on a
connection; PostgreSQL keeps the plan for the connection's life (psycopg deallocates
the least recently used beyond 100).

The switch is per block and per connection (each thread has its own), and is undone
on the way out, so every other statement keeps Django's client-side binding.
``AUDIT_PREPARED_READS = 0`` turns it off for a pooler that cannot carry prepared
statements; SQLite has nothing to switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

from . import config

# The second run of a text on a connection prepares it: a text that runs once (a
# rare filter's shape) costs the server no prepared statement.
PREPARE_THRESHOLD = 1


@contextmanager
def prepared_reads(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Statements run on ``using`` inside the block are bound on the server and
    prepared from their second run on the same connection."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not config.prepared_reads():
        yield
        return
    # Django's own server-binding cursor (psycopg 3); the stubs leave it out.
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )

    connection.ensure_connection()
    raw = connection.connection
    if raw.cursor_factory is ServerBindingCursor:  # nested, or the whole site binds so
        yield
        return
    factory, threshold = raw.cursor_factory, raw.prepare_threshold
    raw.cursor_factory, raw.prepare_threshold = ServerBindingCursor, PREPARE_THRESHOLD
    try:
        yield
    finally:
        raw.cursor_factory, raw.prepare_threshold = factory, threshold
