"""The audit app's SQL: every function and trigger it installs on PostgreSQL.

Migrations install these definitions by name, and ``audit.storage`` builds its calls
from the same argument lists, so a function's signature is written once (a test reads
the installed function back from ``pg_proc`` and compares). A definition that changes
keeps its old text where its migration needs it and gets a new migration of its own;
the constants here are always the ones in force.

Other databases get none of this: they store through the ORM, and append-only holds
there only because nothing in the product edits a record (``audit.checks`` W002).
"""

from __future__ import annotations

from typing import Any

# --- append-only ------------------------------------------------------------------------

APPEND_ONLY_TABLES = ("audit_auditrecord", "audit_entitylink")

# Only a transaction that first runs ``SET LOCAL audit.purge = 'on'`` (the retention
# purge, ``audit.purge``) may delete.
REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use the retention purge (manage.py audit_purge) to remove old records.';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_trigger(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
    )


# --- storing a batch ----------------------------------------------------------------------

# A batch of any size (the ingest API, ``audit.log``, bulk operations), as two JSON
# documents that msgspec encodes in C and the server parses in C, with ``ON CONFLICT
# (uuid) DO NOTHING`` for retried events. A PL/pgSQL function, so its statements are
# planned once per connection and the plans reused.
INSERT_RECORDS_ARGS = (("p_records", "jsonb"), ("p_links", "jsonb"))
INSERT_RECORDS = """
CREATE OR REPLACE FUNCTION audit_insert_records(p_records jsonb, p_links jsonb)
RETURNS TABLE (record_id bigint, record_uuid uuid) AS $$
BEGIN
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, changes,
            stack_trace, fingerprint, user_id, session_id, created_at, client_time,
            source, request_id)
        SELECT r.uuid, r.type_id, r.level, r.message, r.params, r.changes,
            r.stack_trace, r.fingerprint, r.user_id, r.session_id, r.created_at,
            r.client_time, r.source, r.request_id
        FROM jsonb_populate_recordset(NULL::audit_auditrecord, p_records) AS r
        ON CONFLICT (uuid) DO NOTHING
        RETURNING audit_auditrecord.id, audit_auditrecord.uuid,
            audit_auditrecord.created_at, audit_auditrecord.type_id, audit_auditrecord.user_id
    ), linked AS (
        INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name,
            created_at, type_id, user_id)
        SELECT inserted.id, l.content_type_id, l.object_id, l.role, l.name,
            inserted.created_at, inserted.type_id, inserted.user_id
        FROM jsonb_to_recordset(p_links) AS l(
            record_uuid uuid, content_type_id integer, object_id varchar, role varchar,
            name varchar, position bigint
        )
        JOIN inserted ON inserted.uuid = l.record_uuid
        ORDER BY l.position
    )
    SELECT inserted.id, inserted.uuid FROM inserted;
END;
$$ LANGUAGE plpgsql;
"""

# --- storing a tracked save's record ------------------------------------------------------

# The one record of a tracked save, whose call rides on the model's own UPDATE or
# INSERT (``audit.tracking``): plain arguments and plain INSERT ... VALUES, half the
# server time of unpacking a JSON document, which matters on every save. Its uuid is
# fresh, so there is no conflict to handle; the links come as a small JSON array.
INSERT_RECORD_ARGS = (
    ("p_uuid", "uuid"),
    ("p_type_id", "bigint"),
    ("p_level", "varchar"),
    ("p_message", "text"),
    ("p_params", "jsonb"),
    ("p_changes", "jsonb"),
    ("p_user_id", "integer"),
    ("p_session_id", "bigint"),
    ("p_created_at", "timestamptz"),
    ("p_source", "varchar"),
    ("p_request_id", "varchar"),
    ("p_links", "jsonb"),
)


def _declare(args: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in args)


# While it stores its one record, the function says so in ``audit.single_record``
# (transaction-local, back to off before it returns): statement-level triggers of other
# apps, which PL/pgSQL plans again at every call because they read a transition table,
# can leave such a record to a row-level trigger, whose plan is kept (``analysis.sql``).
SINGLE_RECORD = "audit.single_record"

