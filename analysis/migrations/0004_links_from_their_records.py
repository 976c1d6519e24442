"""The links' statement trigger judges whether a link is a change from what the records'
statement trigger left for it, instead of joining the records table at every call
(``analysis.sql``: ``INSTALL_STATEMENT_RECORDS``)."""

from django.db import migrations

from analysis import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.INSTALL_STATEMENT_RECORDS)


class Migration(migrations.Migration):
    dependencies = [("analysis", "0003_count_rows")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
