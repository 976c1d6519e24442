"""Integrity with two roles (``audit.sql``, ``manage.py audit_roles``): sessions may only
end, be seen or lose a deleted user; the purge checks its own arguments (whole sealed
blocks, nothing younger than the floor the owner sets) and only the roles granted it
may call it."""

from django.db import migrations

from audit import sql


def forwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        "DROP TRIGGER IF EXISTS audit_usersession_no_delete ON audit_usersession",
        sql.SESSION_GUARD_V2,
        sql.SESSION_GUARD_V2_TRIGGER,
        sql.PURGE_FLOOR,
        sql.PURGE_V2,
        f"REVOKE EXECUTE ON FUNCTION {sql.signature('audit_purge_through', sql.PURGE_ARGS)} "
        "FROM PUBLIC",
    )


def backwards(apps, schema_editor):
    sql.execute(
        schema_editor,
        "DROP TRIGGER IF EXISTS audit_usersession_guard ON audit_usersession",
        "DROP FUNCTION IF EXISTS audit_session_guard()",
        sql.SESSION_GUARD,
        sql.PURGE,
        f"GRANT EXECUTE ON FUNCTION {sql.signature('audit_purge_through', sql.PURGE_ARGS)} "
        "TO PUBLIC",
        "DROP TABLE IF EXISTS audit_purge_floor",
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0016_integrity")]
    operations = [migrations.RunPython(forwards, backwards)]
