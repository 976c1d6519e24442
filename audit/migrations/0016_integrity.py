"""Integrity on PostgreSQL (``audit.sql``): a guard that only the tables' owner can pass,
in the purge's transaction (the setting ``audit.purge`` alone no longer does); the same
guard on the seals and, for DELETE, on the sessions; the seals' horizon lock taken by
every insert of records; and the purge as a function that runs as the owner. Seeds the
trail's own event types."""

from django.db import migrations

from audit import sql

TRAIL_TYPES = [
    ("trail-sealed", "A block of records was sealed: its digest, for the outside witness."),
    ("trail-purged", "The retention purge removed records (how many, up to which)."),
    ("trail-verified", "The seals were recomputed: intact, or the first change found."),
]


def seed(apps, schema_editor):
    EventType = apps.get_model("audit", "EventType")
    for name, description in TRAIL_TYPES:
        EventType.objects.update_or_create(
            name=name,
            defaults={
                "level": "audit",
                "description": description,
                "server_only": True,
                "built_in": True,
            },
        )


def forwards(apps, schema_editor):
    seed(apps, schema_editor)
    sql.execute(
        schema_editor,
        sql.REFUSE_CHANGE_V2,
        sql.SEAL_TABLE_GUARD,
        sql.SESSION_GUARD,
        sql.SEAL_GUARD,
        sql.SEAL_GUARD_TRIGGER,
        sql.PURGE,
    )


def backwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        "DROP TRIGGER IF EXISTS audit_seal_append_only ON audit_seal",
        "DROP TRIGGER IF EXISTS audit_usersession_no_delete ON audit_usersession",
        "DROP TRIGGER IF EXISTS audit_auditrecord_seal_guard ON audit_auditrecord",
        "DROP FUNCTION IF EXISTS audit_seal_guard()",
        "DROP FUNCTION IF EXISTS audit_purge_through(bigint, timestamptz)",
        sql.REFUSE_CHANGE,
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0015_seals")]
    operations = [migrations.RunPython(forwards, backwards)]
