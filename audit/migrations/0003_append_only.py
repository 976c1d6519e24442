"""On PostgreSQL, the database itself refuses UPDATE and DELETE of records and links.

Only a transaction that first runs ``SET LOCAL audit.purge = 'on'`` (the retention
purge, ``audit.purge``) may delete. Other databases rely on the application alone.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use the retention purge (manage.py audit_purge) to remove old records.';
END;
$$ LANGUAGE plpgsql;
"""

TRIGGERS = [
    f"""
    CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
    """
    for table in ("audit_auditrecord", "audit_entitylink")
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:  # no params: '%' stays literal
        cursor.execute(FUNCTION)
        for statement in TRIGGERS:
            cursor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in ("audit_auditrecord", "audit_entitylink"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_builtin_event_types")]
    operations = [migrations.RunPython(forwards, backwards)]
