"""On PostgreSQL, the database itself refuses UPDATE and DELETE of records and links.

Only a transaction that first runs ``SET LOCAL audit.purge = 'on'`` (the retention
purge, ``audit.purge``) may delete. Other databases rely on the application alone. The
SQL is ``audit.sql``'s.
"""

from django.db import migrations

from audit import sql


def forwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        sql.REFUSE_CHANGE,
        *(sql.append_only_trigger(table) for table in sql.APPEND_ONLY_TABLES),
    )


def backwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        *(
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"
            for table in sql.APPEND_ONLY_TABLES
        ),
        "DROP FUNCTION IF EXISTS audit_refuse_change()",
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_builtin_event_types")]
    operations = [migrations.RunPython(forwards, backwards)]
