"""The links' statement trigger judges a change from the link's own copy of its record's
type (audit 0021), and the records' trigger no longer leaves their changes for it
(``analysis.sql``: ``INSTALL_TYPED_LINKS``). Going back reinstalls the functions of 0004."""

from django.db import migrations

from analysis import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.INSTALL_TYPED_LINKS)


def backwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.INSTALL_STATEMENT_RECORDS)


class Migration(migrations.Migration):
    dependencies = [("analysis", "0012_pending_records"), ("audit", "0021_link_type")]
    operations = [migrations.RunPython(forwards, backwards)]
