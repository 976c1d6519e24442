"""The purge keeps an ended session while a change made in it is still staged
(``sql.PURGE_V3``): the change's record, stored later, names its session."""

from django.db import migrations

from audit import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, sql.PURGE_V3)


def backwards(apps, schema_editor):
    sql.execute(schema_editor, sql.PURGE_V2)


class Migration(migrations.Migration):
    dependencies = [("audit", "0024_staged_guard")]
    operations = [migrations.RunPython(forwards, backwards)]
