"""A staged change leaves its table only as its record (``sql.STAGED_GUARD``): each row
gets the uuid its first record is stored under, and a trigger refuses the delete of a
row whose record is not stored. Rows staged before get a uuid of their own."""

import uuid

from django.db import migrations, models

from audit import sql


def fill(apps, schema_editor):
    staged = apps.get_model("audit", "StagedChange")
    for row in staged.objects.filter(uuid__isnull=True).only("id"):
        staged.objects.filter(pk=row.pk).update(uuid=uuid.uuid4())


def guard(apps, schema_editor):
    sql.execute(schema_editor, sql.STAGED_GUARD, sql.STAGED_GUARD_TRIGGER)


def unguard(apps, schema_editor):
    sql.execute(
        schema_editor,
        "DROP TRIGGER IF EXISTS audit_stagedchange_stored ON audit_stagedchange",
        "DROP FUNCTION IF EXISTS audit_staged_stored()",
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0023_staged_changes")]

    operations = [
        migrations.AddField(
            model_name="stagedchange",
            name="uuid",
            field=models.UUIDField(null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="stagedchange",
            name="uuid",
            field=models.UUIDField(
                help_text="The uuid the change's first record is stored under: the row "
                "may be deleted only once that record exists."
            ),
        ),
        migrations.RunPython(guard, unguard),
    ]
