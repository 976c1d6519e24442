"""The entity rollup by week (``EntityWeek``), made from the entity days already kept."""

from typing import Any

from django.db import migrations, models


def weeks_from_days(apps: Any, schema_editor: Any) -> None:
    from analysis import rollups
    from analysis.models import EntityWeek

    rollups.weeks_from_days(weeks=(EntityWeek,))


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0007_users_days_count_events"),
    ]

    operations = [
        migrations.CreateModel(
            name="EntityWeek",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("week", models.DateField(help_text="Its Monday.")),
                ("content_type_id", models.IntegerField()),
                ("object_id", models.CharField(max_length=64)),
                ("changed", models.BooleanField()),
                ("events", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("week", "content_type_id", "object_id", "changed"),
                        name="analysis_entw_key",
                    )
                ],
            },
        ),
        migrations.RunPython(weeks_from_days, migrations.RunPython.noop),
    ]
