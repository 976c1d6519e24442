"""``UsersDay`` counts its events too, so that answers of whole days read one row per day
and type instead of 24 of ``TypeHour``; the counts are made from ``TypeHour``."""

from collections import defaultdict
from typing import Any

from django.db import migrations, models

# Each hour's events go to the day of the rollups' zone it lies in (an hour of a zone with
# whole-hour offsets lies within one day); a day and type without users gets an empty
# bitmap.
FROM_HOURS = """
INSERT INTO analysis_usersday (day, type_id, level, events, users)
SELECT (h.hour AT TIME ZONE s.time_zone)::date, h.type_id, h.level, sum(h.events),
    repeat('0', s.user_bits)::varbit
FROM analysis_typehour h, analysis_rollupstate s
GROUP BY 1, 2, 3, s.user_bits
ON CONFLICT (day, type_id, level) DO UPDATE SET events = EXCLUDED.events
"""
# The same from the records: for a zone whose offsets are not whole hours.
FROM_RECORDS = """
INSERT INTO analysis_usersday (day, type_id, level, events, users)
SELECT (r.created_at AT TIME ZONE s.time_zone)::date, r.type_id, r.level, count(*),
    repeat('0', s.user_bits)::varbit
FROM audit_auditrecord r, analysis_rollupstate s
GROUP BY 1, 2, 3, s.user_bits
ON CONFLICT (day, type_id, level) DO UPDATE SET events = EXCLUDED.events
"""
SPLIT_HOURS = """
SELECT EXISTS (SELECT 1 FROM analysis_typehour h, analysis_rollupstate s
               WHERE extract(minute FROM h.hour AT TIME ZONE s.time_zone) <> 0)
"""


def count_events(apps: Any, schema_editor: Any) -> None:
    from analysis import rollups

    connection = schema_editor.connection
    hours = apps.get_model("analysis", "TypeHour").objects
    if not hours.exists():
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(SPLIT_HOURS)
            split = cursor.fetchone()[0]  # a zone with half-hour offsets: count the records
            cursor.execute(FROM_RECORDS if split else FROM_HOURS)
        return
    zone = rollups.zone()
    sums: dict[tuple[Any, ...], int] = defaultdict(int)
    for hour, type_id, level, events in hours.values_list("hour", "type_id", "level", "events"):
        local = hour.astimezone(zone)
        if local.minute:  # a zone with half-hour offsets: count the records
            sums.clear()
            records = apps.get_model("audit", "AuditRecord").objects
            for at, record_type, record_level in records.values_list(
                "created_at", "type_id", "level"
            ).iterator():
                sums[(at.astimezone(zone).date(), record_type, record_level)] += 1
            break
        sums[(local.date(), type_id, level)] += events
    days = apps.get_model("analysis", "UsersDay").objects
    for (day, type_id, level), events in sums.items():
        if not days.filter(day=day, type_id=type_id, level=level).update(events=events):
            days.create(day=day, type_id=type_id, level=level, events=events, users=b"\0")


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0006_error_weeks"),
        ("audit", "0017_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="usersday",
            name="events",
            field=models.BigIntegerField(default=0, help_text="Records without a user included."),
        ),
        migrations.RunPython(count_events, migrations.RunPython.noop),
    ]
