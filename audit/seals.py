"""Seals: proof that the trail was not changed after it was stored.

A seal is a SHA-256 over a block of records, chained to the previous seal's digest, so
changing, removing or adding a record below the newest seal, or changing or removing a
seal, breaks the chain from there on. ``seal()`` seals what is new (a beat task every
minute, ``manage.py audit_seal``); ``verify()`` recomputes the chain and names the first
record or seal that does not match. Each seal's digest also goes out as a record of its
own (``trail-sealed``), which the CloudWatch export ships to a stream of its own: a
witness the database's owner cannot rewrite.

**The canonical form** of a record, hashed with SHA-256, is the UTF-8 text of a JSON
array of every stored column and of its links, items separated by ``", "``::

    [id, "uuid", type_id, "level", "message", params, changes, "stack_trace",
     "fingerprint", user_id, session_id, "created_at", "client_time", "source",
     "request_id", [[link id, content_type_id, "object_id", "role", "name",
     "created_at"], ...]]

Strings are JSON strings with only ``"``, ``\\`` and control characters escaped
(``json.encoder.encode_basestring``); the uuid in its dashed lower-case form; ``params``
and ``changes`` exactly as the database gives their stored JSON as text (PostgreSQL:
``jsonb``'s text form), ``null`` when empty; times in UTC to the microsecond,
``"2026-12-01T10:00:00.000000Z"``; links in id order. ``canonical`` builds it from the
columns read as stored; on PostgreSQL the database can build the same text and hash it
itself (``_HASH_ROWS``). That is **form 1**, the form of every seal made elsewhere than
on PostgreSQL (``Seal.form``).

**Form 2**, the form of the seals PostgreSQL made before form 3, is the text PostgreSQL writes for a
row of the same columns in the same order followed by one more, the record's links
(each a row of ``LINK_COLUMNS``, in id order, joined by commas; NULL without links),
with ``TimeZone`` UTC and ``DateStyle`` ISO: ``(1,9f0c...,3,info,"a, b",...)``.
A column is written as its text (a time ``2026-12-01 10:00:00.5+00``, JSON as stored),
nothing for NULL, in double quotes when it is empty or holds a quote, a backslash, a
parenthesis, a comma or white space, with quotes and backslashes doubled (``row_text``
writes the same in Python). One C function writes the whole row where form 1 calls a
formatting function per column: sealing costs 5 microseconds a record instead of 7,
and sealing competes with ingest for the same cores.

**Form 3**, the form of the seals PostgreSQL makes now, is the bytes PostgreSQL sends
for the same row in its binary protocol (``record_send``): the number of columns as a
4-byte integer, then each column's type (its 4-byte type id: 20 bigint, 25 text, 2950
uuid, 3802 jsonb, 1184 timestamptz, 17 bytea), its length in bytes as a 4-byte integer
(-1 for NULL, and nothing follows) and its bytes, all integers big-endian. Every number
is written as a bigint (8 bytes), every string as text (its UTF-8 bytes), the uuid as
its 16 bytes, JSON as the byte 1 followed by its stored text, a time as the bigint of
microseconds since 2000-01-01 UTC; the last column is the links, each link's row in
the same form (``LINK_COLUMNS``) one after the other in id order, as bytea (NULL
without links). No column is formatted as text and no time converted to a calendar
date, which is what made form 2's row cost: 5 microseconds a record to seal against 7
(``bench/seal_forms.py``). ``row_binary`` writes the same bytes in Python.

To seal, PostgreSQL also joins a block's hashes in id order, so that one row a block
reaches the sealer's process, not one a record (through the ORM a record cost 80
microseconds). A seal's digest is the SHA-256 hex of ``previous digest + "\\n"``
followed by the 32-byte hashes of its records in id order; verification hashes each
seal's records in that seal's form. A seal holds at most ``BLOCK`` records (on PostgreSQL, those
of ``BLOCK`` ids from its first), all of one UTC day.

**Late commits.** Record ids are handed out before commit, so a transaction that started
first may commit last, with a lower id than records already visible. Sealing past it
would leave its record out for ever. On PostgreSQL every INSERT into the records table
holds an advisory lock shared until its transaction ends, taken before it draws an id (a
trigger, ``audit.sql``). The sealer reads the largest id visible, then which
transactions hold that lock, and waits until those have ended, watching ``pg_locks``
rather than asking for the lock, so that no insert ever waits for the sealer; then it
seals up to that id. On SQLite writers are serialized, so what is visible is final.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q

from . import clock, sql
from .models import AuditRecord, EntityLink, IntegrityState, Seal
from .staged import as_stored

FORM_JSON = 1  # how a record is written to be hashed (the module's doc)
FORM_ROW = 2
FORM_BINARY = 3
BLOCK = 10_000  # records per seal at most
READ = 5_000  # records read at a time
HORIZON_WAIT = 2.0  # seconds the sealer waits at most for in-flight inserts (PostgreSQL)
HORIZON_POLL = 0.02  # seconds between two looks at who holds the seal lock


_EPOCH = clock.EPOCH
_DAY = 86_400_000_000  # microseconds: a UTC day starts at a multiple of it
_text = json.encoder.encode_basestring  # a JSON string, no ASCII escaping (C)


class SealDeferred(RuntimeError):
    """Inserts still in flight kept the sealer from fixing its horizon this time."""


def _stamp(micros: int | None) -> str:
    """A time as the canonical form writes it: UTC, to the microsecond, quoted."""
    if micros is None:
        return "null"
    moment = _EPOCH + timedelta(microseconds=micros)
    return f'"{moment.isoformat(timespec="microseconds")[:-6]}Z"'


def _number(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def canonical(row: tuple[Any, ...], links: list[tuple[Any, ...]]) -> bytes:
    """A record and its links as the bytes its hash is taken of (the module's doc).

    ``row`` holds ``RECORD_COLUMNS`` as the database stores them: the uuid as text,
    ``params`` and ``changes`` as their stored JSON text, times as microseconds since
    1970 UTC; ``links`` hold ``LINK_COLUMNS`` likewise, in id order."""
    (pk, key, type_id, level, message, params, changes, trace, fingerprint, user_id,
     session_id, created, client, source, request_id) = row  # fmt: skip
    shown = ", ".join(
        f"[{int(lid)}, {int(ct)}, {_text(oid)}, {_text(role)}, {_text(name)}, {_stamp(at)}]"
        for lid, ct, oid, role, name, at in links
    )
    text = (
        f"[{int(pk)}, {_text(key)}, {int(type_id)}, {_text(level)}, {_text(message)}, "
        f"{params}, {changes if changes is not None else 'null'}, {_text(trace)}, "
        f"{_text(fingerprint)}, {_number(user_id)}, {_number(session_id)}, {_stamp(created)}, "
        f"{_stamp(client)}, {_text(source)}, {_text(request_id)}, [{shown}]]"
    )
    return text.encode()


def _in_row(text: str | None) -> str:
    """A column's text as PostgreSQL writes it inside a row: nothing for NULL; in double
    quotes when empty or holding a quote, backslash, parenthesis, comma or white space,
    quotes and backslashes doubled."""
    if text is None:
        return ""
    if text and not any(ch in _ROW_SPECIAL for ch in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'


_ROW_SPECIAL = frozenset('"\\(),' + " \t\n\r\v\f")


def row_text(columns: list[str | None], links: list[list[str | None]]) -> bytes:
    """Form 2 of a record: ``columns`` are ``RECORD_COLUMNS`` and ``links`` each link's
    ``LINK_COLUMNS`` (in id order) as PostgreSQL writes them as text with ``TimeZone``
    UTC and ``DateStyle`` ISO (a time: ``2026-12-01 10:00:00.5+00``); the links' rows
    joined by commas are the record row's last column (NULL without links)."""
    shown = ",".join("(" + ",".join(_in_row(v) for v in link) + ")" for link in links)
    values = [*columns, shown if links else None]
    return ("(" + ",".join(_in_row(v) for v in values) + ")").encode()


# Form 3: each column's type in the binary row (``row_binary``): numbers as bigint,
# strings as text, whatever the table declares, so that a column widened later (an
# integer to a bigint, a varchar to text) does not change the bytes of a record.
_OIDS = {"int8": 20, "text": 25, "uuid": 2950, "jsonb": 3802, "timestamptz": 1184, "bytea": 17}
RECORD_TYPES = (
    "int8", "uuid", "int8", "text", "text", "jsonb", "jsonb", "text", "text", "int8", "int8",
    "timestamptz", "timestamptz", "text", "text",
)  # fmt: skip
LINK_TYPES = ("int8", "int8", "text", "text", "text", "timestamptz")
_Y2K = clock.micros(datetime(2000, 1, 1, tzinfo=UTC))  # PostgreSQL's epoch, in our micros
_INT4 = struct.Struct(">i")
_OID = struct.Struct(">I")
_INT8 = struct.Struct(">q")


def _binary(kind: str, value: Any) -> bytes:
    if kind == "int8":
        return _INT8.pack(int(value))
    if kind == "text":
        return str(value).encode()
    if kind == "uuid":
        return uuid.UUID(str(value)).bytes
    if kind == "jsonb":
        return b"\x01" + str(value).encode()  # the jsonb format's version, then its text
    if kind == "timestamptz":
        return _INT8.pack(int(value) - _Y2K)
    return bytes(value)  # bytea


def _binary_row(kinds: tuple[str, ...], values: list[Any]) -> bytes:
    parts = [_INT4.pack(len(values))]
    for kind, value in zip(kinds, values, strict=True):
        parts.append(_OID.pack(_OIDS[kind]))
        if value is None:
            parts.append(_INT4.pack(-1))
            continue
        data = _binary(kind, value)
        parts += [_INT4.pack(len(data)), data]
    return b"".join(parts)


def row_binary(row: tuple[Any, ...], links: list[tuple[Any, ...]]) -> bytes:
    """Form 3 of a record: ``row`` and ``links`` as ``canonical`` takes them (the uuid as
    text, JSON as its stored text, times as microseconds since 1970 UTC), written as
    PostgreSQL's ``record_send`` writes the row (the module's doc)."""
    joined = b"".join(_binary_row(LINK_TYPES, list(link)) for link in links) if links else None
    return _binary_row((*RECORD_TYPES, "bytea"), [*row, joined])


RECORD_COLUMNS = (
    "id", "uuid", "type_id", "level", "message", "params", "changes", "stack_trace",
    "fingerprint", "user_id", "session_id", "created_at", "client_time", "source",
    "request_id",
)  # fmt: skip
LINK_COLUMNS = ("id", "content_type_id", "object_id", "role", "name", "created_at")

# PostgreSQL builds the same text and hashes it itself, so that no record travels to
# Python: only its id, hash, number of links and time do (one ``concat`` a row: a chain
# of ``||`` copies the text once per part). ``to_json(text)`` escapes as
# ``encode_basestring`` does (``"``, ``\\`` and control characters, ``\\u00XX`` in lower
# case); ``jsonb::text`` is the stored JSON as ``canonical`` gets it. ``records_between``
# on PostgreSQL gives what ``canonical`` gives for the same rows (a test compares them).
_STAMP = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_HASH_ROWS = f"""
WITH r AS (
  SELECT * FROM audit_auditrecord WHERE id > %s AND id <= %s
), l AS (
  SELECT record_id, count(*) AS n, string_agg(concat(
    '[', id, ', ', content_type_id, ', ', to_json(object_id), ', ', to_json(role), ', ',
    to_json(name), ', "', {_STAMP.format("created_at")}, '"]'), ', ' ORDER BY id) AS shown
  FROM audit_entitylink WHERE record_id > %s AND record_id <= %s
  GROUP BY record_id
)
SELECT r.id, sha256(convert_to(concat(
  '[', r.id, ', "', r.uuid, '", ', r.type_id, ', ', to_json(r.level), ', ',
  to_json(r.message), ', ', r.params, ', ', coalesce(r.changes::text, 'null'), ', ',
  to_json(r.stack_trace), ', ', to_json(r.fingerprint), ', ',
  coalesce(r.user_id::text, 'null'), ', ', coalesce(r.session_id::text, 'null'), ', "',
  {_STAMP.format("r.created_at")}, '", ',
  coalesce('"' || {_STAMP.format("r.client_time")} || '"', 'null'), ', ',
  to_json(r.source), ', ', to_json(r.request_id), ', [', l.shown, ']]'), 'UTF8')),
  coalesce(l.n, 0), {{at}}
FROM r LEFT JOIN l ON l.record_id = r.id
"""
# Form 2: the record as PostgreSQL writes a row of its columns and of its links' text
# (``row_text`` is the same in Python). One C function formats every column, where form
# 1 calls a formatting function a column: 5 microseconds a record to seal against 7.
_HASH_ROW_TEXT = """
WITH r AS (
  SELECT * FROM audit_auditrecord WHERE id > %s AND id <= %s
), l AS (
  SELECT record_id, count(*) AS n, string_agg(
    ROW(id, content_type_id, object_id, role, name, created_at)::text, ',' ORDER BY id
  ) AS shown
  FROM audit_entitylink WHERE record_id > %s AND record_id <= %s
  GROUP BY record_id
)
SELECT r.id, sha256(convert_to(ROW(r.id, r.uuid, r.type_id, r.level, r.message, r.params,
  r.changes, r.stack_trace, r.fingerprint, r.user_id, r.session_id, r.created_at,
  r.client_time, r.source, r.request_id, l.shown)::text, 'UTF8')),
  coalesce(l.n, 0), {at}
FROM r LEFT JOIN l ON l.record_id = r.id
"""
# Form 3: the row's bytes as PostgreSQL sends them in binary (``row_binary`` is the same
# in Python): no column is formatted as text, so sealing costs 5 microseconds a record
# against form 2's 7. The casts fix each column's type in the bytes (``RECORD_TYPES``).
_HASH_ROW_BINARY = """
WITH r AS (
  SELECT * FROM audit_auditrecord WHERE id > %s AND id <= %s
), l AS (
  SELECT record_id, count(*) AS n, string_agg(record_send(ROW(id::bigint,
    content_type_id::bigint, object_id::text, role::text, name::text, created_at)),
    ''::bytea ORDER BY id) AS shown
  FROM audit_entitylink WHERE record_id > %s AND record_id <= %s
  GROUP BY record_id
)
SELECT r.id, sha256(record_send(ROW(r.id::bigint, r.uuid, r.type_id::bigint,
  r.level::text, r.message::text, r.params, r.changes, r.stack_trace::text,
  r.fingerprint::text, r.user_id::bigint, r.session_id::bigint, r.created_at,
  r.client_time, r.source::text, r.request_id::text, l.shown))),
  coalesce(l.n, 0), {at}
FROM r LEFT JOIN l ON l.record_id = r.id
"""
_HASH_TEMPLATES = {FORM_JSON: _HASH_ROWS, FORM_ROW: _HASH_ROW_TEXT, FORM_BINARY: _HASH_ROW_BINARY}
# Each record's time in microseconds, for the reads that want it record by record;
# ``extract`` gives a numeric, costly enough a record (0.4 microseconds) that a block
# takes only its newest time, converted once (``_BLOCK_POSTGRESQL``).
_HASH_STATEMENTS = {
    form: text.format(at="(extract(epoch FROM r.created_at) * 1000000)::bigint")
    for form, text in _HASH_TEMPLATES.items()
}
# A block from its records' hashes (``_block_postgresql``): the hashes in id order, as
# one value; ``max(micros)``: the newest record's time.
_BLOCK_POSTGRESQL = """
SELECT count(*), max(id), string_agg(hash, ''::bytea ORDER BY id), coalesce(sum(links), 0),
  (extract(epoch FROM max(at)) * 1000000)::bigint
FROM ({rows}) AS h (id, hash, links, at)
"""
_BLOCK_STATEMENTS = {
    form: _BLOCK_POSTGRESQL.format(rows=text.format(at="r.created_at"))
    for form, text in _HASH_TEMPLATES.items()
}
_BLOCK_FIRST = (
    "SELECT id, created_at FROM audit_auditrecord WHERE id = "
    "(SELECT min(id) FROM audit_auditrecord WHERE id >= %s AND id <= %s)"
)
# The first record of the range outside the UTC day [%s, %s): two comparisons of the
# stored time a record, where truncating each record's time to its day cost a function
# call and a time zone conversion.
_BLOCK_OTHER_DAY = (
    "SELECT min(id) FROM audit_auditrecord WHERE id > %s AND id <= %s "
    "AND (created_at < %s OR created_at >= %s)"
)
_RECORDS_OTHER = (
    "SELECT id, uuid, type_id, level, message, params, changes, stack_trace, fingerprint, "
    "user_id, session_id, created_at, client_time, source, request_id "
    "FROM audit_auditrecord WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"
)
_LINKS_OTHER = (
    "SELECT record_id, id, content_type_id, object_id, role, name, created_at "
    "FROM audit_entitylink WHERE record_id >= %s AND record_id <= %s ORDER BY record_id, id"
)


def _micros(value: Any) -> int | None:
    """A stored time as microseconds since 1970 UTC; None stays None."""
    return None if value is None else clock.micros(value)


def _uuid_text(value: Any) -> str:
    text = str(value)
    if len(text) == 32:  # SQLite stores it without dashes
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text.lower()


def _read(low: int, high: int) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """Each record with ``low <= id <= high`` and its links, in id order, as
    ``canonical`` wants them (the databases other than PostgreSQL)."""
    after = low - 1
    while after < high:
        with connection.cursor() as cursor:
            cursor.execute(_RECORDS_OTHER, [after, high, READ])
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.execute(_LINKS_OTHER, [rows[0][0], rows[-1][0]])
            links: dict[int, list[tuple[Any, ...]]] = {}
            for link in cursor.fetchall():
                links.setdefault(link[0], []).append((*link[1:6], _micros(link[6])))
        for row in rows:
            row = (
                row[0], _uuid_text(row[1]), *row[2:11], _micros(row[11]),
                _micros(row[12]), *row[13:],
            )  # fmt: skip
            yield row, links.get(row[0], [])
        after = rows[-1][0]


def _hashes(cursor: Any, statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """The rows of a statement built on ``_HASH_ROWS``, joined by hash or merge,
    never by a nested loop: with statistics that call the tables small (freshly emptied,
    or never analyzed) the planner would loop over the links' aggregate once per record,
    and a range of 5,000 records took 20 s instead of 30 ms. ``SET LOCAL`` lasts until
    the transaction ends, so the setting is put back as it was right after."""
    with transaction.atomic():
        cursor.execute(_SETTINGS_NOW)
        before = cursor.fetchone()
        cursor.execute(_SETTINGS_FOR_HASHING)
        cursor.execute(statement, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        cursor.execute(_SETTINGS_BACK, list(before))
    return rows


# What the hash read sets for itself, and puts back after: no nested loop (above), and
# times written in UTC in the ISO style, as form 2 writes them whatever the connection's.
_SETTINGS_NOW = (
    "SELECT current_setting('enable_nestloop'), current_setting('TimeZone'), "
    "current_setting('DateStyle')"
)
_SETTINGS_FOR_HASHING = (
    "SELECT set_config('enable_nestloop', 'off', true), set_config('TimeZone', 'UTC', true), "
    "set_config('DateStyle', 'ISO, YMD', true)"
)
_SETTINGS_BACK = (
    "SELECT set_config('enable_nestloop', %s, true), set_config('TimeZone', %s, true), "
    "set_config('DateStyle', %s, true)"
)


def current_form() -> int:
    """The form new seals hash records in: PostgreSQL's binary row where PostgreSQL
    writes it, the JSON text elsewhere."""
    return FORM_BINARY if connection.vendor == "postgresql" else FORM_JSON


def records_between(
    low: int, high: int, form: int | None = None
) -> Iterator[tuple[int, bytes, int, int]]:
    """(id, 32-byte hash, number of links, time in microseconds since 1970 UTC) of each
    record with ``low <= id <= high``, in id order, hashed in ``form`` (new seals'
    form by default)."""
    form = form or current_form()
    if connection.vendor == "postgresql":
        # By id ranges, not ``ORDER BY id LIMIT``: with a limit, each read would find
        # every record above it and sort them (the table's statistics cannot tell how
        # few the range holds); a range reads what it returns. Gaps (a purge, rolled
        # back inserts) are jumped over.
        after = low - 1
        with connection.cursor() as cursor:
            while after < high:
                upto = min(high, after + READ)
                statement = _HASH_STATEMENTS[form] + "ORDER BY r.id"
                rows = _hashes(cursor, statement, [after, upto, after, upto])
                for pk, hashed, links, micros in rows:
                    yield pk, bytes(hashed), links, micros
                if rows:  # a range of READ ids holds READ records at most: all were read
                    after = min(high, after + READ)
                    continue
                cursor.execute(
                    "SELECT min(id) FROM audit_auditrecord WHERE id > %s AND id <= %s",
                    [after, high],
                )
                found = cursor.fetchone()[0]
                if found is None:
                    return
                after = found - 1
        return
    if form != FORM_JSON:
        raise ValueError(f"form {form} is hashed by PostgreSQL only")
    for row, links in _read(low, high):
        yield row[0], hashlib.sha256(canonical(row, links)).digest(), len(links), row[11]


def ranges(ids: list[int]) -> str:
    """``[1, 2, 3, 5]`` as ``"1-3,5"``."""
    parts, start, prev = [], None, None
    for n in ids:
        if start is None:
            start = prev = n
        elif n == prev + 1:  # type: ignore[operator]
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(parts)


def expand(text: str) -> list[int]:
    found: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        found.extend(range(int(low), int(high or low) + 1))
    return found


def digest(previous: str, hashes: list[bytes]) -> str:
    h = hashlib.sha256(previous.encode() + b"\n")
    for one in hashes:
        h.update(one)
    return h.hexdigest()


# --- sealing --------------------------------------------------------------------------------


def horizon() -> int:
    """The largest record id below which no record can appear any more."""
    found = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first()
    if connection.vendor == "postgresql":
        # Every record below ``found`` not visible yet belongs to a transaction holding
        # the seal lock now (it took it before drawing its id): wait for those to end.
        deadline = time.monotonic() + HORIZON_WAIT
        with connection.cursor() as cursor:
            cursor.execute(sql.SEAL_LOCK_HOLDERS)
            waiting = {row[0] for row in cursor.fetchall()}
            while waiting:
                if time.monotonic() > deadline:
                    raise SealDeferred(
                        f"inserts still in flight after {HORIZON_WAIT:g} s; sealing next time"
                    )
                time.sleep(HORIZON_POLL)
                cursor.execute(sql.SEAL_LOCK_HOLDERS)
                waiting &= {row[0] for row in cursor.fetchall()}
    return int(found or 0)


@dataclass
class Sealed:
    seals: list[Seal] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(seal.records for seal in self.seals)


def state() -> IntegrityState:
    found = IntegrityState.objects.first()
    if found is None:
        found, _ = IntegrityState.objects.get_or_create(pk=1)
    return found


@as_stored()  # records stored from staged changes in its midst wait for the next seal
def seal(*, progress: Callable[[int], None] | None = None) -> Sealed:
    """Seal every record stored so far that no seal covers yet, in blocks of ``BLOCK``."""
    top = horizon()
    done = Sealed()
    while True:
        with transaction.atomic():
            current = IntegrityState.objects.select_for_update().filter(pk=state().pk).get()
            last = Seal.objects.order_by("-id").first()
            start = (last.last_record_id if last is not None else 0) + 1
            if start > top:
                return done
            made = _seal_block(start, top, last.digest if last is not None else "")
            if made is None:
                return done
            if current.anchor_seal is None:
                IntegrityState.objects.filter(pk=current.pk).update(anchor_seal=made.pk)
        done.seals.append(made)
        if progress is not None:
            progress(done.records)


@dataclass(frozen=True)
class _Block:
    """The records one seal covers, as the seal keeps them."""

    first: int
    last: int
    records: int
    ids: str  # ``ranges`` of the ids
    hashes: bytes  # each record's 32-byte hash, in id order
    links: int
    last_at: int  # microseconds since 1970 UTC of the newest record


def _block(start: int, top: int) -> _Block | None:
    """The next block from ``start``: at most ``BLOCK`` records, all of the first one's
    UTC day (the retention purge removes whole blocks, so a block must not hold two
    days), stopping before the first record of another day."""
    if connection.vendor == "postgresql":
        return _block_postgresql(start, top)
    return _block_of_records(start, top)


def _block_of_records(start: int, top: int) -> _Block | None:
    """The block from each record's hash (``records_between``), on any database."""
    ids: list[int] = []
    hashes: list[bytes] = []
    links = 0
    last_at = 0
    day = None
    for pk, h, link_count, at in records_between(start, top):
        if day is None:
            day = at // _DAY
        elif at // _DAY != day:
            break
        ids.append(pk)
        hashes.append(h)
        links += link_count
        last_at = max(last_at, at)
        if len(ids) == BLOCK:
            break
    if not ids:
        return None
    return _Block(ids[0], ids[-1], len(ids), ranges(ids), b"".join(hashes), links, last_at)


def _block_postgresql(start: int, top: int) -> _Block | None:
    """The block summed up by the database: one row for the whole block (its count,
    last id, the records' hashes in id order, links, newest time), not a row a record,
    so the sealer's own process does next to nothing per record. The block spans at
    most ``BLOCK`` ids from its first record (fewer records where ids were left unused).
    The day test is on an expression no index holds, so the records' time index is
    never read for it: the range is walked by primary key from its first record."""
    with connection.cursor() as cursor:
        cursor.execute(_BLOCK_FIRST, [start, top])
        found = cursor.fetchone()
        if found is None:
            return None
        first, first_at = found
        upto = min(top, first + BLOCK - 1)
        day = _EPOCH + timedelta(microseconds=(_micros(first_at) or 0) // _DAY * _DAY)
        cursor.execute(_BLOCK_OTHER_DAY, [first, upto, day, day + timedelta(days=1)])
        other_day = cursor.fetchone()[0]
        if other_day is not None:
            upto = other_day - 1
        ((records, last, hashes, links, last_at),) = _hashes(
            cursor, _BLOCK_STATEMENTS[current_form()], [first - 1, upto, first - 1, upto]
        )
        if records == last - first + 1:
            ids = f"{first}-{last}" if last > first else str(first)
        else:  # ids were left unused in the range: name the ones used
            cursor.execute(
                "SELECT id FROM audit_auditrecord WHERE id >= %s AND id <= %s ORDER BY id",
                [first, last],
            )
            ids = ranges([row[0] for row in cursor.fetchall()])
    return _Block(first, last, records, ids, bytes(hashes), int(links), int(last_at))


def _seal_block(start: int, top: int, previous: str) -> Seal | None:
    block = _block(start, top)
    if block is None:
        return None
    hashes = block.hashes
    value = digest(previous, [hashes])
    from .logger import log  # the seal's digest goes out as a record (the witness)

    record_id = log(
        "trail-sealed",
        f"Sealed records #{block.first} to #{block.last}",
        {
            "first": block.first,
            "last": block.last,
            "records": block.records,
            "digest": value,
            "previous": previous,
        },
    )
    return Seal.objects.create(
        first_record_id=block.first,
        last_record_id=block.last,
        records=block.records,
        links=block.links,
        record_ids=block.ids,
        record_hashes=b"".join(hashes[i : i + 8] for i in range(0, len(hashes), 32)),
        last_at=_EPOCH + timedelta(microseconds=block.last_at),
        previous=previous,
        digest=value,
        created_at=clock.now(),
        record=record_id,
        form=current_form(),
    )


# --- verifying ------------------------------------------------------------------------------


@dataclass
class Verified:
    seals: int = 0
    records: int = 0
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)
    from_seal: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@as_stored()  # the records as they are: nothing stored in the midst of checking them
def verify(
    *,
    from_seal: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    limit: int = 20,
) -> Verified:
    """Recompute every seal from its records, from the anchor (the first seal, or the
    first one kept by the purge) or ``from_seal``; the problems are named in the order
    of the trail, the first one first."""
    anchor = state().anchor_seal
    first = Seal.objects.order_by("id").values_list("id", flat=True).first()
    # From the first seal stored, even when the anchor says later: the anchor row is not
    # evidence (the application role may write it), so it may only ask for more.
    known = [seal_id for seal_id in (anchor, first) if seal_id is not None]
    start = from_seal if from_seal is not None else min(known, default=None)
    seals = Seal.objects.order_by("id")
    if start is not None:
        seals = seals.filter(id__gte=start)
    total = seals.count()
    report = Verified(from_seal=start)
    previous: Seal | None = None
    for seal_row in seals.iterator(chunk_size=200):
        _check_seal(seal_row, previous, report)
        previous = seal_row
        report.seals += 1
        if progress is not None:
            progress(report.seals, total)
        if len(report.problems) >= limit:
            break
    if anchor is not None and start is not None and not Seal.objects.filter(id=start).exists():
        report.problems.insert(0, f"seal #{start}, where verification starts, is missing")
    last_sealed = previous.last_record_id if previous is not None else 0
    report.unsealed = AuditRecord.objects.filter(id__gt=last_sealed).count()
    if anchor is not None and previous is None:
        report.problems.append(f"no seal is left from #{anchor} on: the seals were removed")
    return report


def _check_seal(seal_row: Seal, previous: Seal | None, report: Verified) -> None:
    name = f"seal #{seal_row.pk}"
    if previous is not None:
        if seal_row.previous != previous.digest:
            report.problems.append(
                f"{name} does not follow seal #{previous.pk}: a seal between them was "
                "removed, or one of them was changed"
            )
        gap = AuditRecord.objects.filter(
            id__gt=previous.last_record_id, id__lt=seal_row.first_record_id
        ).values_list("id", flat=True)[:1]
        if gap:
            report.problems.append(
                f"record #{gap[0]} lies between seal #{previous.pk} and {name}: no seal "
                "covers it (a seal was removed)"
            )
    expected = dict(
        zip(
            expand(seal_row.record_ids),
            (bytes(seal_row.record_hashes)[i : i + 8] for i in range(0, seal_row.records * 8, 8)),
            strict=False,
        )
    )
    seen: set[int] = set()
    hashes: list[bytes] = []
    found = records_between(seal_row.first_record_id, seal_row.last_record_id, seal_row.form)
    for pk, h, _links, _at in found:
        seen.add(pk)
        hashes.append(h)
        report.records += 1
        if pk not in expected:
            report.problems.append(f"record #{pk} was added behind {name}'s back")
        elif expected[pk] != h[:8]:
            report.problems.append(f"record #{pk} was changed (its columns or its links): {name}")
    for pk in sorted(set(expected) - seen):
        report.problems.append(f"record #{pk} was removed: {name}")
    # Each link's copies of its record's type and user (the filtered panels' indexes)
    # are not in the hashes; the record's type and user are, so the copies must match.
    sealed_links = EntityLink.objects.filter(
        record_id__gte=seal_row.first_record_id, record_id__lte=seal_row.last_record_id
    )
    retyped = sealed_links.exclude(type_id=F("record__type_id")).values_list("id", "record_id")
    for link_id, record_id in retyped[:1]:
        report.problems.append(
            f"link #{link_id} of record #{record_id} names another type than its record "
            f"(its type copy was changed): {name}"
        )
    other_user = (
        Q(user_id__isnull=True, record__user_id__isnull=False)
        | Q(user_id__isnull=False, record__user_id__isnull=True)
        | (Q(user_id__isnull=False) & ~Q(user_id=F("record__user_id")))
    )
    for link_id, record_id in sealed_links.filter(other_user).values_list("id", "record_id")[:1]:
        report.problems.append(
            f"link #{link_id} of record #{record_id} names another user than its record "
            f"(its user copy was changed): {name}"
        )
    if len(expected) != seal_row.records or (
        not report.problems and digest(seal_row.previous, hashes) != seal_row.digest
    ):
        report.problems.append(f"{name} was changed: its digest does not match its records")


def record_verification(report: Verified) -> None:
    """Keep the outcome (the integrity page shows it) and record it in the trail."""
    from django.utils import timezone

    from .logger import log

    current = state()
    IntegrityState.objects.filter(pk=current.pk).update(
        verified_at=timezone.now(),
        verified_ok=report.ok,
        verified_problem=report.problems[0] if report.problems else "",
        verified_seals=report.seals,
    )
    log(
        "trail-verified",
        "The trail is intact" if report.ok else f"The trail was changed: {report.problems[0]}",
        {
            "ok": report.ok,
            "seals": report.seals,
            "records": report.records,
            "unsealed": report.unsealed,
            "problems": report.problems[:5],
        },
        level="audit" if report.ok else "error",
    )