INSERT_RECORD = f"""
CREATE OR REPLACE FUNCTION audit_insert_record({_declare(INSERT_RECORD_ARGS)})
RETURNS bigint AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM set_config('{SINGLE_RECORD}', 'on', true);
    INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, changes,
        stack_trace, fingerprint, user_id, session_id, created_at, client_time, source,
        request_id)
    VALUES (p_uuid, p_type_id, p_level, p_message, p_params, p_changes, '', '', p_user_id,
        p_session_id, p_created_at, NULL, p_source, p_request_id)
    RETURNING id INTO new_id;
    INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name,
        created_at, type_id, user_id)
    SELECT new_id, l.content_type_id, l.object_id, l.role, l.name, p_created_at, p_type_id,
        p_user_id
    FROM ROWS FROM (jsonb_to_recordset(p_links) AS (
        content_type_id integer, object_id varchar, role varchar, name varchar
    )) WITH ORDINALITY AS l
    ORDER BY l.ordinality;
    PERFORM set_config('{SINGLE_RECORD}', 'off', true);
    RETURN new_id;
END;
$$ LANGUAGE plpgsql;
"""


def _cut(definition: str, *changes: tuple[str, str]) -> str:
    """``definition`` with each ``(text, replacement)`` made, each text found once: a
    later change to the functions fails here loudly instead of installing something
    wrong."""
    for text, replacement in changes:
        assert definition.count(text) == 1, f"{text!r} is not once in the function any more"
        definition = definition.replace(text, replacement)
    return definition


# The functions as migration 0021 left them: links with their record's type, without
# its user (0022 added it). 0021 installs these, and 0022 goes back to them.
INSERT_RECORDS_0021 = _cut(
    INSERT_RECORDS,
    ("audit_auditrecord.type_id, audit_auditrecord.user_id", "audit_auditrecord.type_id"),
    ("created_at, type_id, user_id)", "created_at, type_id)"),
    ("inserted.type_id, inserted.user_id", "inserted.type_id"),
)
INSERT_RECORD_0021 = _cut(
    INSERT_RECORD,
    ("created_at, type_id, user_id)", "created_at, type_id)"),
    ("p_type_id,\n        p_user_id\n", "p_type_id\n"),
)


def signature(function: str, args: tuple[tuple[str, str], ...]) -> str:
    """``name(type, ...)``, as ``DROP FUNCTION`` names one of several overloads."""
    return f"{function}({', '.join(kind for _name, kind in args)})"


def call(function: str, args: tuple[tuple[str, str], ...]) -> str:
    """A call with a placeholder per argument; JSON documents are cast, since they are
    sent as text."""
    placeholders = ", ".join("%s::jsonb" if kind == "jsonb" else "%s" for _name, kind in args)
    return f"{function}({placeholders})"


def execute(schema_editor: Any, *statements: str) -> None:
    """Run ``statements`` on PostgreSQL, through a cursor without parameters (so ``%``
    in a definition stays literal); nothing elsewhere."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


# --- integrity: the guard, the seals' horizon, the purge ----------------------------------

# The guard, second version: a DELETE goes through only for the tables' owner in a
# transaction that set ``audit.purge`` (the purge function below, which runs as the
# owner). Any role can set a custom setting, so the setting alone no longer opens the
# door: the application role, which owns nothing, is always refused. Sessions are
# guarded too: they end, they are never removed, but by the purge.
REFUSE_CHANGE_V2 = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purge', true) = 'on'
       AND current_user = (SELECT tableowner FROM pg_tables
                           WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use the retention purge (manage.py audit_purge) to remove old records.';
END;
$$ LANGUAGE plpgsql;
"""

SEAL_TABLE_GUARD = (
    "CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
)
SESSION_GUARD = (
    "CREATE TRIGGER audit_usersession_no_delete BEFORE DELETE ON audit_usersession "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
)

