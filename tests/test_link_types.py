"""Each link keeps its record's type and user (the filtered panels' indexes): every way
of storing writes them, the migrations that added them give the links already stored
their record's type and user, and verification catches a copy that no longer matches."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F, Q

import audit
from audit.models import EntityLink
from catalog.models import Project
from tests.pg_roles import as_owner

BEFORE = ("audit", "0020_seal_form_binary")


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def _mismatched() -> int:
    return EntityLink.objects.exclude(type_id=F("record__type_id")).count()


def _users_mismatched() -> int:
    return EntityLink.objects.filter(
        Q(user_id__isnull=True, record__user_id__isnull=False)
        | Q(user_id__isnull=False, record__user_id__isnull=True)
        | (Q(user_id__isnull=False) & ~Q(user_id=F("record__user_id")))
    ).count()


@pytest.mark.django_db
def test_every_way_of_storing_writes_the_records_type_on_its_links(user, group) -> None:
    audit.log("error", "a batch of one", entities=[group, user], user=user)
    with audit.bind(audit.AuditContext(user=user)):
        project = Project.objects.create(name="P", owner=user)  # a tracked save
        project.description = "edited"
        project.save()
        Project.objects.bulk_create([Project(name="B", owner=user)])  # a bulk one
    audit.log("log", "by the system", entities=[group])  # no user: its link keeps none
    assert EntityLink.objects.count() >= 6
    assert _mismatched() == 0 and _users_mismatched() == 0
    assert EntityLink.objects.filter(user=user).count() >= 5
    assert EntityLink.objects.filter(user__isnull=True).count() == 1
    assert set(EntityLink.objects.values_list("type__name", flat=True)) >= {
        "error",
        "project-created",
        "project-edited",
    }


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_stored_links_their_records_type(user, group) -> None:
    audit.log("error", "stored before", entities=[group, user], user=user)
    audit.log("log", "stored before too", entities=[group], user=user)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("audit")[0]
    with as_owner():  # (on PostgreSQL the application role may not change tables)
        try:
            _migrate(BEFORE)
            if connection.vendor == "postgresql":  # stored by the functions of then
                audit.log("comment-posted", "stored by the old function", entities=[group])
            _migrate(latest)
        finally:
            _migrate(latest)
    assert EntityLink.objects.count() == 3 + (connection.vendor == "postgresql")
    assert _mismatched() == 0 and _users_mismatched() == 0
    audit.log("log", "stored after", entities=[group], user=user)
    assert _mismatched() == 0 and _users_mismatched() == 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_stored_links_their_records_user(user, group) -> None:
    audit.log("error", "stored before", entities=[group, user], user=user)
    audit.log("log", "by the system before", entities=[group])
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("audit")[0]
    with as_owner():
        try:
            _migrate(("audit", "0021_link_type"))
            if connection.vendor == "postgresql":  # stored by the functions of 0021
                with audit.bind(audit.AuditContext(user=user)):
                    audit.log("comment-posted", "stored by the old function", entities=[group])
            _migrate(latest)
        finally:
            _migrate(latest)
    assert _users_mismatched() == 0
    assert EntityLink.objects.filter(user=user).count() == 2 + (connection.vendor == "postgresql")
    assert EntityLink.objects.filter(user__isnull=True).count() == 1
    audit.log("log", "stored after", entities=[group], user=user)
    assert _users_mismatched() == 0
