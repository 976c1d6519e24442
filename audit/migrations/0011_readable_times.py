"""Repair stored times that Python cannot read (see ``audit.time_loader``).

An older version accepted any client ``timestamp``: ``0001-01-01T00:00:00+14:00`` is
stored by PostgreSQL as year 0 in UTC, which no Python ``datetime`` holds, and every
page that selected the record failed. Such a client time is moved into the record's
``params`` (``unreadable_client_timestamp``, PostgreSQL's own text of it, so nothing is
lost) and the column is cleared. Records are append-only, so the guard trigger is set
aside for this one statement, inside the migration's transaction.

Other databases never stored such a time: the insert itself failed there.
"""

from django.db import migrations

# Python's range, kept a day inside so that any time zone can still convert it.
REPAIR = """
UPDATE audit_auditrecord
SET params = params || jsonb_build_object('unreadable_client_timestamp', client_time::text),
    client_time = NULL
WHERE client_time < '0001-01-02 00:00:00+00' OR client_time >= '9999-12-31 00:00:00+00'
"""


def repair(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE audit_auditrecord DISABLE TRIGGER audit_auditrecord_append_only"
        )
        cursor.execute(REPAIR)
        repaired = cursor.rowcount
        cursor.execute("ALTER TABLE audit_auditrecord ENABLE TRIGGER audit_auditrecord_append_only")
    return repaired


class Migration(migrations.Migration):
    dependencies = [("audit", "0010_server_only_types")]
    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
