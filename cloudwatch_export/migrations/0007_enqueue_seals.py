"""The outbox trigger's second version (``cloudwatch_export.sql.ENQUEUE_V2``): the seals'
records also go to the witness stream. The first version goes back on the way down."""

from django.db import migrations

from cloudwatch_export import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, sql.ENQUEUE_V2)


def backwards(apps, schema_editor):
    sql.execute(schema_editor, sql.ENQUEUE)


class Migration(migrations.Migration):
    dependencies = [("cloudwatch_export", "0006_seal_stream"), ("audit", "0016_integrity")]
    operations = [migrations.RunPython(forwards, backwards)]
