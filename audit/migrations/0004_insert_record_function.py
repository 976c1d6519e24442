"""A PL/pgSQL function that inserts one record and its links, for change tracking.

A tracked save appends its record to the model's own statement. Written as plain SQL
that statement is parsed and planned on every save (about 0.3 ms, more than the save
itself); a function's statements are planned once per connection and reused.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_insert_record(
    p_uuid uuid, p_type_id bigint, p_level varchar, p_message text, p_params jsonb,
    p_changes jsonb, p_user_id integer, p_session_id bigint, p_created_at timestamptz,
    p_source varchar, p_request_id varchar,
    p_link_types integer[], p_link_ids varchar[], p_link_roles varchar[],
    p_link_names varchar[]
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
    FROM unnest(p_link_types, p_link_ids, p_link_roles, p_link_names)
        WITH ORDINALITY AS l(content_type_id, object_id, role, name, position)
    ORDER BY l.position;
    RETURN new_id;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FUNCTION)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS audit_insert_record")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
