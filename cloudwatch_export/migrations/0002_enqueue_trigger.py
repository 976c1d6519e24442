"""On PostgreSQL the database fills the outbox: a statement-level trigger on records
(``cloudwatch_export.sql`` says how, and holds the SQL). Elsewhere a ``records_stored``
receiver does it (``cloudwatch_export.apps``)."""

from django.db import migrations

from cloudwatch_export import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, sql.ENQUEUE, sql.ENQUEUE_TRIGGER)


def backwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        "DROP TRIGGER IF EXISTS cloudwatch_export_enqueue ON audit_auditrecord",
        "DROP FUNCTION IF EXISTS cloudwatch_export_enqueue()",
    )


class Migration(migrations.Migration):
    dependencies = [("cloudwatch_export", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
