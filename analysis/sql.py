"""The analysis app's SQL on PostgreSQL: the triggers that write deltas, and the fold.

Triggers, one per INSERT statement on the records and the links tables (so the
one-statement batch insert and ``bulk_create`` count at no extra round trip): each reads
the rows its statement inserted from a transition table and inserts their counts,
grouped, into the delta tables. A tracked save's one record leaves only its id, from a
row trigger (``PENDING_TO_DELTAS`` counts it at the fold): a statement trigger's query
over a transition table is planned at every call, which a single-record save felt, and
writing its deltas in the save's transaction cost the save half its record's time. Only
INSERTs, so two writers never wait for each other on a counter.

The fold is one statement: it deletes the delta rows it can see and, in the same
statement, adds their sums to every rollup (``INSERT ... ON CONFLICT DO UPDATE``, keys
in order so two folds cannot deadlock). Folds take a transaction-level advisory lock,
so they run one at a time; a delta is therefore counted exactly once, whoever folds it.

Days are taken in the time zone of ``analysis_rollupstate`` (``TIME_ZONE`` when the
rollups were made); hours are UTC hours.
"""

from __future__ import annotations

from typing import Any

import audit

from .models import WEEKDAYS

SINGLE_RECORD = audit.SINGLE_RECORD_SETTING

# pg_advisory_xact_lock key of folds and rebuilds: "analysis" in ASCII.
FOLD_LOCK = 0x616E616C79736973

CHANGE_TYPES = "-(created|edited|deleted|published|transformations-edited)$"

ZONE = "COALESCE((SELECT time_zone FROM analysis_rollupstate LIMIT 1), 'UTC')"

# Where the records' statement trigger leaves its records for their links' (below).
STATEMENT_RECORDS = "analysis.statement_records"

# A tracked save's one record (``audit.sql.SINGLE_RECORD`` on) is counted by the row
# triggers below; the statement triggers count every other INSERT, grouped.
SINGLE = f"current_setting('{SINGLE_RECORD}', true) = 'on'"

COUNT_RECORDS = f"""
CREATE OR REPLACE FUNCTION analysis_count_records() RETURNS trigger AS $$
DECLARE
    zone text;
    change_types bigint[];
    lo bigint;
    hi bigint;
    changes bigint[];
BEGIN
    IF {SINGLE} THEN
        RETURN NULL;
    END IF;
    zone := {ZONE};
    INSERT INTO analysis_delta (hour, day, type_id, level, user_id, session_id,
        fingerprint, events, first_at, last_at, first_id, last_id)
    SELECT date_trunc('hour', r.created_at, 'UTC'), (r.created_at AT TIME ZONE zone)::date,
        r.type_id, r.level, r.user_id, r.session_id, r.fingerprint, count(*),
        min(r.created_at), max(r.created_at), min(r.id), max(r.id)
    FROM new_records r
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    -- For the links the same transaction inserts next: which of these records are
    -- changes, so that their trigger need not look the records up ({STATEMENT_RECORDS}).
    change_types := ARRAY(SELECT t.id FROM audit_eventtype t WHERE t.name ~ '{CHANGE_TYPES}');
    SELECT min(r.id), max(r.id), array_agg(r.id) FILTER (WHERE r.type_id = ANY(change_types))
    INTO lo, hi, changes FROM new_records r;
    PERFORM set_config('{STATEMENT_RECORDS}',
        COALESCE(lo || ':' || hi || ':' || COALESCE(array_to_string(changes, ','), ''), ''),
        true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

COUNT_RECORDS_TRIGGER = """
CREATE TRIGGER analysis_count_records
AFTER INSERT ON audit_auditrecord
REFERENCING NEW TABLE AS new_records
FOR EACH STATEMENT EXECUTE FUNCTION analysis_count_records();
"""

# A link is a use of its entity; it is a change when the record changed that very entity
# (role "": not the project a query's edit also links). From migration 0004 to 0012 the
# records' statement trigger left, in ``STATEMENT_RECORDS``, the id range of the records
# its statement inserted and which of them are changes: the links that followed them
# (the storing functions insert a statement's records, then their links) were judged
# from that, without a join of the records table, which PL/pgSQL plans at every call
# and which the planner read whole when its statistics said the table was small (half
# of a COPY's time: bench/README.md); a link outside that range had its record looked up
# by key. Since 0013 a link carries its record's type (``COUNT_LINKS_TYPED`` below).
IS_CHANGE = f"""
CREATE OR REPLACE FUNCTION analysis_is_change(p_record_id bigint) RETURNS boolean AS $$
BEGIN
    RETURN COALESCE((
        SELECT t.name FROM audit_eventtype t WHERE t.id = (
            SELECT r.type_id FROM audit_auditrecord r WHERE r.id = p_record_id)
    ) ~ '{CHANGE_TYPES}', false);
