"""A tracked save's record leaves its id in ``analysis_pending`` for the fold, instead of
three delta rows written by row triggers in the save's transaction (``analysis.sql``:
``INSTALL_PENDING``)."""

from django.db import migrations

from analysis import sql


def forwards(apps, schema_editor):
    sql.execute(schema_editor, *sql.INSTALL_PENDING)


def backwards(apps, schema_editor):
    # Ids still pending become deltas first, so that nothing stored goes uncounted.
    if schema_editor.connection.vendor == "postgresql":
        zone = (
            apps.get_model("analysis", "RollupState")
            .objects.values_list("time_zone", flat=True)
            .first()
        )
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql.PENDING_TO_DELTAS_0012, {"zone": zone or "UTC"})
    sql.execute(schema_editor, *sql.UNINSTALL_PENDING)


class Migration(migrations.Migration):
    dependencies = [("analysis", "0011_session_lengths_in_an_index")]
    operations = [migrations.RunPython(forwards, backwards)]
