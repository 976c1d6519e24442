"""A tracked save's one record and its links are counted by row triggers, whose plans
PostgreSQL keeps, instead of the statement triggers, which read a transition table and
are planned again at every call (``analysis.sql``: ``INSTALL_ROWS``). Needs the
records function that says when it stores one record (audit 0018)."""

from django.db import migrations

from analysis import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.INSTALL_ROWS)


def backwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.UNINSTALL_ROWS)


class Migration(migrations.Migration):
    dependencies = [("analysis", "0002_triggers"), ("audit", "0018_single_record")]
    operations = [migrations.RunPython(forwards, backwards)]
