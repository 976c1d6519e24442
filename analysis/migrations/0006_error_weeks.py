"""The error rollup by week (``ErrorWeek``), made from the error days already kept."""

from typing import Any

from django.db import migrations, models

import analysis.fields


def weeks_from_days(apps: Any, schema_editor: Any) -> None:
    from analysis import rollups
    from analysis.models import ErrorWeek

    rollups.weeks_from_days(weeks=(ErrorWeek,))


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0005_error_days_count_in_their_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ErrorWeek",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("week", models.DateField(help_text="Its Monday.")),
                ("fingerprint", models.CharField(max_length=40)),
                ("events", models.BigIntegerField()),
                ("mon", models.BigIntegerField(default=0)),
                ("tue", models.BigIntegerField(default=0)),
                ("wed", models.BigIntegerField(default=0)),
                ("thu", models.BigIntegerField(default=0)),
                ("fri", models.BigIntegerField(default=0)),
                ("sat", models.BigIntegerField(default=0)),
                ("sun", models.BigIntegerField(default=0)),
                ("users", analysis.fields.UserSetField()),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["week", "fingerprint"],
                        include=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
                        name="analysis_ew_week_days",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("fingerprint", "week"), name="analysis_ew_key")
                ],
            },
        ),
        migrations.RunPython(weeks_from_days, migrations.RunPython.noop),
    ]
