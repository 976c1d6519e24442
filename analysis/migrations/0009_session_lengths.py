"""Each session-day keeps its length as an integer (the median sorts it at half the
cost of an interval), and the rows of a few users are found by an index."""

from datetime import timedelta
from typing import Any

from django.db import migrations, models

LENGTHS = (
    "UPDATE analysis_sessionday "
    "SET length_us = (extract(epoch FROM last_at - first_at) * 1000000)::bigint"
)


def lengths(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(LENGTHS)
        return
    days = apps.get_model("analysis", "SessionDay").objects
    rows = list(days.only("first_at", "last_at"))
    for row in rows:
        row.length_us = (row.last_at - row.first_at) // timedelta(microseconds=1)
    days.bulk_update(rows, ["length_us"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0008_entity_weeks"),
    ]

    operations = [
        migrations.AddField(
            model_name="sessionday",
            name="length_us",
            field=models.BigIntegerField(default=0, help_text="last_at - first_at, microseconds."),
        ),
        migrations.AddIndex(
            model_name="sessionday",
            index=models.Index(
                fields=["user_id", "day"], include=("session_id",), name="analysis_sd_user"
            ),
        ),
        migrations.RunPython(lengths, migrations.RunPython.noop),
    ]
