"""On PostgreSQL the database fills the outbox: a statement-level trigger on records.

Every path that inserts records (the ingest API's one-statement batch insert, the
PL/pgSQL ``audit_insert_records`` of tracked saves, ``bulk_create``) fires it once per
INSERT statement; it reads the rows that statement inserted from the transition table
``new_records`` and queues, in one set-based INSERT ... SELECT, those whose type is
mapped while the export is enabled. So the outbox commits with the records, costs no
round trip and no Python, and the map in force when a record is stored decides where
it goes. When the export is disabled the trigger returns after one indexed lookup.

The INSERT names only ``record_id``, ``stream`` and ``record_time``: the other columns
of ``OutboxEntry`` take their database defaults (``db_default``), so a new column
needs one too, or a new version of this function.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION cloudwatch_export_enqueue() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cloudwatch_export_exportsettings WHERE enabled) THEN
        RETURN NULL;
    END IF;
    INSERT INTO cloudwatch_export_outboxentry (record_id, stream, record_time)
    SELECT r.id, m.stream, r.created_at
    FROM new_records r
    JOIN cloudwatch_export_streammapping m ON m.event_type_id = r.type_id
    JOIN cloudwatch_export_exportsettings s ON s.id = m.settings_id AND s.enabled
    ORDER BY r.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER = """
CREATE TRIGGER cloudwatch_export_enqueue
AFTER INSERT ON audit_auditrecord
REFERENCING NEW TABLE AS new_records
FOR EACH STATEMENT EXECUTE FUNCTION cloudwatch_export_enqueue();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # elsewhere a records_stored receiver does it (cloudwatch_export.apps)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        cursor.execute(TRIGGER)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS cloudwatch_export_enqueue ON audit_auditrecord")
        cursor.execute("DROP FUNCTION IF EXISTS cloudwatch_export_enqueue()")


class Migration(migrations.Migration):
    dependencies = [("cloudwatch_export", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
