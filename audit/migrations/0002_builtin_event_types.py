"""Seeds the 47 event types of the specification."""

from django.db import migrations


def seed(apps, schema_editor):
    from audit.builtin_types import BUILTIN_TYPES

    EventType = apps.get_model("audit", "EventType")
    for name, level, description in BUILTIN_TYPES:
        EventType.objects.update_or_create(
            name=name,
            defaults={"level": str(level), "description": description, "built_in": True},
        )


def unseed(apps, schema_editor):
    from audit.builtin_types import BUILTIN_NAMES

    EventType = apps.get_model("audit", "EventType")
    EventType.objects.filter(name__in=BUILTIN_NAMES, records__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
