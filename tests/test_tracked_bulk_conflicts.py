"""Change tracking of ``bulk_create`` with ``ignore_conflicts`` and ``update_conflicts``:
a row the insert created is recorded as created, a row an upsert changed as edited
with its diff, and a row a conflict left as it was gets no record."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import MASK, event_types, tracking
from audit.models import AuditRecord, EventType
from catalog.models import Connection, Project

pytestmark = pytest.mark.django_db


def _records(type_name: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(type__name=type_name).order_by("id"))


def _named(type_name: str) -> dict[str, AuditRecord]:
    return {record.links.get(role="").name: record for record in _records(type_name)}


def _selects_of(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT") and f'"{table}"' in q["sql"]
    ]


# --- ignore_conflicts --------------------------------------------------------------------


def test_ignore_conflicts_records_each_type_it_created() -> None:
    """Django reads no primary keys back with ``ignore_conflicts``: the rows created are
    found by their names, and the objects get their primary keys."""
    made = EventType.objects.bulk_create(
        [EventType(name="bulk-new-1", level="warning"), EventType(name="bulk-new-2")],
        ignore_conflicts=True,
    )
    created = _named("event-type-created")
    assert set(created) == {"bulk-new-1", "bulk-new-2"}
    assert created["bulk-new-1"].changes["level"] == {"new": "warning"}
    stored = dict(EventType.objects.filter(name__startswith="bulk-new-").values_list("name", "pk"))
    assert {obj.name: obj.pk for obj in made} == stored
    assert {r.links.get(role="").object_id for r in created.values()} == {
        str(pk) for pk in stored.values()
    }


def test_ignore_conflicts_records_nothing_for_a_row_a_conflict_left_alone() -> None:
    EventType.objects.create(name="taken", level="info")
    EventType.objects.bulk_create(
        [EventType(name="taken", level="error"), EventType(name="free", level="error")],
        ignore_conflicts=True,
    )
    assert set(_named("event-type-created")) == {"taken", "free"}  # "taken" by create()
    assert len(_records("event-type-created")) == 2
    assert _records("event-type-edited") == []
    assert EventType.objects.get(name="taken").level == "info"


def test_ignore_conflicts_on_a_primary_key_records_only_the_new_rows(user) -> None:
    """Projects carry their UUID before they are stored: the one whose id exists is
    ignored, and no record claims it was created."""
    existing = Project.objects.create(name="Existing", owner=user)
    Project.objects.bulk_create(
        [Project(id=existing.id, name="Clash", owner=user), Project(name="Fresh", owner=user)],
        ignore_conflicts=True,
    )
    assert sorted(_named("project-created")) == ["Existing", "Fresh"]
    assert Project.objects.get(pk=existing.pk).name == "Existing"


def test_ignore_conflicts_records_one_creation_for_two_objects_with_one_name() -> None:
    """The second object conflicts with the row the first one inserted."""
    EventType.objects.bulk_create(
        [EventType(name="twin", level="warning"), EventType(name="twin", level="error")],
        ignore_conflicts=True,
    )
    (record,) = _records("event-type-created")
    assert record.changes["level"] == {"new": "warning"}


def test_ignore_conflicts_without_keys_to_compare_inserts_one_by_one(monkeypatch) -> None:
    """When conflicts cannot be told from the objects' values (a conditional unique
    constraint, say), each object is inserted in its own savepoint: still one record per
    row created and none for a conflict, and the batch goes on after a conflict."""
    monkeypatch.setattr(tracking, "_unique_keys", lambda model: None)
    EventType.objects.create(name="taken", level="info")
    made = EventType.objects.bulk_create(
        [EventType(name="one"), EventType(name="taken", level="error"), EventType(name="two")],
        ignore_conflicts=True,
    )
    assert sorted(_named("event-type-created")) == ["one", "taken", "two"]
    assert [obj.pk is not None for obj in made] == [True, False, True]
    assert EventType.objects.get(name="taken").level == "info"


# --- update_conflicts --------------------------------------------------------------------


def test_update_conflicts_records_the_edit_of_an_existing_type_not_a_creation() -> None:
    EventType.objects.create(name="conf-x", level="info", enabled=True)
    EventType.objects.bulk_create(
        [
            EventType(name="conf-x", enabled=False, level="error"),
            EventType(name="conf-y", enabled=False),
        ],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["enabled", "level"],
    )
    assert sorted(_named("event-type-created")) == ["conf-x", "conf-y"]  # conf-x by create()
    (edit,) = _records("event-type-edited")
    assert edit.changes == {
        "enabled": {"old": True, "new": False},
        "level": {"old": "info", "new": "error"},
    }
    assert edit.links.get(role="").name == "conf-x"
    assert edit.message == "Edited event-type 'conf-x': level, enabled"


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses the batch")
def test_an_upsert_of_a_row_created_earlier_in_the_batch_records_its_edit() -> None:
    """SQLite lets the second object update the row the first one inserted: the trail
    shows the creation, then the edit."""
    EventType.objects.bulk_create(
        [EventType(name="dup", level="warning"), EventType(name="dup", level="error")],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["level"],
    )
    (created,) = _records("event-type-created")
    assert created.changes["level"] == {"new": "warning"}
    (edit,) = _records("event-type-edited")
    assert edit.changes == {"level": {"old": "warning", "new": "error"}}


def test_update_conflicts_that_changes_nothing_tracked_records_nothing() -> None:
    EventType.objects.create(name="same", level="info")
    EventType.objects.bulk_create(
        [EventType(name="same", level="info")],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["level"],
    )
    assert len(_records("event-type-created")) == 1
    assert _records("event-type-edited") == []


def test_update_conflicts_on_the_primary_key_records_a_rename(user) -> None:
    project = Project.objects.create(name="Old name", owner=user, description="d")
    Project.objects.bulk_create(
        [Project(id=project.id, name="New name", owner=user, description="ignored")],
        update_conflicts=True,
        unique_fields=["pk"],
        update_fields=["name"],
    )
    (edit,) = _records("project-edited")
    assert edit.changes == {"name": {"old": "Old name", "new": "New name"}}
    assert edit.links.get(role="").name == "New name"
    assert len(_records("project-created")) == 1
    assert Project.objects.get(pk=project.pk).description == "d"


def test_update_conflicts_keeps_masked_fields_masked(user) -> None:
    conn = Connection.objects.create(
        name="DWH", owner=user, data_source="postgres", password="s3cret-one"
    )
    Connection.objects.bulk_create(
        [Connection(id=conn.id, name="DWH", owner=user, data_source="mysql", password="s3cret-2")],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["password", "data_source"],
    )
    (edit,) = _records("connection-edited")
    assert edit.changes == {
        "data_source": {"old": "postgres", "new": "mysql"},
        "password": {"old": MASK, "new": MASK},
    }
    assert "s3cret" not in str(list(AuditRecord.objects.values_list("changes", "message")))


def test_an_upserted_object_saved_afterwards_records_what_the_save_changes(user) -> None:
    """The upsert wrote only ``name``; the object still holds another description, which
    its next save writes: that save's record shows it, diffed from the row stored."""
    project = Project.objects.create(name="Old", owner=user, description="stored")
    (obj,) = Project.objects.bulk_create(
        [Project(id=project.id, name="New", owner=user, description="in memory")],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["name"],
    )
    obj.save()
    assert [r.changes for r in _records("project-edited")] == [
        {"name": {"old": "Old", "new": "New"}},
        {"description": {"old": "stored", "new": "in memory"}},
    ]


