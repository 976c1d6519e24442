"""The suite as the application's PostgreSQL role, as production runs (``audit.db_roles``).

With ``AUDIT_TEST_OWNER_URL`` set (``.ci/run`` sets it), the test database is created
and migrated by the owner role of that URL, the application role of ``DATABASE_URL`` is
granted its privileges (``manage.py audit_roles --grant``), and every test then runs as
that application role: one that owns nothing and cannot get past the guard.

Two things a test run needs that the application role must not have are given here,
in the test database only:

- emptying the tables after a transactional test (Django's flush truncates, which the
  application role may not): a function that runs as the owner, ``audit_test_flush``;
- a superuser's hand, for the tests that tamper with the trail as a database superuser
  would: ``superuser_cursor`` opens a connection of its own (``AUDIT_TEST_SUPERUSER_URL``),
  which sees only committed rows, so such tests are transactional.

Without ``AUDIT_TEST_OWNER_URL`` (a developer's machine, where ``DATABASE_URL`` names a
superuser) nothing changes: the connection itself is the superuser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
OWNER_URL = os.environ.get("AUDIT_TEST_OWNER_URL", "") if ON_POSTGRES else ""
SUPERUSER_URL = os.environ.get("AUDIT_TEST_SUPERUSER_URL", "")

FLUSH = """
CREATE OR REPLACE FUNCTION audit_test_flush(p_tables text[], p_restart boolean)
RETURNS void AS $$
BEGIN
    EXECUTE 'TRUNCATE ' || (SELECT string_agg(quote_ident(t), ', ') FROM unnest(p_tables) t)
        || CASE WHEN p_restart THEN ' RESTART IDENTITY' ELSE '' END || ' CASCADE';
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp;
"""


def _credentials(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.username or "", parts.password or ""


def _act_as(user: str, password: str) -> None:
    connection.close()
    connection.settings_dict["USER"] = user
    connection.settings_dict["PASSWORD"] = password


def _flush_as_owner(self: Any, style: Any, tables: Any, **options: Any) -> list[str]:
    """Django's flush, through the owner's function: one statement, as Django's is."""
    if not tables:
        return []
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in tables)
    restart = "true" if options.get("reset_sequences") else "false"
    return [f"SELECT audit_test_flush(ARRAY[{names}]::text[], {restart})"]


if OWNER_URL:

    @pytest.fixture(scope="session")
    def django_db_setup(
        request: pytest.FixtureRequest,
        django_test_environment: None,
        django_db_blocker: Any,
    ) -> Iterator[None]:
        from django.db.backends.postgresql.operations import DatabaseOperations
        from django.test.utils import setup_databases, teardown_databases

        from audit import db_roles

        app = connection.settings_dict["USER"], connection.settings_dict["PASSWORD"]
        owner = _credentials(OWNER_URL)
        with django_db_blocker.unblock():
            _act_as(*owner)
            config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
            db_roles.grant(app[0])
            with connection.cursor() as cursor:
                cursor.execute(FLUSH)
                cursor.execute(
                    "GRANT EXECUTE ON FUNCTION audit_test_flush(text[], boolean) TO "
                    + connection.ops.quote_name(app[0])
                )
            _act_as(*app)
        patch = pytest.MonkeyPatch()
        patch.setattr(DatabaseOperations, "sql_flush", _flush_as_owner)
        yield
        patch.undo()
        with django_db_blocker.unblock():
            _act_as(*owner)
            try:
                teardown_databases(config, verbosity=0)
            except Exception as exc:
                request.node.warn(pytest.PytestWarning(f"test database kept: {exc!r}"))


@contextmanager
def as_owner() -> Iterator[None]:
    """The test's connection as the tables' owner, for what only the owner may do (a
    migration back and forth); afterwards the application role again, its privileges
    granted anew (a table made again has none). Nothing changes without an owner."""
    if not OWNER_URL:
        yield
        return
    from audit import db_roles

    app = connection.settings_dict["USER"], connection.settings_dict["PASSWORD"]
    _act_as(*_credentials(OWNER_URL))
    try:
        yield
    finally:
        db_roles.grant(app[0])
        _act_as(*app)


def is_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cursor.fetchone()[0])


@contextmanager
def superuser_cursor() -> Iterator[Any]:
    """A cursor of a database superuser on the test database, every trigger bypassed
    (``session_replication_role = replica``): what an attacker who owns the server can
    do. The test's own connection when it is a superuser's; else a connection of its
    own, committing each statement (so it sees, and changes, only committed rows)."""
    if is_superuser():
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            try:
                yield cursor
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
        return
    if not SUPERUSER_URL:
        pytest.skip("needs a superuser: set AUDIT_TEST_SUPERUSER_URL")
    import psycopg

    user, password = _credentials(SUPERUSER_URL)
    db = connection.settings_dict
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        dbname=db["NAME"],
        user=user,
        password=password or None,
        autocommit=True,
    ) as own:
        own.execute("SET session_replication_role = replica")
        with own.cursor() as cursor:
            yield cursor
