"""PL/pgSQL functions that store records and their links, one per kind of caller.

Their statements are planned once per connection and the plans reused; sent as plain
SQL, a statement is parsed and planned on every call, which costs more than a small
insert itself.

* ``audit_insert_records(records, links)``: a batch of any size (the ingest API,
  ``audit.log``, bulk operations), as two JSON documents that msgspec encodes in C and
  the server parses in C, with ``ON CONFLICT (uuid) DO NOTHING`` for retried events.
  It replaces the VALUES form that small batches used to avoid planning the JSON form.
* ``audit_insert_record(...)``: the one record of a tracked save, whose call rides on
  the model's own UPDATE or INSERT. Plain arguments and plain INSERT ... VALUES: half
  the server time of unpacking a JSON document, which matters on every save. Its uuid
  is fresh, so there is no conflict to handle. The links come as a small JSON array,
  where four parallel arrays cost more to adapt in Python. This replaces migration
  0004's version, which took the links as arrays.

Both definitions are ``audit.sql``'s.
"""

import importlib

from django.db import migrations

from audit import sql

OLD_TRACKED_SIGNATURE = (
    "audit_insert_record(uuid, bigint, varchar, text, jsonb, jsonb, integer, bigint, "
    "timestamptz, varchar, varchar, integer[], varchar[], varchar[], varchar[])"
)
NEW_TRACKED_SIGNATURE = sql.signature("audit_insert_record", sql.INSERT_RECORD_ARGS)


def forwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        sql.INSERT_RECORDS,
        f"DROP FUNCTION IF EXISTS {OLD_TRACKED_SIGNATURE}",
        sql.INSERT_RECORD,
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS audit_insert_records")
            cursor.execute(f"DROP FUNCTION IF EXISTS {NEW_TRACKED_SIGNATURE}")
            previous = importlib.import_module("audit.migrations.0004_insert_record_function")
            cursor.execute(previous.FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_rule_change_types")]
    operations = [migrations.RunPython(forwards, backwards)]
