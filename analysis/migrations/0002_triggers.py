"""On PostgreSQL the database writes the deltas: triggers on the records and the links
tables (``analysis.sql``). And the rollups' state row, with the time zone their days are
counted in (``TIME_ZONE`` now; ``analysis_rebuild`` after a change of it)."""

from django.conf import settings
from django.db import migrations

from analysis import sql


def forwards(apps, schema_editor):
    state = apps.get_model("analysis", "RollupState")
    state.objects.using(schema_editor.connection.alias).get_or_create(
        pk=1, defaults={"time_zone": settings.TIME_ZONE or "UTC"}
    )
    sql.execute(schema_editor, *sql.INSTALL)


def backwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.UNINSTALL)


class Migration(migrations.Migration):
    dependencies = [("analysis", "0001_initial"), ("audit", "0014_view_analysis_permission")]
    operations = [migrations.RunPython(forwards, backwards)]