END;
$$ LANGUAGE plpgsql STABLE;
"""

COUNT_LINKS = f"""
CREATE OR REPLACE FUNCTION analysis_count_links() RETURNS trigger AS $$
DECLARE
    zone text;
    known text;
    lo bigint;
    hi bigint;
    changes bigint[];
BEGIN
    IF {SINGLE} THEN
        RETURN NULL;
    END IF;
    zone := {ZONE};
    known := current_setting('{STATEMENT_RECORDS}', true);
    IF known IS NOT NULL AND known <> '' THEN
        lo := split_part(known, ':', 1)::bigint;
        hi := split_part(known, ':', 2)::bigint;
        changes := string_to_array(NULLIF(split_part(known, ':', 3), ''), ',')::bigint[];
    END IF;
    INSERT INTO analysis_entitydelta (day, content_type_id, object_id, changed, events)
    SELECT (l.created_at AT TIME ZONE zone)::date, l.content_type_id, l.object_id,
        (l.role = '' AND CASE
            WHEN l.record_id BETWEEN lo AND hi THEN COALESCE(l.record_id = ANY(changes), false)
            ELSE analysis_is_change(l.record_id)
        END), count(*)
    FROM new_links l
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

COUNT_LINKS_TRIGGER = """
CREATE TRIGGER analysis_count_links
AFTER INSERT ON audit_entitylink
REFERENCING NEW TABLE AS new_links
FOR EACH STATEMENT EXECUTE FUNCTION analysis_count_links();
"""

# The row path of migration 0003, replaced by the pending path below (migration 0012);
# kept for those migrations. A tracked save stores one record and a few links, and a statement
# trigger's grouped INSERT over its transition table is planned again at every call
# (50 and 150 microseconds a save, the links' one joining the records table for the
# record's type: bench/README.md). A row trigger's plans are kept. The record's row
# trigger looks its type up by key and leaves whether it is a change in
# ``analysis.change_record`` (``id:t`` or ``id:f``), which its links' row triggers,
# firing next in the same function, read instead of looking the record up again.
COUNT_RECORD_ROW = f"""
CREATE OR REPLACE FUNCTION analysis_count_record_row() RETURNS trigger AS $$
DECLARE
    zone text := {ZONE};
    change boolean;
BEGIN
    INSERT INTO analysis_delta (hour, day, type_id, level, user_id, session_id,
        fingerprint, events, first_at, last_at, first_id, last_id)
    VALUES (date_trunc('hour', NEW.created_at, 'UTC'), (NEW.created_at AT TIME ZONE zone)::date,
        NEW.type_id, NEW.level, NEW.user_id, NEW.session_id, NEW.fingerprint, 1,
        NEW.created_at, NEW.created_at, NEW.id, NEW.id);
    change := COALESCE(
        (SELECT t.name FROM audit_eventtype t WHERE t.id = NEW.type_id) ~ '{CHANGE_TYPES}',
        false);
    PERFORM set_config('analysis.change_record',
        NEW.id || ':' || CASE WHEN change THEN 't' ELSE 'f' END, true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _row_trigger(name: str, table: str) -> str:
    """The row trigger ``name`` on ``table``, calling the function of the same name, for
    the single records only."""
    return (
        f"CREATE OR REPLACE TRIGGER {name} AFTER INSERT ON {table} "
        f"FOR EACH ROW WHEN ({SINGLE}) EXECUTE FUNCTION {name}()"
    )


COUNT_RECORD_ROW_TRIGGER = _row_trigger("analysis_count_record_row", "audit_auditrecord")

COUNT_LINK_ROW = f"""
CREATE OR REPLACE FUNCTION analysis_count_link_row() RETURNS trigger AS $$
DECLARE
    zone text := {ZONE};
    known text := current_setting('analysis.change_record', true);
    change boolean := false;
