"""Types that record changes to the switches themselves (the audit of the audit).

They are not among the 47 of the specification, so they are not ``built_in``; they are
seeded here so that the first rule change never has to register a type on the fly.
"""

from django.db import migrations

TYPES = [
    ("event-type-created", "audit", "An event type was created."),
    ("event-type-edited", "audit", "An event type's switches, level or description changed."),
    ("event-type-deleted", "audit", "An event type was deleted."),
]


def seed(apps, schema_editor):
    EventType = apps.get_model("audit", "EventType")
    for name, level, description in TYPES:
        EventType.objects.update_or_create(
            name=name, defaults={"level": level, "description": description}
        )


def unseed(apps, schema_editor):
    apps.get_model("audit", "EventType").objects.filter(
        name__in=[name for name, _, _ in TYPES], records__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_dropped_counts")]
    operations = [migrations.RunPython(seed, unseed)]
