"""Mark the types only the server records, and seed the session types.

Which types are server-only is decided by ``audit.server_types`` (changes of every
registered entity kind, sharing, the switches' records, sessions); this migration
applies it to the types that exist, so that clients cannot post them from now on.
"""

from django.db import migrations

SESSION_TYPES = [
    ("user-signed-in", "A user signed in."),
    ("user-signed-out", "A user signed out."),
    ("user-sign-in-failed", "A sign-in failed: the username tried, the address, the agent."),
    ("token-created", "An API token was created."),
    ("token-deleted", "An API token was deleted."),
]


def seed(apps, schema_editor):
    from audit import registry, server_types

    EventType = apps.get_model("audit", "EventType")
    for name, description in SESSION_TYPES:
        EventType.objects.update_or_create(
            name=name,
            defaults={"level": "audit", "description": description, "server_only": True},
        )
    kinds = frozenset(registry.kinds())
    names = [
        name
        for name in EventType.objects.values_list("name", flat=True)
        if server_types.is_server_type(name, kinds)
    ]
    EventType.objects.filter(name__in=names).update(server_only=True)


def backwards(apps, schema_editor):
    EventType = apps.get_model("audit", "EventType")
    EventType.objects.filter(
        name__in=[name for name, _ in SESSION_TYPES], records__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_hardening")]
    operations = [migrations.RunPython(seed, backwards)]