BEGIN
    IF NEW.role = '' THEN
        IF known = NEW.record_id || ':t' THEN
            change := true;
        ELSIF known IS DISTINCT FROM NEW.record_id || ':f' THEN
            change := COALESCE((
                SELECT t.name FROM audit_eventtype t WHERE t.id = (
                    SELECT r.type_id FROM audit_auditrecord r WHERE r.id = NEW.record_id)
            ) ~ '{CHANGE_TYPES}', false);
        END IF;
    END IF;
    INSERT INTO analysis_entitydelta (day, content_type_id, object_id, changed, events)
    VALUES ((NEW.created_at AT TIME ZONE zone)::date, NEW.content_type_id, NEW.object_id,
        change, 1);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

COUNT_LINK_ROW_TRIGGER = _row_trigger("analysis_count_link_row", "audit_entitylink")

INSTALL = (IS_CHANGE, COUNT_RECORDS, COUNT_RECORDS_TRIGGER, COUNT_LINKS, COUNT_LINKS_TRIGGER)
INSTALL_ROWS = (
    COUNT_RECORDS,
    COUNT_LINKS,
    COUNT_RECORD_ROW,
    COUNT_RECORD_ROW_TRIGGER,
    COUNT_LINK_ROW,
    COUNT_LINK_ROW_TRIGGER,
)
UNINSTALL_ROWS = (
    "DROP TRIGGER IF EXISTS analysis_count_record_row ON audit_auditrecord",
    "DROP TRIGGER IF EXISTS analysis_count_link_row ON audit_entitylink",
    "DROP FUNCTION IF EXISTS analysis_count_record_row()",
    "DROP FUNCTION IF EXISTS analysis_count_link_row()",
)
# The pending path (migration 0012), in place of the two row triggers above: a tracked
# save's record leaves only its id, in a table without an index, from one row trigger;
# the fold turns the ids it finds into deltas from the records and their links, which are
# committed by then. The row triggers wrote three delta rows a save (the record's and
# one per link, into tables with keys and sequences): 150 of the 310 microseconds that
# ``audit_insert_record`` took (``bench/tracking_profile.py``). The id commits or rolls
# back with its record, so a pending record is counted exactly once, as a delta is.
PENDING_TABLE = "analysis_pending"
CREATE_PENDING = f"CREATE TABLE IF NOT EXISTS {PENDING_TABLE} (record_id bigint NOT NULL)"
PEND_RECORD = f"""
CREATE OR REPLACE FUNCTION analysis_pend_record() RETURNS trigger AS $$
BEGIN
    INSERT INTO {PENDING_TABLE} (record_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
PEND_RECORD_TRIGGER = _row_trigger("analysis_pend_record", "audit_auditrecord")
INSTALL_PENDING = (*UNINSTALL_ROWS, CREATE_PENDING, PEND_RECORD, PEND_RECORD_TRIGGER)
UNINSTALL_PENDING = (
    "DROP TRIGGER IF EXISTS analysis_pend_record ON audit_auditrecord",
    "DROP FUNCTION IF EXISTS analysis_pend_record()",
    f"DROP TABLE IF EXISTS {PENDING_TABLE}",
    *INSTALL_ROWS,
)

# The fold's first step: the pending records, taken off the list, as deltas (the
# statement triggers' grouping; a link is a change when its record's type is one, which
# the link keeps as its own ``type_id``). ``PENDING_TO_DELTAS_0012`` is the text
# migration 0012 runs when it is reversed: it reads the type from the records, so it
# works whether or not the links' type (audit 0021) is still there.
PENDING_TO_DELTAS_0012 = f"""
WITH pending AS (DELETE FROM {PENDING_TABLE} RETURNING record_id),
records AS (
    INSERT INTO analysis_delta (hour, day, type_id, level, user_id, session_id,
        fingerprint, events, first_at, last_at, first_id, last_id)
    SELECT date_trunc('hour', r.created_at, 'UTC'),
        (r.created_at AT TIME ZONE %(zone)s)::date, r.type_id, r.level, r.user_id,
        r.session_id, r.fingerprint, count(*), min(r.created_at), max(r.created_at),
        min(r.id), max(r.id)
    FROM audit_auditrecord r JOIN pending p ON p.record_id = r.id
    GROUP BY 1, 2, 3, 4, 5, 6, 7
),
links AS (
    INSERT INTO analysis_entitydelta (day, content_type_id, object_id, changed, events)
    SELECT (l.created_at AT TIME ZONE %(zone)s)::date, l.content_type_id, l.object_id,
        (l.role = '' AND t.name ~ '{CHANGE_TYPES}'), count(*)
    FROM audit_entitylink l
    JOIN pending p ON p.record_id = l.record_id
    JOIN audit_auditrecord r ON r.id = l.record_id
    JOIN audit_eventtype t ON t.id = r.type_id
    GROUP BY 1, 2, 3, 4
)
SELECT count(*) FROM pending
"""

PENDING_TO_DELTAS = PENDING_TO_DELTAS_0012.replace(
    """    JOIN audit_auditrecord r ON r.id = l.record_id
    JOIN audit_eventtype t ON t.id = r.type_id
