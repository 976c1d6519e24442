"""Two PostgreSQL roles: the owner, who runs migrations, and the application's role, who
cannot get past the guard.

The guard (``audit.sql``) refuses UPDATE and DELETE of records to every role but lets
the tables' owner delete inside the purge; a superuser or the owner can also disable
triggers, truncate or ``SET session_replication_role = replica``. So the application
connects as a role that owns nothing and holds only what it needs:

- the trail (records, links, seals): SELECT and INSERT;
- sessions: SELECT, INSERT, UPDATE (a trigger lets a session only end, be seen, or
  lose a deleted user);
- ``django_migrations`` and the purge floor: SELECT;
- staged changes (``audit.staged``): SELECT, INSERT, DELETE (a drain deletes what it
  stored) and UPDATE of ``error`` only: a change waiting for its record cannot be
  rewritten;
- every other table (users, the outbox, the rollups, ...): SELECT, INSERT, UPDATE,
  DELETE, never TRUNCATE;
- the purge function, which runs as the owner and checks its own arguments.

``manage.py audit_roles --grant ROLE`` applies this, as the owner, after every
``migrate`` (new tables need their grants). ``connected_role`` tells the system check
(``audit.W003``) and the integrity page whether this process could bypass the guard.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from . import sql

TRAIL_TABLES = (*sql.APPEND_ONLY_TABLES, "audit_seal")
SESSION_TABLE = "audit_usersession"
READ_ONLY_TABLES = ("django_migrations", "audit_purge_floor")
STAGED_TABLE = "audit_stagedchange"


class RoleError(ValueError):
    """The grants cannot be applied (a missing role, a role that may not grant)."""


@dataclass(frozen=True)
class Role:
    name: str
    superuser: bool
    owner: bool  # owns the records' table

    @property
    def can_bypass_guard(self) -> bool:
        return self.superuser or self.owner


def connected_role() -> Role | None:
    """The role this process's connection acts as; None when not on PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
            "pg_has_role(current_user, (SELECT tableowner FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'audit_auditrecord'), "
            "'USAGE')"
        )
        name, superuser, owner = cursor.fetchone()
    return Role(name=name, superuser=bool(superuser), owner=bool(owner))


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def statements(role: str, *, floor_days: int | None = None) -> list[str]:
    """What ``grant`` runs, in order, for the tables that exist now."""
    who = _quote(role)
    database = _quote(connection.settings_dict["NAME"])
    tables = sorted(connection.introspection.table_names(include_views=True))
    purge = sql.signature("audit_purge_through", sql.PURGE_ARGS)
    found = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {who}",
        f"REVOKE CREATE ON SCHEMA public FROM {who}",
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
    ]
    for table in tables:
        if table in TRAIL_TABLES:
            privileges = "SELECT, INSERT"
        elif table == SESSION_TABLE:
            privileges = "SELECT, INSERT, UPDATE"
        elif table in READ_ONLY_TABLES:
            privileges = "SELECT"
        elif table == STAGED_TABLE:
            privileges = "SELECT, INSERT, DELETE, UPDATE (error)"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        found.append(f"GRANT {privileges} ON {_quote(table)} TO {who}")
    found += [
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
        f"REVOKE EXECUTE ON FUNCTION {purge} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {purge} TO {who}",
    ]
    if floor_days is not None:
        found.append(f"UPDATE audit_purge_floor SET days = {int(floor_days)} WHERE id = 1")
    return found


def grant(role: str, *, floor_days: int | None = None) -> list[str]:
    """Give ``role`` what the application needs and nothing that passes the guard. Run as
    the tables' owner (or a superuser); answers the statements run."""
    if connection.vendor != "postgresql":
        raise RoleError("roles exist on PostgreSQL only: there is nothing to grant here")
    if floor_days is not None and floor_days < 1:
        raise RoleError("the purge floor is at least 1 day")
    me = connected_role()
    assert me is not None
    if not me.can_bypass_guard:
        raise RoleError(
            f"connected as {me.name!r}, which does not own the audit tables: run this as "
            "their owner (the role that ran migrate)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, pg_has_role(rolname, (SELECT tableowner FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'audit_auditrecord'), "
            "'MEMBER') FROM pg_roles WHERE rolname = %s",
            [role],
        )
        row = cursor.fetchone()
    if row is None:
        raise RoleError(
            f"no role {role!r}: create it first (CREATE ROLE {role} LOGIN PASSWORD '...')"
        )
    if row[0]:
        raise RoleError(f"{role!r} is a superuser: no grant can keep it from the guard")
    if row[1]:
        raise RoleError(
            f"{role!r} owns the audit tables (or is a member of their owner): the "
            "application needs a role of its own"
        )
    done = statements(role, floor_days=floor_days)
    with connection.cursor() as cursor:
        for statement in done:
            cursor.execute(statement)
    return done
