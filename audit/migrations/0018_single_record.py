"""``audit_insert_record`` (a tracked save's one record) says, while it stores it, that
it stores one record (``audit.sql.SINGLE_RECORD``), so that other apps' statement
triggers can leave it to cheaper row triggers."""

from django.db import migrations

from audit import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, sql.INSERT_RECORD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0017_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