""",
    """    JOIN audit_eventtype t ON t.id = l.type_id
""",
)
assert PENDING_TO_DELTAS != PENDING_TO_DELTAS_0012

# The links judged from what the records' trigger left (migration 0004).
INSTALL_STATEMENT_RECORDS = (IS_CHANGE, COUNT_RECORDS, COUNT_LINKS)

# Migration 0013: each link keeps its record's type (audit 0021), so the links' trigger
# judges a change from the link alone, and the records' trigger leaves nothing for it
# (no ``STATEMENT_RECORDS``, no ``analysis_is_change`` for links stored apart from their
# records). The trigger definitions are those of ``INSTALL``; only the functions change.
COUNT_RECORDS_ALONE = f"""
CREATE OR REPLACE FUNCTION analysis_count_records() RETURNS trigger AS $$
BEGIN
    IF {SINGLE} THEN
        RETURN NULL;
    END IF;
    INSERT INTO analysis_delta (hour, day, type_id, level, user_id, session_id,
        fingerprint, events, first_at, last_at, first_id, last_id)
    SELECT date_trunc('hour', r.created_at, 'UTC'), (r.created_at AT TIME ZONE {ZONE})::date,
        r.type_id, r.level, r.user_id, r.session_id, r.fingerprint, count(*),
        min(r.created_at), max(r.created_at), min(r.id), max(r.id)
    FROM new_records r
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

