"""The application's PostgreSQL role cannot get past the guard: every way the owner or a
superuser could (UPDATE, DELETE, TRUNCATE, disabling or dropping a trigger, replica
mode, ``SET LOCAL audit.purge``) is refused to it, while everything the application
does still works, the purge included (through the owner's function, which checks its
own arguments). Sessions only end, are seen, or lose a deleted user.

The role is the suite's own when ``.ci/run`` runs it as the application role; on a
developer's superuser connection each test makes one, grants it as ``manage.py
audit_roles --grant`` does, and acts as it with ``SET LOCAL ROLE``, all undone when the
test's transaction rolls back.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

import audit
from audit import checks, clock, db_roles, purge, seals, sessions
from audit.models import AuditRecord, SessionKind, UserSession
from tests.pg_roles import superuser_cursor

pytestmark = pytest.mark.postgres


def _act_as_app_role() -> str:
    """The application's role, granted as the owner grants it, for this test."""
    me = db_roles.connected_role()
    assert me is not None
    if not me.can_bypass_guard:
        return me.name  # the suite already runs as the application role
    name = f"audit_app_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} NOLOGIN")
    db_roles.grant(name)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {name}")
    return name


@pytest.fixture
def app_role(db) -> str:
    return _act_as_app_role()


def _refused(statement: str) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as c:
        for part in statement.split(";\n"):
            c.execute(part)
    return str(caught.value)


WAYS_PAST_THE_GUARD = [
    pytest.param("UPDATE audit_auditrecord SET message = 'forged' WHERE id = {r}", id="update"),
    pytest.param("DELETE FROM audit_auditrecord WHERE id = {r}", id="delete"),
    pytest.param("DELETE FROM audit_entitylink WHERE record_id = {r}", id="delete-link"),
    pytest.param("TRUNCATE audit_entitylink", id="truncate-links"),
    pytest.param("TRUNCATE audit_auditrecord CASCADE", id="truncate"),
    pytest.param("ALTER TABLE audit_auditrecord DISABLE TRIGGER ALL", id="disable-triggers"),
    pytest.param(
        "ALTER TABLE audit_entitylink DISABLE TRIGGER audit_entitylink_append_only",
        id="disable-guard",
    ),
    pytest.param(
        "DROP TRIGGER audit_auditrecord_append_only ON audit_auditrecord", id="drop-guard"
    ),
    pytest.param("SET session_replication_role = replica", id="replica-mode"),
    pytest.param(
        "SET LOCAL audit.purge = 'on';\nDELETE FROM audit_auditrecord WHERE id = {r}",
        id="purge-setting",
    ),
    pytest.param(
        "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS "
        "'BEGIN RETURN OLD; END' LANGUAGE plpgsql",
        id="replace-guard",
    ),
    pytest.param("UPDATE audit_seal SET digest = repeat('0', 64)", id="update-seal"),
    pytest.param("DELETE FROM audit_seal", id="delete-seal"),
    pytest.param("DELETE FROM audit_usersession WHERE id = {s}", id="delete-session"),
    pytest.param("UPDATE audit_usersession SET ip = '10.9.9.9' WHERE id = {s}", id="move-session"),
    pytest.param("UPDATE audit_purge_floor SET days = 1", id="lower-purge-floor"),
    pytest.param("SELECT audit_purge_through({r}, now())", id="purge-young-records"),
    pytest.param("CREATE TABLE audit_shadow (id bigint)", id="create-table"),
]


@pytest.mark.parametrize("statement", WAYS_PAST_THE_GUARD)
def test_the_application_role_is_refused_every_way_past_the_guard(user, statement) -> None:
    record = audit.log("log", "original", {"n": 1}, entities=[user], user=user)
    seals.seal()
    session = AuditRecord.objects.get(pk=record).session_id
    _act_as_app_role()
    message = _refused(statement.format(r=record, s=session))
    assert any(
        reason in message
        for reason in (
            "permission denied",
            "must be owner",
            "append-only",
            "never removed",
            "never purged",
            "whole sealed blocks",
            "only ends",
        )
    ), message
    stored = AuditRecord.objects.get(pk=record)
    assert stored.message == "original" and stored.links.count() == 1
    assert UserSession.objects.filter(pk=session, ip__isnull=True).exists()
    assert seals.verify().ok


def test_the_application_role_does_all_its_work(app_role, user) -> None:
    """Record, link, open and end sessions, seal, verify, fold the rollups, purge."""
    with clock.backdated(timezone.now() - timedelta(days=400)):
        old = audit.log("log", "long ago", entities=[user], user=user)
    seals.seal()
    recent = audit.log("log", "today", entities=[user], user=user)
    browser = sessions.open_session(user, SessionKind.BROWSER)
    sessions.touch(sessions.SessionRef(pk=browser.pk, uuid=browser.uuid, user_id=user.pk))
    assert sessions.close_session(browser.uuid) == 1
    assert seals.seal().records >= 1
    report = seals.verify()
    assert report.ok, report.problems
    seals.record_verification(report)

    from analysis import rollups

    rollups.fold()
    deleted = purge.purge_older_than(timezone.now() - timedelta(days=30))
    assert deleted >= 1
    assert not AuditRecord.objects.filter(pk=old).exists()
    assert AuditRecord.objects.filter(pk=recent).exists()
    assert AuditRecord.objects.filter(type__name="trail-purged").exists()
    assert seals.verify().ok


