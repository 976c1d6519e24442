"""The export's SQL: the PostgreSQL trigger that fills the outbox, in one place.

Every path that inserts records (``audit_insert_records`` for batches,
``audit_insert_record`` for a tracked save, ``bulk_create`` elsewhere) fires it once per
INSERT statement; it reads the rows that statement inserted from the transition table
``new_records`` and queues, in one set-based INSERT ... SELECT, those whose type is
mapped while the export is enabled. So the outbox commits with the records, costs no
round trip and no Python, and the map in force when a record is stored decides where
it goes. When the export is disabled the trigger returns after one indexed lookup.

The INSERT names only ``record_id``, ``stream`` and ``record_time``: the other columns
of ``OutboxEntry`` take their database defaults (``db_default``), so a new column
needs one too, or a new version of this function.
"""

from __future__ import annotations

from typing import Any

ENQUEUE = """
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

ENQUEUE_TRIGGER = """
CREATE TRIGGER cloudwatch_export_enqueue
AFTER INSERT ON audit_auditrecord
REFERENCING NEW TABLE AS new_records
FOR EACH STATEMENT EXECUTE FUNCTION cloudwatch_export_enqueue();
"""

# The second version: the seals' records (``trail-sealed``) also go to the witness
# stream (``seal_stream``), unless the map already sends them there.
ENQUEUE_V2 = """
CREATE OR REPLACE FUNCTION cloudwatch_export_enqueue() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cloudwatch_export_exportsettings WHERE enabled) THEN
        RETURN NULL;
    END IF;
    INSERT INTO cloudwatch_export_outboxentry (record_id, stream, record_time)
    SELECT id, stream, created_at FROM (
        SELECT r.id, m.stream, r.created_at
        FROM new_records r
        JOIN cloudwatch_export_streammapping m ON m.event_type_id = r.type_id
        JOIN cloudwatch_export_exportsettings s ON s.id = m.settings_id AND s.enabled
        UNION ALL
        SELECT r.id, s.seal_stream, r.created_at
        FROM new_records r
        JOIN audit_eventtype t ON t.id = r.type_id AND t.name = 'trail-sealed'
        JOIN cloudwatch_export_exportsettings s ON s.enabled AND s.seal_stream <> ''
        WHERE NOT EXISTS (
            SELECT 1 FROM cloudwatch_export_streammapping m
            WHERE m.event_type_id = r.type_id AND m.stream = s.seal_stream
        )
    ) AS queued
    ORDER BY id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

OUTBOX_FILLFACTOR = "ALTER TABLE cloudwatch_export_outboxentry SET (fillfactor = 50)"


def execute(schema_editor: Any, *statements: str) -> None:
    """Run ``statements`` on PostgreSQL, without parameters (``%`` stays literal)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