# --- cost ------------------------------------------------------------------------------


def test_bulk_create_without_conflict_options_reads_no_row_of_its_table(user) -> None:
    with CaptureQueriesContext(connection) as queries:
        Project.objects.bulk_create([Project(name=f"P{n}", owner=user) for n in range(3)])
    assert _selects_of(queries, "catalog_project") == []


@pytest.mark.parametrize("option", ["ignore_conflicts", "update_conflicts"])
def test_conflicts_cost_two_reads_whatever_the_number_of_rows(user, option) -> None:
    """One read of the rows the keys match before the insert, one after."""
    kwargs: dict[str, object] = {option: True}
    if option == "update_conflicts":
        kwargs.update(unique_fields=["id"], update_fields=["name"])
    counts = []
    event_types.resolve("project-created")  # the types' table, read once a while, read now
    for size in (2, 6):
        existing = [Project.objects.create(name=f"E{size}-{n}", owner=user) for n in range(size)]
        objs = [Project(id=p.id, name=f"R{size}-{n}", owner=user) for n, p in enumerate(existing)]
        objs += [Project(name=f"N{size}-{n}", owner=user) for n in range(size)]
        with CaptureQueriesContext(connection) as queries:
            Project.objects.bulk_create(objs, **kwargs)
        assert len(_selects_of(queries, "catalog_project")) == 2
        counts.append(len(queries))
    assert counts[0] == counts[1]
    created = {n for n in _named("project-created") if n.startswith("N")}
    assert len(created) == 8
    assert len(_records("project-edited")) == (8 if option == "update_conflicts" else 0)
