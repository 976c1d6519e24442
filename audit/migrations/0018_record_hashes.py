"""The records' hashes for the seals, computed by PostgreSQL (``audit.sql.RECORD_HASHES``).

It comes with the seals themselves (0015-0017, one release): no seal was ever hashed
another way on PostgreSQL."""

from django.db import migrations

from audit import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, sql.RECORD_HASHES)


def backwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        f"DROP FUNCTION IF EXISTS {sql.signature('audit_record_hashes', sql.RECORD_HASHES_ARGS)}",
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0017_roles")]
    operations = [migrations.RunPython(forwards, backwards)]