# The seals' horizon: every statement that inserts records holds this lock shared until
# its transaction ends, taken before it draws an id. The sealer reads the newest id, then
# which transactions hold the lock, and waits (reading ``pg_locks``, never queueing for
# the lock, so no insert ever waits for it) until those have ended: every id up to the
# one it read then belongs to a transaction that has ended, committed or rolled back.
SEAL_LOCK = 0x617564697473656C  # "auditsel"
SEAL_LOCK_HOLDERS = f"""
SELECT virtualtransaction FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid <> pg_backend_pid()
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((classid::bigint << 32) | objid::bigint) = {SEAL_LOCK}
"""
SEAL_GUARD = f"""
CREATE OR REPLACE FUNCTION audit_seal_guard() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({SEAL_LOCK});
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
SEAL_GUARD_TRIGGER = (
    "CREATE TRIGGER audit_auditrecord_seal_guard BEFORE INSERT ON audit_auditrecord "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_seal_guard();"
)

# The retention purge, as the owner (SECURITY DEFINER): the application role may run it
# but not delete a row itself. It removes whole seals' blocks of records, their links and
# the seals, then the ended sessions left empty, and answers how many records went.
PURGE = """
CREATE OR REPLACE FUNCTION audit_purge_through(p_last_record_id bigint, p_ended_before timestamptz)
RETURNS bigint AS $$
DECLARE
    deleted bigint;
BEGIN
    PERFORM set_config('audit.purge', 'on', true);
    DELETE FROM audit_entitylink WHERE record_id <= p_last_record_id;
    DELETE FROM audit_auditrecord WHERE id <= p_last_record_id;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM audit_seal WHERE last_record_id <= p_last_record_id;
    DELETE FROM audit_usersession s WHERE s.ended_at < p_ended_before
        AND NOT EXISTS (SELECT 1 FROM audit_auditrecord r WHERE r.session_id = s.id);
    PERFORM set_config('audit.purge', 'off', true);
    RETURN deleted;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp;
"""

# --- integrity: what the application role may still do -----------------------------------

# Sessions end, are seen, and lose a user who is deleted (Django sets the key to NULL);
# nothing else about one changes, and none is removed but by the purge. Replaces the
# DELETE-only trigger of the first integrity migration.
SESSION_GUARD_V2 = """
CREATE OR REPLACE FUNCTION audit_session_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('audit.purge', true) = 'on'
           AND current_user = (SELECT tableowner FROM pg_tables
                               WHERE schemaname = TG_TABLE_SCHEMA
                                 AND tablename = TG_TABLE_NAME) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'sessions end, they are never removed: DELETE on % is refused',
            TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Use the retention purge (manage.py audit_purge) to remove old sessions.';
    END IF;
    IF NEW.id <> OLD.id OR NEW.uuid <> OLD.uuid OR NEW.kind <> OLD.kind
       OR NEW.started_at <> OLD.started_at OR NEW.ip IS DISTINCT FROM OLD.ip
       OR NEW.user_agent <> OLD.user_agent OR NEW.client <> OLD.client
       OR (NEW.user_id IS DISTINCT FROM OLD.user_id AND NEW.user_id IS NOT NULL)
       OR (OLD.ended_at IS NOT NULL AND NEW.ended_at IS DISTINCT FROM OLD.ended_at) THEN
        RAISE EXCEPTION 'a session only ends, is seen, or loses a deleted user: '
            'this UPDATE of % is refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
SESSION_GUARD_V2_TRIGGER = (
    "CREATE TRIGGER audit_usersession_guard BEFORE UPDATE OR DELETE ON audit_usersession "
    "FOR EACH ROW EXECUTE FUNCTION audit_session_guard();"
)

# The youngest records the purge may ever remove: the owner sets it (``manage.py
# audit_roles --purge-floor-days``); the application role may only read it.
PURGE_FLOOR = """
CREATE TABLE IF NOT EXISTS audit_purge_floor (
    id smallint PRIMARY KEY CHECK (id = 1),
    days integer NOT NULL CHECK (days >= 1)
);
INSERT INTO audit_purge_floor (id, days) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;
"""

