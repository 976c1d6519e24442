"""PL/pgSQL functions that store records and their links, one per kind of caller.

Their statements are planned once per connection and the plans reused; sent as plain
SQL, a statement is parsed and planned on every call, which costs more than a small
insert itself.

* ``audit_insert_records(records, links)``: a batch of any size (the ingest API,
  ``audit.log``, bulk operations), as two JSON documents that msgspec encodes in C and
  the server parses in C, with ``ON CONFLICT (uuid) DO NOTHING`` for retried events.
  It replaces the VALUES form that small batches used to avoid planning the JSON form.
* ``audit_insert_record(...)``: the one record of a tracked save, whose call rides on
  the model's own UPDATE or INSERT. Plain arguments and plain INSERT ... VALUES: half
  the server time of unpacking a JSON document, which matters on every save. Its uuid
  is fresh, so there is no conflict to handle. The links come as a small JSON array,
  where four parallel arrays cost more to adapt in Python. This replaces migration
  0004's version, which took the links as arrays.
"""

import importlib

from django.db import migrations

FUNCTION = """
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
            audit_auditrecord.created_at
    ), linked AS (
        INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name,
            created_at)
        SELECT inserted.id, l.content_type_id, l.object_id, l.role, l.name,
            inserted.created_at
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

TRACKED_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_insert_record(
    p_uuid uuid, p_type_id bigint, p_level varchar, p_message text, p_params jsonb,
    p_changes jsonb, p_user_id integer, p_session_id bigint, p_created_at timestamptz,
    p_source varchar, p_request_id varchar, p_links jsonb
) RETURNS bigint AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, changes,
        stack_trace, fingerprint, user_id, session_id, created_at, client_time, source,
        request_id)
    VALUES (p_uuid, p_type_id, p_level, p_message, p_params, p_changes, '', '', p_user_id,
        p_session_id, p_created_at, NULL, p_source, p_request_id)
    RETURNING id INTO new_id;
    INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name,
        created_at)
    SELECT new_id, l.content_type_id, l.object_id, l.role, l.name, p_created_at
    FROM ROWS FROM (jsonb_to_recordset(p_links) AS (
        content_type_id integer, object_id varchar, role varchar, name varchar
    )) WITH ORDINALITY AS l
    ORDER BY l.ordinality;
    RETURN new_id;
END;
$$ LANGUAGE plpgsql;
"""

OLD_TRACKED_SIGNATURE = (
    "audit_insert_record(uuid, bigint, varchar, text, jsonb, jsonb, integer, bigint, "
    "timestamptz, varchar, varchar, integer[], varchar[], varchar[], varchar[])"
)
NEW_TRACKED_SIGNATURE = (
    "audit_insert_record(uuid, bigint, varchar, text, jsonb, jsonb, integer, bigint, "
    "timestamptz, varchar, varchar, jsonb)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FUNCTION)
            cursor.execute(f"DROP FUNCTION IF EXISTS {OLD_TRACKED_SIGNATURE}")
            cursor.execute(TRACKED_FUNCTION)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS audit_insert_records")
            cursor.execute(f"DROP FUNCTION IF EXISTS {NEW_TRACKED_SIGNATURE}")
            previous = importlib.import_module("audit.migrations.0004_insert_record_function")
            cursor.execute(previous.FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_rule_change_types")]
    operations = [migrations.RunPython(forwards, backwards)]