def test_the_application_role_drains_staged_changes_but_cannot_rewrite_one(
    app_role, user, settings
) -> None:
    """Deferred tracking (``audit.staged``): the role stages, marks a change that cannot
    be stored and drains; what a staged change says it cannot change."""
    from audit import staged
    from audit.models import StagedChange
    from catalog.models import Project

    settings.AUDIT_DEFERRED_TRACKING = 1
    Project.objects.create(name="Sales", owner=user)
    change = StagedChange.objects.get()
    message = _refused(f"UPDATE audit_stagedchange SET events = '[]' WHERE id = {change.pk}")
    assert "permission denied" in message
    StagedChange.objects.filter(pk=change.pk).update(error="")
    assert staged.drain_all().records == 1
    assert AuditRecord.objects.get(type__name="project-created").user_id is None


def test_the_purge_function_checks_its_own_arguments(app_role, user) -> None:
    with clock.backdated(timezone.now() - timedelta(days=400)):
        first = audit.log("log", "one", user=user)
        audit.log("log", "two", user=user)
    seal = seals.seal().seals[0]
    message = _refused(f"SELECT audit_purge_through({first}, now())")
    assert "whole sealed blocks" in message  # not where a seal ends
    young = audit.log("log", "today", user=user)
    latest = seals.seal().seals[-1]
    assert latest.last_record_id >= young
    message = _refused(f"SELECT audit_purge_through({latest.last_record_id}, now())")
    assert "never purged" in message
    assert AuditRecord.objects.filter(pk__lte=seal.last_record_id).count() == 2


@pytest.mark.django_db(transaction=True)  # the floor is the owner's: changed and committed
def test_the_owner_raises_the_purge_floor(user) -> None:
    with clock.backdated(timezone.now() - timedelta(days=400)):
        audit.log("log", "old", user=user)
    seals.seal()
    with superuser_cursor() as cursor:
        cursor.execute("UPDATE audit_purge_floor SET days = 500")
    try:
        with pytest.raises(DatabaseError, match="never purged"):
            purge.purge_older_than(timezone.now() - timedelta(days=30))
    finally:
        with superuser_cursor() as cursor:
            cursor.execute("UPDATE audit_purge_floor SET days = 1")
    assert purge.purge_older_than(timezone.now() - timedelta(days=30)) == 1


@pytest.mark.django_db
def test_grant_is_the_owners_and_only_for_a_role_of_its_own() -> None:
    me = db_roles.connected_role()
    assert me is not None
    if not me.can_bypass_guard:
        with pytest.raises(db_roles.RoleError, match="does not own"):
            db_roles.grant(me.name)
        return
    with pytest.raises(db_roles.RoleError, match="no role"):
        db_roles.grant("no_such_role_here")
    with pytest.raises(db_roles.RoleError, match="superuser"):
        db_roles.grant(me.name if me.superuser else "postgres")
    owner = f"audit_owner_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {owner} NOLOGIN")
        cursor.execute(f"GRANT {me.name} TO {owner}")  # a member of the owner is the owner
    with pytest.raises(db_roles.RoleError, match="owns the audit tables"):
        db_roles.grant(owner)
    with pytest.raises(db_roles.RoleError, match="at least 1 day"):
        db_roles.grant("anyone", floor_days=0)


@pytest.mark.django_db
def test_the_system_check_warns_when_the_application_could_bypass_the_guard() -> None:
    me = db_roles.connected_role()
    assert me is not None
    assert checks.check_role_cannot_bypass_the_guard(None) == []  # no database asked for
    found = checks.check_role_cannot_bypass_the_guard(None, databases=["default"])
    if me.can_bypass_guard:
        assert [w.id for w in found] == ["audit.W003"] and me.name in found[0].msg
        _act_as_app_role()
        assert checks.check_role_cannot_bypass_the_guard(None, databases=["default"]) == []
    else:
        assert found == []


@pytest.mark.django_db
def test_audit_roles_describes_the_role_and_shows_the_grants() -> None:
    out = StringIO()
    call_command("audit_roles", stdout=out)
    me = db_roles.connected_role()
    assert me is not None and f"Connected as {me.name}" in out.getvalue()
    out = StringIO()
    call_command("audit_roles", "--grant", "audit_app", "--show", stdout=out)
    shown = out.getvalue()
    assert 'GRANT SELECT, INSERT ON "audit_auditrecord" TO "audit_app";' in shown
    assert 'GRANT SELECT, INSERT ON "audit_seal" TO "audit_app";' in shown
    assert 'GRANT SELECT, INSERT, UPDATE ON "audit_usersession" TO "audit_app";' in shown
    assert 'GRANT SELECT ON "django_migrations" TO "audit_app";' in shown
    assert "TRUNCATE" not in shown and "TRIGGER" not in shown


@pytest.mark.django_db
def test_a_session_only_ends_is_seen_or_loses_a_deleted_user(user) -> None:
    session = sessions.open_session(user, SessionKind.BROWSER, ip="10.0.0.1")
    sessions.touch(sessions.SessionRef(pk=session.pk, uuid=session.uuid, user_id=user.pk))
    assert sessions.close_session(session.uuid) == 1
    other = User.objects.create_user("mallory")
    for change in (
        {"ended_at": timezone.now() + timedelta(days=1)},  # ended once, for good
        {"user": other},
        {"ip": "10.6.6.6"},
        {"started_at": timezone.now() - timedelta(days=3)},
    ):
        with pytest.raises(DatabaseError, match="only ends"), transaction.atomic():
            UserSession.objects.filter(pk=session.pk).update(**change)
    user.delete()  # Django sets the session's user to NULL: allowed
    assert UserSession.objects.get(pk=session.pk).user_id is None