# The purge, second version: since any role granted EXECUTE may call it with any
# argument, it checks them itself. It removes whole sealed blocks only (the argument
# must be where a seal ends), and never a record stored after the floor: the age is the
# records' own, read from the records, not the seal's word (a seal the application role
# inserted itself could claim any time).
PURGE_V2 = """
CREATE OR REPLACE FUNCTION audit_purge_through(p_last_record_id bigint, p_ended_before timestamptz)
RETURNS bigint AS $$
DECLARE
    deleted bigint;
    youngest timestamptz;
    newest timestamptz;
BEGIN
    youngest := now() - make_interval(days => (SELECT days FROM audit_purge_floor WHERE id = 1));
    IF NOT EXISTS (SELECT 1 FROM audit_seal WHERE last_record_id = p_last_record_id) THEN
        RAISE EXCEPTION 'the purge removes whole sealed blocks: no seal ends at record %',
            p_last_record_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT max(created_at) INTO newest FROM audit_auditrecord WHERE id <= p_last_record_id;
    IF newest >= youngest THEN
        RAISE EXCEPTION 'records stored after % are never purged (record % was stored at %)',
            youngest, p_last_record_id, newest
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The owner sets it: manage.py audit_roles --purge-floor-days.';
    END IF;
    PERFORM set_config('audit.purge', 'on', true);
    DELETE FROM audit_entitylink WHERE record_id <= p_last_record_id;
    DELETE FROM audit_auditrecord WHERE id <= p_last_record_id;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM audit_seal WHERE last_record_id <= p_last_record_id;
    DELETE FROM audit_usersession s WHERE s.ended_at < LEAST(p_ended_before, youngest)
        AND NOT EXISTS (SELECT 1 FROM audit_auditrecord r WHERE r.session_id = s.id);
    PERFORM set_config('audit.purge', 'off', true);
    RETURN deleted;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp;
"""
PURGE_ARGS = (("p_last_record_id", "bigint"), ("p_ended_before", "timestamptz"))

# The purge, third version: an ended session with no record left is kept while a change
# made in it is still staged (``audit.staged``), as one kept with its error can be for
# longer than the retention: its record, once stored, must not name a session that is
# gone. The rest is the second version's, word for word.
_EMPTY_SESSION = "AND NOT EXISTS (SELECT 1 FROM audit_auditrecord r WHERE r.session_id = s.id);"
if _EMPTY_SESSION not in PURGE_V2:  # an edit of the second version must not pass unseen
    raise RuntimeError("PURGE_V3 no longer finds the clause of PURGE_V2 it extends")
PURGE_V3 = PURGE_V2.replace(
    _EMPTY_SESSION,
    _EMPTY_SESSION[:-1]
    + "\n        AND NOT EXISTS (SELECT 1 FROM audit_stagedchange c WHERE c.session_id = s.id);",
)


# --- deferred tracking: a staged change leaves only as its record -------------------------

# A tracked save's staged row (``audit.staged``) is the change's only trace until the
# drain stores its record. The application role may delete staged rows (the drain
# does), so without this a change could vanish between its commit and its drain. The
# drain stores a change's first record under the uuid the save gave its row, then
# deletes the row; this trigger refuses a delete that takes a row whose record is not
# stored with that uuid and the same time, user and session. Checked at the end of the
# DELETE (what counts is that the record stood when the row went: a purge later in the
# same transaction may remove both), once for the statement over the rows it took: a
# drain of a thousand changes pays one check, where a row trigger cost 11 microseconds
# a change. No role is let through: an operator who must drop a row that can never
# become a record does so as the owner, with the trigger disabled, which the
# application role cannot do.
STAGED_GUARD = """
CREATE OR REPLACE FUNCTION audit_staged_stored() RETURNS trigger AS $$
DECLARE
    unstored bigint;
BEGIN
    SELECT g.id INTO unstored FROM audit_staged_gone g
    WHERE NOT EXISTS (
        SELECT 1 FROM audit_auditrecord r
        WHERE r.uuid = g.uuid AND r.created_at = g.created_at
          AND r.session_id = g.session_id AND r.user_id IS NOT DISTINCT FROM g.user_id
    )
    ORDER BY g.id LIMIT 1;
    IF unstored IS NOT NULL THEN
        RAISE EXCEPTION 'staged change #% is deleted only once its record is stored', unstored
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Staged changes are stored by the drain (manage.py audit_drain).';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
STAGED_GUARD_TRIGGER = (
    "CREATE TRIGGER audit_stagedchange_stored AFTER DELETE ON audit_stagedchange "
    "REFERENCING OLD TABLE AS audit_staged_gone "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_staged_stored()"
)
