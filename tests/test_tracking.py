"""Change tracking: registered models record their own creates, edits and deletes."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import audit
from audit import MASK, event_types
from audit.models import AuditRecord
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


@pytest.fixture
def in_the_statement(settings: Any) -> None:
    """The record stored in the save's statement (before ``project`` is made)."""
    settings.AUDIT_DEFERRED_TRACKING = 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL")
def test_a_tracked_edit_is_one_statement_that_carries_its_record(in_the_statement, project) -> None:
    """With the record in the save's statement (a staged change's one statement is in
    ``test_staged_changes``)."""
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
    with audit.disabled():
        Project.objects.filter(pk=project.pk).delete()
    stale.name = "Back again"
    stale.save()  # the UPDATE matches nothing, so Django inserts the row
    assert _records("project-edited") == []
    # In time order: a staged change's record takes its id when it is stored.
    created = sorted(_records("project-created"), key=lambda record: record.created_at)
    assert [r.changes["name"] for r in created] == [
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
def test_a_record_the_database_refuses_rolls_the_change_back(
    in_the_statement, project, monkeypatch
) -> None:
    """With the record in the save's statement (a staged change whose record is refused
    waits with its error: ``test_staged_changes``)."""
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
    event_types.resolve("project-edited")  # the types' table, read once a while, read now
    audit.settle_staged()  # the creations stored: the updates below store only their own
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


def test_a_template_cannot_call_a_tracked_querysets_bulk_operations(project) -> None:
    """Django marks ``QuerySet.delete``, ``update`` and ``bulk_create`` ``alters_data``, so
    a template never calls them; tracking's versions of them keep the mark."""
    from django.template import Context, Template

    from audit.models import EventType

    for queryset in (Project.objects.all(), EventType.objects.all()):
        for name in ("delete", "update", "bulk_create"):
            assert getattr(getattr(queryset, name), "alters_data", False), (queryset, name)
    page = Template("{{ projects.delete }}").render(Context({"projects": Project.objects.all()}))
    assert page == ""
    assert Project.objects.filter(pk=project.pk).exists()
    assert _records("project-deleted") == []


def test_tracking_disabled_records_nothing(user) -> None:
    with audit.disabled():
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


# --- foreign keys are recorded by name ----------------------------------------------------


def _selects_of(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT") and f'"{table}"' in q["sql"]
    ]


def test_a_foreign_key_change_records_the_targets_names(user, project) -> None:
    churn = Project.objects.create(name="Churn", owner=user)
    created = Query.objects.create(name="Q", owner=user, project=project)
    query = Query.objects.get(pk=created.pk)  # loaded without its project
    query.project = churn
    query.save()
    (record,) = _records("query-edited")
    assert record.changes == {
        "project": {
            "old": "Sales",
            "new": "Churn",
            "old_id": str(project.pk),
            "new_id": str(churn.pk),
        }
    }
    assert {link.role: link.name for link in record.links.all()} == {"": "Q", "project": "Churn"}
    (made,) = _records("query-created")
    assert made.changes["owner"] == {"new": "alice", "new_id": user.pk}
    assert made.changes["project"] == {"new": "Sales", "new_id": str(project.pk)}


def test_names_at_hand_cost_no_query(user, project) -> None:
    """The target assigned is cached on the instance, and the one it replaced was
    remembered when the instance saved it: no SELECT of either."""
    churn = Project.objects.create(name="Churn", owner=user)
    query = Query.objects.create(name="Q", owner=user, project=project)
    query.project = churn
    with CaptureQueriesContext(connection) as queries:
        query.save()
    assert _selects_of(queries, "catalog_project") == []
    assert _records("query-edited")[0].changes["project"]["old"] == "Sales"


def test_an_old_target_not_at_hand_costs_one_query(user, project) -> None:
    churn = Project.objects.create(name="Churn", owner=user)
    created = Query.objects.create(name="Q", owner=user, project=project)
    query = Query.objects.get(pk=created.pk)
    query.project = churn
    with CaptureQueriesContext(connection) as queries:
        query.save()
    assert len(_selects_of(queries, "catalog_project")) == 1
    assert _records("query-edited")[0].changes["project"]["old"] == "Sales"


def test_a_saves_that_changes_no_foreign_key_reads_no_target(user, project) -> None:
    created = Query.objects.create(name="Q", owner=user, project=project)
    query = Query.objects.get(pk=created.pk)
    query.text = "select 2"
    with CaptureQueriesContext(connection) as queries:
        query.save()
    assert _selects_of(queries, "catalog_project") == []
    assert _selects_of(queries, "auth_user") == []


def test_queryset_update_names_every_rows_targets_in_one_query(user, other_user) -> None:
    projects = [Project.objects.create(name=f"P{n}", owner=user) for n in range(6)]
    churn = Project.objects.create(name="Churn", owner=user)
    for n, project in enumerate(projects):
        Query.objects.create(name=f"Q{n}", owner=user, project=project)
    with CaptureQueriesContext(connection) as queries:
        assert Query.objects.filter(name__startswith="Q").update(project=churn.pk) == 6
    assert len(_selects_of(queries, "catalog_project")) == 1  # all six old names at once
    edits = _records("query-edited")
    assert sorted(r.changes["project"]["old"] for r in edits) == [f"P{n}" for n in range(6)]
    assert {r.changes["project"]["new"] for r in edits} == {"Churn"}
    with CaptureQueriesContext(connection) as queries:
        Query.objects.filter(name__startswith="Q").update(owner=other_user)  # an object
    (select,) = _selects_of(queries, "auth_user")  # the old owner's name; bob was given
    assert f"IN ({user.pk})" in select
    owners = [r.changes["owner"] for r in _records("query-edited")[6:]]
    assert (
        owners == [{"old": "alice", "new": "bob", "old_id": user.pk, "new_id": other_user.pk}] * 6
    )


def test_bulk_create_names_targets_given_by_id_in_one_query(user) -> None:
    with CaptureQueriesContext(connection) as queries:
        Project.objects.bulk_create([Project(name=f"P{n}", owner_id=user.pk) for n in range(4)])
    assert len(_selects_of(queries, "auth_user")) == 1
    owners = [r.changes["owner"] for r in _records("project-created")]
    assert owners == [{"new": "alice", "new_id": user.pk}] * 4


def test_a_target_that_is_gone_reads_its_kind_and_id(user) -> None:
    from audit import related_names

    fields = [Query._meta.get_field("project")]
    changes = {"project": {"old": None, "new": "7d0c5b1e-0000-4000-8000-000000000000"}}
    related_names.name_changes(fields, [changes])
    assert changes["project"] == {
        "old": None,
        "new": "project #7d0c5b1e-0000-4000-8000-000000000000",
        "old_id": None,
        "new_id": "7d0c5b1e-0000-4000-8000-000000000000",
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement on PostgreSQL")
def test_a_foreign_key_edit_in_one_statement_carries_the_names(user, project) -> None:
    churn = Project.objects.create(name="Churn", owner=user)
    query = Query.objects.create(name="Q", owner=user, project=project)
    query.project = churn
    with CaptureQueriesContext(connection) as queries:
        query.save()
    (statement,) = [q["sql"] for q in queries]
    assert statement.startswith('WITH audit_saved AS (UPDATE "catalog_query"')
    (record,) = _records("query-edited")
    assert (record.changes["project"]["old"], record.changes["project"]["new"]) == (
        "Sales",
        "Churn",
    )
    assert {link.role: link.name for link in record.links.all()}["project"] == "Churn"
    # Loaded afresh, the old name is read first; the record still rides in the UPDATE.
    fresh = Query.objects.get(pk=query.pk)
    fresh.project = project
    with CaptureQueriesContext(connection) as queries:
        fresh.save()
    assert [q["sql"].split()[0] for q in queries] == ["SELECT", "WITH"]
    assert _records("query-edited")[1].changes["project"]["new"] == "Sales"


def test_changes_of_plain_values_read_back_as_django_writes_them() -> None:
    """A change of text and numbers is written by msgspec (``recording.encode_changes``),
    and must read back as Django's encoder writes it; any other value (a time, a decimal,
    a UUID, a float that JSON cannot hold, a lone surrogate) is written by Django's, as
    before."""
    from django.core.serializers.json import DjangoJSONEncoder

    from audit.recording import encode_changes

    django = DjangoJSONEncoder(allow_nan=False)
    plain = {
        "name": {"old": "Zoë\u2019s «report»\u2028", "new": "😀 ok"},
        "size": {"old": 2**70, "new": -3},
        "flag": {"old": True, "new": None},
        "tags": {"new": [{"k": ["a", 1, False]}, []]},
    }
    assert json.loads(encode_changes(plain)) == json.loads(django.encode(plain))
    assert list(json.loads(encode_changes(plain))) == list(plain)  # in the fields' order
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    other = {
        "at": {"new": moment},
        "price": {"new": decimal.Decimal("1.10")},
        "key": {"new": uuid.UUID(int=7)},
        "ratio": {"new": 0.5},
    }
    assert encode_changes(other) == django.encode(other)
    assert json.loads(encode_changes(other))["at"]["new"] == "2026-01-02T03:04:05.678Z"
    assert json.loads(encode_changes({"ratio": {"new": float("nan")}})) == {"ratio": {"new": "NaN"}}
    assert json.loads(encode_changes({"file": {"new": "report-\udcff.csv"}})) == {
        "file": {"new": "report-\ufffd.csv"}
    }
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference"):
        encode_changes({"tree": {"new": circular}})


def test_a_kinds_content_type_is_asked_again_once_content_types_may_be_remade(user) -> None:
    """The id is kept (every tracked save asks for it), and forgotten when
    ``post_migrate`` runs, as after a flush that makes the content types again."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.sql import emit_post_migrate_signal

    from audit.registry import forget_content_types

    kind = audit.kind("project")
    first = kind.content_type_id
    assert first == ContentType.objects.get_for_model(Project).pk
    ContentType.objects.filter(pk=first).update(id=first + 10_000)
    Permission.objects.filter(content_type_id=first).update(content_type_id=first + 10_000)
    ContentType.objects.clear_cache()
    try:
        assert kind.content_type_id == first  # kept until the content types may be remade
        emit_post_migrate_signal(0, False, "default")
        assert kind.content_type_id == first + 10_000
        project = Project.objects.create(name="after the flush", owner=user)
        record = AuditRecord.objects.get(type__name="project-created", links__object_id=project.pk)
        assert record.links.get(role="").content_type_id == first + 10_000
    finally:  # the id moved back with the test's rollback: no later test may see this one
        forget_content_types()
        ContentType.objects.clear_cache()
