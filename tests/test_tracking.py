"""Change tracking: registered models record their own creates, edits and deletes."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import tracking
from audit.models import AuditRecord
from audit.tracking import MASK
from catalog.models import Connection, Project, Query

pytestmark = pytest.mark.django_db


def _records(type_name: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(type__name=type_name).order_by("id"))


def _link_roles(record: AuditRecord) -> dict[str, str]:
    return {link.role: link.object_id for link in record.links.all()}


@pytest.fixture
def project(user) -> Project:
    return Project.objects.create(name="Sales", owner=user)


def test_create_records_created_with_initial_values(user, project) -> None:
    (record,) = _records("project-created")
    assert record.changes["name"] == {"new": "Sales"}
    assert _link_roles(record) == {"": str(project.pk)}
    assert record.links.get().name == "Sales"
    assert record.message == "Created project 'Sales'"


def test_edit_records_only_the_changed_fields(user, project) -> None:
    query = Query.objects.create(name="Q", owner=user, project=project, text="select 1")
    query.text = "select 2"
    query.description = "counts"
    query.save()
    (record,) = _records("query-edited")
    assert record.changes == {
        "text": {"old": "select 1", "new": "select 2"},
        "description": {"old": "", "new": "counts"},
    }
    assert _link_roles(record) == {"": str(query.pk), "project": str(project.pk)}


def test_saving_without_changes_records_nothing(project) -> None:
    project.save()
    Project.objects.get(pk=project.pk).save()
    assert _records("project-edited") == []


def test_a_loaded_instance_diffs_without_an_extra_select(project) -> None:
    loaded = Project.objects.get(pk=project.pk)
    loaded.name = "Sales 2026"
    with CaptureQueriesContext(connection) as queries:
        loaded.save()
    selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in selects if "catalog_project" in sql]
    assert _records("project-edited")[0].changes == {"name": {"old": "Sales", "new": "Sales 2026"}}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL")
def test_a_tracked_edit_is_one_statement_that_carries_its_record(project) -> None:
    loaded = Project.objects.get(pk=project.pk)
    loaded.description = "one round trip"
    with CaptureQueriesContext(connection) as queries:
        loaded.save()
    (statement,) = [q["sql"] for q in queries]
    assert statement.startswith('WITH audit_saved AS (UPDATE "catalog_project"')
    assert "audit_insert_record(" in statement
    assert _records("project-edited")[0].changes == {
        "description": {"old": "", "new": "one round trip"}
    }


def test_saving_a_row_deleted_meanwhile_records_a_create_not_an_edit(project) -> None:
    stale = Project.objects.get(pk=project.pk)
    with tracking.disabled():
        Project.objects.filter(pk=project.pk).delete()
    stale.name = "Back again"
    stale.save()  # the UPDATE matches nothing, so Django inserts the row
    assert _records("project-edited") == []
    assert [r.changes["name"] for r in _records("project-created")] == [
        {"new": "Sales"},
        {"new": "Back again"},
    ]


def test_server_records_get_time_ordered_uuids(project) -> None:
    (created,) = _records("project-created")
    project.name = "Later"
    project.save()
    (edited,) = _records("project-edited")
    assert created.uuid.version == edited.uuid.version == 7
    assert created.uuid.bytes[:6] <= edited.uuid.bytes[:6]  # the millisecond comes first


def test_update_fields_limit_what_is_compared(project) -> None:
    project.name = "renamed"
    project.description = "not saved"
    project.save(update_fields=["name"])
    assert _records("project-edited")[0].changes == {"name": {"old": "Sales", "new": "renamed"}}


def test_field_with_a_type_of_its_own(user, project) -> None:
    query = Query.objects.create(name="Q", owner=user, project=project)
    query.transformations = [{"op": "filter", "column": "region"}]
    query.name = "Q2"
    query.save()
    (own,) = _records("query-transformations-edited")
    assert own.changes == {
        "transformations": {"old": [], "new": [{"op": "filter", "column": "region"}]}
    }
    assert _records("query-edited")[0].changes == {"name": {"old": "Q", "new": "Q2"}}


def test_in_place_change_of_a_json_field_is_seen(user, project) -> None:
    query = Query.objects.create(name="Q", owner=user, project=project)
    query.transformations.append({"op": "sort"})
    query.save()
    assert _records("query-transformations-edited")[0].changes["transformations"]["new"] == [
        {"op": "sort"}
    ]


def test_masked_fields_never_reach_the_record(user) -> None:
    conn = Connection.objects.create(
        name="DWH", owner=user, data_source="postgres", password="s3cret-one"
    )
    conn.password = "s3cret-two"
    conn.save()
    Connection.objects.filter(pk=conn.pk).update(password="s3cret-three")
    stored = list(AuditRecord.objects.values_list("changes", "params", "message"))
    assert "s3cret" not in str(stored)
    edits = _records("connection-edited")
    assert [r.changes["password"] for r in edits] == [{"old": MASK, "new": MASK}] * 2
    assert _records("connection-created")[0].changes["password"] == {"new": MASK}


def test_delete_records_deleted(project) -> None:
    pk = project.pk
    project.delete()
    (record,) = _records("project-deleted")
    assert _link_roles(record) == {"": str(pk)}
    assert record.links.get().name == "Sales"


def test_a_rolled_back_change_leaves_no_record(project) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        project.name = "never"
        project.save()
        raise RuntimeError
    assert _records("project-edited") == []


@pytest.mark.django_db(transaction=True)  # the save must commit (or fail) for real
def test_a_record_the_database_refuses_rolls_the_change_back(project, monkeypatch) -> None:
    from django.db import IntegrityError

    from audit import uuids

    taken = AuditRecord.objects.get(type__name="project-created").uuid
    monkeypatch.setattr(uuids, "uuid7", lambda: taken)  # the record's key is not unique
    project.name = "unrecorded"
    with pytest.raises(IntegrityError):
        project.save()
    monkeypatch.undo()
    assert Project.objects.get(pk=project.pk).name == "Sales"
    assert not AuditRecord.objects.filter(type__name="project-edited").exists()


def test_bulk_create_is_recorded(user) -> None:
    Project.objects.bulk_create([Project(name=f"P{n}", owner=user) for n in range(3)])
    assert sorted(r.links.get().name for r in _records("project-created")) == ["P0", "P1", "P2"]


def test_queryset_update_is_recorded_per_row_in_constant_queries(user) -> None:
    for n in range(8):
        Project.objects.create(name=f"P{n}", owner=user)
    with CaptureQueriesContext(connection) as two:
        assert Project.objects.filter(name__in=["P0", "P1"]).update(description="bulk") == 2
    with CaptureQueriesContext(connection) as six:
        assert Project.objects.filter(name__gte="P2").update(description="bulk") == 6
    edits = _records("project-edited")
    assert sorted(r.links.get().name for r in edits) == [f"P{n}" for n in range(8)]
    assert all(r.changes == {"description": {"old": "", "new": "bulk"}} for r in edits)
    assert len(two) == len(six)  # not one query per row


def test_queryset_update_of_untracked_fields_records_nothing(project) -> None:
    from django.utils import timezone

    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    assert _records("project-edited") == []


def test_queryset_delete_is_recorded_in_one_batch(user) -> None:
    for n in range(4):
        Project.objects.create(name=f"P{n}", owner=user)
    Project.objects.filter(name__in=["P1", "P2", "P3"]).delete()
    deleted = _records("project-deleted")
    assert sorted(r.links.get().name for r in deleted) == ["P1", "P2", "P3"]
    assert len({r.created_at for r in deleted}) == 1  # stored together


def test_related_manager_bulk_update_is_recorded(user, project) -> None:
    Query.objects.create(name="Q", owner=user, project=project)
    project.queries.update(text="select 42")  # a related manager, built per access
    assert _records("query-edited")[0].changes == {"text": {"old": "", "new": "select 42"}}


def test_tracking_disabled_records_nothing(user) -> None:
    with tracking.disabled():
        project = Project.objects.create(name="quiet", owner=user)
        project.name = "still quiet"
        project.save()
        project.delete()
    assert AuditRecord.objects.count() == 0


def test_records_join_the_acting_user(user) -> None:
    from audit.context import AuditContext, bind

    with bind(AuditContext(user=user)):
        Project.objects.create(name="mine", owner=user)
    record = _records("project-created")[0]
    assert record.user_id == user.pk and record.session.user_id == user.pk


def test_an_edit_in_the_admin_is_recorded_as_the_admins(client, staff, user, project) -> None:
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    url = f"/admin/catalog/project/{project.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields if name not in ("password",)}
    data.update({"name": "Renamed in the admin", "owner": user.pk})
    data = {k: v for k, v in data.items() if v is not None}
    data["shared_with_users"] = []
    data["shared_with_groups"] = []
    response = client.post(url, {k: v for k, v in data.items() if v != []})
    assert response.status_code == 302, response.content[:500]
    (record,) = _records("project-edited")
    assert record.changes["name"] == {"old": "Sales", "new": "Renamed in the admin"}
    assert record.user_id == staff.pk


def test_an_edit_in_a_celery_task_is_recorded(user, project) -> None:
    from celery import shared_task

    @shared_task(name="tests.rename_project")
    def rename(pk: str, name: str) -> None:
        target = Project.objects.get(pk=pk)
        target.name = name
        target.save()

    rename.apply(args=(str(project.pk), "Renamed by a task"))  # the task machinery, in-process
    (record,) = _records("project-edited")
    assert record.changes == {"name": {"old": "Sales", "new": "Renamed by a task"}}