COUNT_LINKS_TYPED = f"""
CREATE OR REPLACE FUNCTION analysis_count_links() RETURNS trigger AS $$
DECLARE
    zone text;
    change_types bigint[];
BEGIN
    IF {SINGLE} THEN
        RETURN NULL;
    END IF;
    zone := {ZONE};
    change_types := ARRAY(SELECT t.id FROM audit_eventtype t WHERE t.name ~ '{CHANGE_TYPES}');
    INSERT INTO analysis_entitydelta (day, content_type_id, object_id, changed, events)
    SELECT (l.created_at AT TIME ZONE zone)::date, l.content_type_id, l.object_id,
        (l.role = '' AND l.type_id = ANY(change_types)), count(*)
    FROM new_links l
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
INSTALL_TYPED_LINKS = (
    COUNT_RECORDS_ALONE,
    COUNT_LINKS_TYPED,
    "DROP FUNCTION IF EXISTS analysis_is_change(bigint)",
)
UNINSTALL = (
    "DROP TRIGGER IF EXISTS analysis_count_records ON audit_auditrecord",
    "DROP TRIGGER IF EXISTS analysis_count_links ON audit_entitylink",
    "DROP FUNCTION IF EXISTS analysis_count_records()",
    "DROP FUNCTION IF EXISTS analysis_count_links()",
    "DROP FUNCTION IF EXISTS analysis_is_change(bigint)",
)


def _upsert(table: str, columns: str, select: str, key: str, updates: str) -> str:
    return f"INSERT INTO {table} ({columns}) {select} ON CONFLICT ({key}) DO UPDATE SET {updates}"


_ADD = "events = {t}.events + EXCLUDED.events"
# A span's length in microseconds (``SessionDay.length_us``).
_MICROS = "(extract(epoch FROM ({last}) - ({first})) * 1000000)::bigint"
_SPAN = (
    "first_at = LEAST({t}.first_at, EXCLUDED.first_at), "
    "last_at = GREATEST({t}.last_at, EXCLUDED.last_at)"
)


# The Monday of a row's day, and its events on each weekday (ISO: Monday is 1).
_MONDAY = "day - (extract(isodow FROM day)::int - 1)"
_PER_WEEKDAY = ", ".join(
    f"coalesce(sum(events) FILTER (WHERE extract(isodow FROM day) = {n}), 0)" for n in range(1, 8)
)
_BITS = "(SELECT repeat('0', user_bits)::varbit AS zero FROM analysis_rollupstate LIMIT 1) AS z"
_BIT = "set_bit(z.zero, user_id::int, 1)"
# The users of rows some of which have none (their bitmaps are empty).
_BITS_OR_NONE = f"bit_or(CASE WHEN user_id IS NULL THEN z.zero ELSE {_BIT} END)"


def _rollups(source: str) -> list[tuple[str, str]]:
    """(name, statement) adding the rows of ``source`` (a delta-shaped relation) to each
    rollup; CTEs of the fold, and the statements of the rebuild."""
    return [
        (
            "th",
            _upsert(
                "analysis_typehour",
                "hour, type_id, level, events",
                f"SELECT hour, type_id, level, sum(events) FROM {source} "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                "hour, type_id, level",
                _ADD.format(t="analysis_typehour"),
            ),
        ),
        (
            "ud",
            _upsert(
                "analysis_userday",
                "day, user_id, events, first_at, last_at",
                f"SELECT day, user_id, sum(events), min(first_at), max(last_at) FROM {source} "
                "WHERE user_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
                "day, user_id",
                _ADD.format(t="analysis_userday") + ", " + _SPAN.format(t="analysis_userday"),
            ),
        ),
        (
            "usd",
            _upsert(
                "analysis_usersday",
                "day, type_id, level, events, users",
                f"SELECT day, type_id, level, sum(events), {_BITS_OR_NONE} FROM {source}, "
                f"{_BITS} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                "day, type_id, level",
                _ADD.format(t="analysis_usersday")
                + ", users = analysis_usersday.users | EXCLUDED.users",
            ),
        ),
        (
            "ush",
            _upsert(
                "analysis_usershour",
                "hour, type_id, level, users",
                f"SELECT hour, type_id, level, bit_or({_BIT}) FROM {source}, {_BITS} "
                "WHERE user_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                "hour, type_id, level",
                "users = analysis_usershour.users | EXCLUDED.users",
            ),
        ),
        (
            "utd",
            _upsert(
                "analysis_usertypeday",
                "type_id, day, level, user_id, events",
                f"SELECT type_id, day, level, user_id, sum(events) FROM {source} "
                "WHERE user_id IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                "type_id, day, level, user_id",
                _ADD.format(t="analysis_usertypeday"),
            ),
        ),
        (
            "sd",
            _upsert(
                "analysis_sessionday",
                "day, session_id, user_id, events, first_at, last_at, length_us",
                f"SELECT day, session_id, min(user_id), sum(events), min(first_at), "
                f"max(last_at), {_MICROS.format(last='max(last_at)', first='min(first_at)')} "
                f"FROM {source} GROUP BY 1, 2 ORDER BY 1, 2",
                "day, session_id",
                _ADD.format(t="analysis_sessionday")
                + ", "
                + _SPAN.format(t="analysis_sessionday")
                + ", length_us = "
                + _MICROS.format(
                    last="GREATEST(analysis_sessionday.last_at, EXCLUDED.last_at)",
                    first="LEAST(analysis_sessionday.first_at, EXCLUDED.first_at)",
                ),
            ),
        ),
        (
            "ed",
            _upsert(
                "analysis_errorday",
                "fingerprint, day, events, users",
                f"SELECT fingerprint, day, sum(events), {_BITS_OR_NONE} FROM {source}, {_BITS} "
                "WHERE fingerprint <> '' GROUP BY 1, 2 ORDER BY 1, 2",
                "fingerprint, day",
                _ADD.format(t="analysis_errorday") + ", users = analysis_errorday.users | "
                "EXCLUDED.users",
            ),
        ),
        (
            "ew",
            _upsert(
                "analysis_errorweek",
                f"fingerprint, week, events, {', '.join(WEEKDAYS)}, users",
                f"SELECT fingerprint, {_MONDAY}, sum(events), {_PER_WEEKDAY}, {_BITS_OR_NONE} "
                f"FROM {source}, {_BITS} WHERE fingerprint <> '' GROUP BY 1, 2 ORDER BY 1, 2",
                "fingerprint, week",
                ", ".join(
                    f"{column} = analysis_errorweek.{column} + EXCLUDED.{column}"
                    for column in ("events", *WEEKDAYS)
                )
                + ", users = analysis_errorweek.users | EXCLUDED.users",
            ),
        ),
        (
            "eg",
            _upsert(
                "analysis_errorgroup",
                "fingerprint, type_id, events, first_seen, last_seen, first_record_id, "
                "last_record_id, status",
                f"SELECT fingerprint, min(type_id), sum(events), min(first_at), max(last_at), "
                f"min(first_id), max(last_id), 'open' FROM {source} "
                "WHERE fingerprint <> '' GROUP BY 1 ORDER BY 1",
                "fingerprint",
                "events = analysis_errorgroup.events + EXCLUDED.events, "
                "first_seen = LEAST(analysis_errorgroup.first_seen, EXCLUDED.first_seen), "
                "last_seen = GREATEST(analysis_errorgroup.last_seen, EXCLUDED.last_seen), "
                "first_record_id = LEAST(analysis_errorgroup.first_record_id, "
                "EXCLUDED.first_record_id), "
                "last_record_id = GREATEST(analysis_errorgroup.last_record_id, "
                "EXCLUDED.last_record_id), "
                "status = CASE WHEN analysis_errorgroup.status = 'resolved' "
                "AND EXCLUDED.last_seen > analysis_errorgroup.resolved_at "
                "THEN 'regressed' ELSE analysis_errorgroup.status END",
            ),
        ),
        (
            "uf",
            _upsert(
                "analysis_userfirstseen",
                "user_id, first_at, first_day",
                f"SELECT user_id, min(first_at), min(day) FROM {source} "
                "WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY 1",
                "user_id",
                "first_at = LEAST(analysis_userfirstseen.first_at, EXCLUDED.first_at), "
                "first_day = LEAST(analysis_userfirstseen.first_day, EXCLUDED.first_day)",
            ),
        ),
    ]


# The weeks of a span of days made again from their days (the purge's cut week, and
# the migration that made the week rollup): the day rows hold everything a week row sums.
ERROR_WEEKS_FROM_DAYS = (
    "INSERT INTO analysis_errorweek "
    f"(fingerprint, week, events, {', '.join(WEEKDAYS)}, users) "
    f"SELECT fingerprint, {_MONDAY}, sum(events), {_PER_WEEKDAY}, bit_or(users) "
    "FROM analysis_errorday WHERE day BETWEEN %(first)s AND %(last)s GROUP BY 1, 2"
)
ENTITY_WEEKS_FROM_DAYS = (
    "INSERT INTO analysis_entityweek (week, content_type_id, object_id, changed, events) "
    f"SELECT {_MONDAY}, content_type_id, object_id, changed, sum(events) "
    "FROM analysis_entityday WHERE day BETWEEN %(first)s AND %(last)s GROUP BY 1, 2, 3, 4"
)

BITMAP_TABLES = (
    "analysis_usersday",
    "analysis_usershour",
    "analysis_errorday",
    "analysis_errorweek",
)


def widen(old_bits: int, new_bits: int) -> list[str]:
    """Statements that give every bitmap ``new_bits`` bits (a larger user id arrived)."""
    pad = f"repeat('0', {int(new_bits) - int(old_bits)})::varbit"
    return [
        f"UPDATE analysis_rollupstate SET user_bits = {int(new_bits)}",
        *(f"UPDATE {table} SET users = users || {pad}" for table in BITMAP_TABLES),
    ]


def _entity_rollup(source: str) -> str:
    return _upsert(
        "analysis_entityday",
        "day, content_type_id, object_id, changed, events",
        f"SELECT day, content_type_id, object_id, changed, sum(events) FROM {source} "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        "day, content_type_id, object_id, changed",
        _ADD.format(t="analysis_entityday"),
    )


FOLD = (
    "WITH moved AS (DELETE FROM analysis_delta RETURNING *), "
    + ", ".join(f"{name} AS ({statement})" for name, statement in _rollups("moved"))
    + " SELECT count(*), coalesce(sum(events), 0) FROM moved"
)


def _entity_week_rollup(source: str) -> str:
    return _upsert(
        "analysis_entityweek",
        "week, content_type_id, object_id, changed, events",
        f"SELECT {_MONDAY}, content_type_id, object_id, changed, sum(events) FROM {source} "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        "week, content_type_id, object_id, changed",
        _ADD.format(t="analysis_entityweek"),
    )


FOLD_ENTITIES = (
    "WITH moved AS (DELETE FROM analysis_entitydelta RETURNING *), "
    f"e AS ({_entity_rollup('moved')}), w AS ({_entity_week_rollup('moved')}) "
    "SELECT count(*) FROM moved"
)

# New error groups take the message of their first occurrence.
NAME_ERRORS = (
    "UPDATE analysis_errorgroup g SET message = r.message FROM audit_auditrecord r "
    "WHERE g.message IS NULL AND r.id = g.first_record_id"
)

# --- rebuilding from the records -----------------------------------------------------------

# The records of a range (``{where}``) as delta-shaped rows (the rebuild's source).
RECORD_ROWS = """
SELECT date_trunc('hour', r.created_at, 'UTC') AS hour,
    (r.created_at AT TIME ZONE %(zone)s)::date AS day, r.type_id, r.level, r.user_id,
    r.session_id, r.fingerprint, count(*) AS events, min(r.created_at) AS first_at,
    max(r.created_at) AS last_at, min(r.id) AS first_id, max(r.id) AS last_id
FROM audit_auditrecord r
WHERE {where}
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""

LINK_ROWS = f"""
SELECT (l.created_at AT TIME ZONE %(zone)s)::date AS day, l.content_type_id, l.object_id,
    (l.role = '' AND t.name ~ '{CHANGE_TYPES}') AS changed, count(*) AS events
FROM audit_entitylink l
JOIN audit_eventtype t ON t.id = l.type_id
WHERE {{where}}
GROUP BY 1, 2, 3, 4
"""

BY_ID = ("r.id BETWEEN %(low)s AND %(high)s", "l.record_id BETWEEN %(low)s AND %(high)s")
BY_TIME = (
    "r.created_at >= %(since)s AND r.created_at < %(until)s",
    "l.created_at >= %(since)s AND l.created_at < %(until)s",
)


def add_statements(where: tuple[str, str] = BY_ID) -> list[str]:
    """Statements adding the records of a range to every rollup (the fold's own upserts
    fed from the records): by id for ``analysis_rebuild``, by time for the purge."""
    records = RECORD_ROWS.format(where=where[0])
    links = LINK_ROWS.format(where=where[1])
    statements = [f"WITH src AS ({records}) {statement}" for _name, statement in _rollups("src")]
    statements.append(f"WITH src AS ({links}) {_entity_rollup('src')}")
    statements.append(f"WITH src AS ({links}) {_entity_week_rollup('src')}")
    return statements


def execute(schema_editor: Any, *statements: str) -> None:
    """Run ``statements`` on PostgreSQL, without parameters; nothing elsewhere."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
