"""Deferred tracking (``AUDIT_DEFERRED_TRACKING``, ``audit.staged``): a tracked save
stages its change in its own statement, and ``drain`` stores the same records the save
would have stored, exactly once."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import disabled, dropped, staged
from audit.context import AuditContext, bind
from audit.models import AuditRecord, DroppedCount, EventType, StagedChange
from audit.tasks import drain_staged
from catalog.models import Connection, Project, Query
from tests.pg_roles import as_owner

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def deferred(settings: Any) -> None:
    settings.AUDIT_DEFERRED_TRACKING = 1


def _changes_made(user: Any, other_user: Any) -> None:
    """Saves of every shape tracking knows: creations, edits of plain, JSON, masked and
    foreign-key fields, a field with a type of its own, a link to a parent, a save of
    nothing, ``update_fields``."""
    with bind(AuditContext(user=user, request_id="req-1")):
        sales = Project.objects.create(name="Sales", owner=user, description="numbers")
        churn = Project.objects.create(name="Churn", owner=user)
        query = Query.objects.create(name="Q", owner=user, project=sales, text="select 1")
        query.text = "select 2"
        query.description = "counts"  # before "text" in the model; jsonb would sort it after
        query.transformations = [{"op": "filter", "column": "region"}]
        query.save()
        query.project = churn
        query.owner = other_user
        query.save()
        query.save()  # nothing changed
        conn = Connection.objects.create(
            name="DWH", owner=user, data_source="postgres", password="s3cret-one"
        )
        conn.password = "s3cret-two"
        conn.name = "Warehouse"
        conn.save(update_fields=["password"])


def _trail(since: int = 0) -> list[tuple[Any, ...]]:
    """The records after ``since`` as a reader sees them, without what differs by nature
    (ids, uuids, times) and with each entity's key written as its name: the two runs
    create their entities under keys of their own."""
    keys = {
        str(pk): f"<{name}>"
        for model in (Project, Query, Connection)
        for pk, name in model.objects.values_list("pk", "name")
    }

    def named(value: Any) -> Any:
        text = repr(value)
        for key, name in keys.items():
            text = text.replace(key, name)
        return text

    return [
        (
            record.type.name,
            record.level,
            record.message,
            record.params,
            named(record.changes),
            record.user_id,
            record.session.user_id,
            record.source,
            record.request_id,
            sorted(
                (link.content_type_id, named(link.object_id), link.role, link.name, link.type_id)
                for link in record.links.all()
            ),
        )
        for record in AuditRecord.objects.filter(id__gt=since)
        .select_related("type", "session")
        .order_by("id")
    ]


def test_drained_records_equal_the_records_the_save_stores(
    settings: Any, user: Any, other_user: Any
) -> None:
    settings.AUDIT_DEFERRED_TRACKING = 0
    _changes_made(user, other_user)
    in_the_statement = _trail()
    assert len(in_the_statement) == 8, in_the_statement
    assert "s3cret" not in str(in_the_statement)
    last = AuditRecord.objects.order_by("-id").values_list("id", flat=True)[0]

    settings.AUDIT_DEFERRED_TRACKING = 1
    _changes_made(user, other_user)
    assert AuditRecord._base_manager.filter(id__gt=last).count() == 0  # as stored: unsettled
    assert StagedChange.objects.count() == 7
    assert "s3cret" not in str(list(StagedChange.objects.values_list("events", flat=True)))
    drained = staged.drain_all()
    assert (drained.changes, drained.records, drained.failed) == (7, 8, 0)
    assert _trail(since=last) == in_the_statement
    assert not StagedChange.objects.exists()


def test_a_staged_save_is_one_statement_and_keeps_the_saves_time(deferred, user) -> None:
    project = Project.objects.create(name="Sales", owner=user)
    staged.drain_all()
    project.name = "Renamed"
    with CaptureQueriesContext(connection) as queries:
        project.save()
    (statement,) = [q["sql"] for q in queries]
    assert statement.startswith("WITH audit_saved AS (UPDATE")
    assert "audit_stagedchange" in statement and "audit_insert_record" not in statement
    change = StagedChange.objects.get()
    staged.drain_all()
    (record,) = AuditRecord.objects.filter(type__name="project-edited")
    assert record.created_at == change.created_at
    assert record.changes == {"name": {"old": "Sales", "new": "Renamed"}}


def test_a_rolled_back_save_stages_nothing(deferred, user) -> None:
    project = Project.objects.create(name="Sales", owner=user)
    staged.drain_all()
    with pytest.raises(RuntimeError), transaction.atomic():
        project.name = "Renamed"
        project.save()
        raise RuntimeError("the request failed")
    assert not StagedChange.objects.exists()
    assert staged.drain_all().records == 0


def test_a_type_switched_off_at_the_save_is_neither_staged_nor_brought_back(deferred, user) -> None:
    from audit import dropped

    EventType.objects.filter(name="project-created").update(enabled=False)
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Sales", owner=user)
    assert not StagedChange.objects.exists()  # nothing to stage: the save wrote no row
    dropped.flush()
    assert DroppedCount.objects.get(event_type="project-created").count == 1
    EventType.objects.filter(name="project-created").update(enabled=True)
    assert staged.drain_all().records == 0
    assert not AuditRecord.objects.filter(type__name="project-created").exists()


def test_a_type_switched_off_after_the_save_is_still_recorded(deferred, user) -> None:
    """The switches that count are those of the moment the change was made, as for a
    record stored in the save's statement."""
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Sales", owner=user)
    with disabled():  # switched off without a record of it: nothing else stores first
        EventType.objects.filter(name="project-created").update(enabled=False)
    drained = staged.drain_all()
    assert (drained.changes, drained.records) == (1, 1)
    assert AuditRecord.objects.filter(type__name="project-created").count() == 1


def test_each_users_switches_apply_to_that_users_changes_only(
    deferred, user, other_user, group
) -> None:
    # ``group`` holds ``user``; the type is off for that group only.
    EventType.objects.get(name="project-edited").disabled_for.add(group)
    for actor in (user, other_user, user, None):
        with bind(AuditContext(user=actor)):
            project = Project.objects.create(name="Sales", owner=other_user)
            project.name = "Renamed"
            project.save()
    assert StagedChange.objects.count() == 6  # ``user``'s two edits staged nothing
    drained = staged.drain_all()
    assert (drained.changes, drained.records) == (6, 6)
    edits = AuditRecord.objects.filter(type__name="project-edited")
    assert set(edits.values_list("user_id", flat=True)) == {None, other_user.pk}
    assert edits.count() == 2
    assert AuditRecord.objects.filter(type__name="project-created", user=user).count() == 2


def test_a_change_with_one_of_its_types_switched_off_keeps_the_others(
    deferred, user, group
) -> None:
    """A change whose events are of two types (a field with a type of its own) loses
    only the type switched off for its user, and its first record left is the one that
    lets its staged row go."""
    EventType.objects.get(name="query-edited").disabled_for.add(group)
    with bind(AuditContext(user=user)):
        query = Query.objects.create(name="Q", owner=user, text="select 1")
        staged.drain_all()
        query.text = "select 2"
        query.transformations = [{"op": "filter", "column": "region"}]
        query.save()
    change = StagedChange.objects.get()
    assert change.events["off"] == ["query-edited"]
    drained = staged.drain_all()
    assert (drained.changes, drained.records) == (1, 1)
    (record,) = AuditRecord.objects.filter(created_at=change.created_at)
    assert record.uuid == change.uuid
    assert record.type.name == "query-transformations-edited"


def _poisoned(user: Any, events: Any) -> StagedChange:
    """A staged change that cannot become a record, staged as the application may (it
    may add a row, never rewrite one), beside the good one it was copied from."""
    Project.objects.create(name="First", owner=user)
    first = StagedChange.objects.get()
    return StagedChange.objects.create(
        uuid=uuid.uuid4(),
        events=events(first.events),
        user_id=first.user_id,
        session_id=first.session_id,
        created_at=first.created_at,
    )


def test_a_change_that_cannot_become_a_record_waits_with_its_error(deferred, user) -> None:
    _poisoned(user, lambda good: ["not", "an object"])
    Project.objects.create(name="Second", owner=user)
    drained = staged.drain_all()
    assert (drained.changes, drained.records, drained.failed) == (2, 2, 1)
    (kept,) = StagedChange.objects.all()
    assert kept.error.startswith("TypeError: the staged change is not a JSON object")
    assert sorted(
        AuditRecord.objects.filter(type__name="project-created").values_list("message", flat=True)
    ) == ["Created project 'First'", "Created project 'Second'"]
    assert staged.drain_all().failed == 0  # it waits; it does not fail again and again


def test_a_request_that_saves_leaves_its_change_staged_and_the_next_read_shows_it(
    deferred, staff_client, staff
) -> None:
    response = staff_client.post(
        "/api/catalog/projects/", {"name": "Posted", "description": "d"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert StagedChange.objects.count() == 1  # no drain on the writer's side
    assert not AuditRecord._base_manager.filter(type__name="project-created").exists()
    found = staff_client.get("/api/audit/events/", {"type": "project-created"}).json()
    (record,) = found["results"]
    assert record["user"] == staff.username and record["message"] == "Created project 'Posted'"
    assert not StagedChange.objects.exists()


def test_the_beat_task_stores_what_no_reader_settled(deferred, user) -> None:
    Project.objects.create(name="Sales", owner=user)
    assert drain_staged.apply().get() == 1
    assert AuditRecord.objects.filter(type__name="project-created").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_store_each_change_exactly_once(settings: Any, user: Any) -> None:
    settings.AUDIT_DEFERRED_TRACKING = 1
    for number in range(120):
        Project.objects.create(name=f"p{number}", owner=user)
    assert StagedChange.objects.count() == 120
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            while staged.drain(limit=7).changes:
                pass
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    names = list(
        AuditRecord.objects.filter(type__name="project-created").values_list("message", flat=True)
    )
    assert sorted(names) == sorted(f"Created project 'p{number}'" for number in range(120))
    assert not StagedChange.objects.exists()


@pytest.mark.django_db(transaction=True)  # the owner's connection is a new one
def test_audit_drain_stores_what_waits_and_names_what_cannot(deferred, user) -> None:
    poisoned = _poisoned(user, lambda good: {**good, "kind": "gone-kind"})
    good = {**poisoned.events, "kind": "project"}
    Project.objects.create(name="Second", owner=user)
    out = StringIO()
    call_command("audit_drain", stdout=out)
    assert "2 staged changes stored as 2 records" in out.getvalue()
    assert "1 staged changes wait with an error" in out.getvalue()
    assert StagedChange.objects.get().error == (
        "LookupError: no entity kind 'gone-kind' is registered"
    )
    with as_owner():  # mended, as only the tables' owner may
        StagedChange.objects.update(events=good)
    out = StringIO()
    call_command("audit_drain", "--retry", stdout=out)
    assert "1 staged changes stored as 1 records" in out.getvalue()
    assert "1 retried" in out.getvalue() and "wait with an error" not in out.getvalue()
    assert not StagedChange.objects.exists()


def test_the_admin_lists_staged_changes_and_tries_failed_ones_again(
    deferred, client, staff, user
) -> None:
    staff.is_superuser = True
    staff.save()
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Sales", owner=user)
    StagedChange.objects.update(error="TypeError: mended since")
    client.force_login(staff)
    url = "/admin/audit/stagedchange/"
    page = client.get(url, {"state": "failed"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "project &#x27;Sales&#x27; created" in text and "TypeError: mended since" in text
    assert f'/activity/users/{user.username}/">{user.username}</a>' in text  # as the trail's lists
    change = StagedChange.objects.get()
    detail = client.get(f"{url}{change.pk}/change/")
    assert detail.status_code == 200 and "Sales" in detail.content.decode()
    response = client.post(
        url, {"action": "try_again", "_selected_action": [change.pk]}, follow=True
    )
    assert "1 staged changes will be tried again." in response.content.decode()
    assert StagedChange.objects.get().error == ""
    assert client.post(f"{url}{change.pk}/delete/").status_code == 403


def test_staff_without_the_permission_cannot_try_again(deferred, client, staff, user) -> None:
    Project.objects.create(name="Sales", owner=user)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_stagedchange"))
    client.force_login(staff)
    page = client.get("/admin/audit/stagedchange/")
    assert page.status_code == 200
    assert "try_again" not in page.content.decode()


def _staged_elsewhere(user: Any, name: str) -> Project:
    """A change staged, as if by another process."""
    with bind(AuditContext(user=user)):
        project = Project.objects.create(name=name, owner=user)
    assert StagedChange.objects.count() == 1
    return project


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(lambda p, u: f"/api/audit/entities/project/{p.pk}/activity/", id="entity-api"),
        pytest.param(lambda p, u: "/api/audit/events/?type=project-created", id="events-api"),
        pytest.param(lambda p, u: f"/activity/project/{p.pk}/", id="panel"),
        pytest.param(lambda p, u: f"/activity/users/{u.username}/", id="user-page"),
    ],
)
def test_a_read_shows_the_changes_other_processes_staged(deferred, client, staff, reader) -> None:
    project = _staged_elsewhere(staff, "Staged elsewhere")
    client.force_login(staff)
    response = client.get(reader(project, staff))
    assert response.status_code == 200
    assert "Staged elsewhere" in response.content.decode()
    assert not StagedChange.objects.exists()


def test_settling_costs_one_query_when_nothing_is_staged_and_none_when_not_deferred(
    settings: Any,
) -> None:
    settings.AUDIT_DEFERRED_TRACKING = 0
    with CaptureQueriesContext(connection) as queries:
        staged.settle()
    assert len(queries) == 0
    settings.AUDIT_DEFERRED_TRACKING = 1
    with CaptureQueriesContext(connection) as queries:
        staged.settle()
    (query,) = queries
    assert "audit_stagedchange" in query["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_read_waits_for_a_drain_at_work(settings: Any, user: Any) -> None:
    """Another process is storing the staged changes when a read begins: the read waits
    for it rather than skip them, and then shows their records."""
    settings.AUDIT_DEFERRED_TRACKING = 1
    Project.objects.create(name="Held", owner=user)
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_drain() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [staged.DRAIN_LOCK])
                locked.set()
                release.wait(5)
                assert staged.drain().records == 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_drain)
    thread.start()
    assert locked.wait(5)
    threading.Timer(0.3, release.set).start()
    staged.settle()  # returns once the other drain has committed
    assert AuditRecord.objects.filter(message="Created project 'Held'").count() == 1
    thread.join()
    assert errors == []
    assert not StagedChange.objects.exists()


def test_a_deferred_save_of_a_row_deleted_meanwhile_records_its_creation(deferred, user) -> None:
    project = Project.objects.create(name="Sales", owner=user)
    staged.drain_all()
    stale = Project.objects.get(pk=project.pk)

    with disabled():
        Project.objects.filter(pk=project.pk).delete()
    stale.name = "Back again"
    stale.save()  # the UPDATE matches nothing and stages nothing; Django inserts
    assert not StagedChange.objects.exists()
    assert not AuditRecord.objects.filter(type__name="project-edited").exists()
    created = AuditRecord.objects.filter(type__name="project-created").order_by("id")
    assert [record.changes["name"] for record in created] == [
        {"new": "Sales"},
        {"new": "Back again"},
    ]


def _no_statement_to_ride(monkeypatch: Any) -> None:
    """Saves find no statement of Django's to ride on (as when it runs another)."""
    from audit import one_statement

    prepare = one_statement.prepare

    def elsewhere(*args: Any, **kwargs: Any) -> Any:
        pending = prepare(*args, **kwargs)
        pending.prefix = "UPDATE nothing_django_runs "
        return pending

    monkeypatch.setattr(one_statement, "prepare", elsewhere)


def test_a_deferred_save_that_finds_no_statement_to_ride_stages_its_change_apart(
    deferred, user, monkeypatch
) -> None:
    project = Project.objects.create(name="Sales", owner=user)
    staged.drain_all()
    _no_statement_to_ride(monkeypatch)
    project.name = "Renamed"
    project.save()
    change = StagedChange.objects.get()  # staged in a statement of its own
    (record,) = AuditRecord.objects.filter(type__name="project-edited")
    assert record.changes == {"name": {"old": "Sales", "new": "Renamed"}}
    assert record.uuid == change.uuid and not StagedChange.objects.exists()


def test_a_change_staged_apart_shows_in_the_next_read_though_a_receiver_read_midway(
    deferred, user, monkeypatch
) -> None:
    """A receiver that reads records in the midst of the save settles before the row
    staged apart exists; the context's next read must settle again, not trust that."""
    from django.db.models.signals import post_save

    project = Project.objects.create(name="Sales", owner=user)
    staged.drain_all()
    _no_statement_to_ride(monkeypatch)

    def read_midway(sender: Any, instance: Any, **kwargs: Any) -> None:
        list(AuditRecord.objects.filter(type__name="project-edited"))

    post_save.connect(read_midway, sender=Project)
    try:
        with bind(AuditContext(user=user)):
            project.name = "Renamed"
            project.save()
            assert AuditRecord.objects.filter(type__name="project-edited").count() == 1
    finally:
        post_save.disconnect(read_midway, sender=Project)


_OWN_TYPE = "query-transformations-edited"  # a field with a type of its own


def test_a_change_staged_apart_counts_its_type_switched_off_once(
    deferred, user, group, monkeypatch
) -> None:
    """What the save decided stands: the type switched off is counted dropped at the
    save, not once more when the change is staged apart."""
    EventType.objects.get(name="query-edited").disabled_for.add(group)
    with bind(AuditContext(user=user)):
        query = Query.objects.create(name="Q", owner=user, text="select 1")
        staged.drain_all()
        dropped.flush()
        _no_statement_to_ride(monkeypatch)
        query.text = "select 2"
        query.transformations = [{"op": "filter", "column": "region"}]
        query.save()
    edits = AuditRecord.objects.filter(type__name__in=["query-edited", _OWN_TYPE])
    assert [record.type.name for record in edits] == [_OWN_TYPE]
    dropped.flush()
    assert DroppedCount.objects.get(event_type="query-edited").count == 1


def test_a_change_whose_record_the_database_refuses_waits_and_the_rest_are_read(
    deferred, staff_client, user
) -> None:
    """The batch is refused for one change: that one waits with the database's error,
    the others are stored, and a read that settles them still answers."""
    _poisoned(
        user,
        lambda good: {**good, "entities": [[*good["entities"][0][:1], "x" * 65, "", "long"]]},
    )
    Project.objects.create(name="Second", owner=user)
    Project.objects.create(name="Third", owner=user)
    response = staff_client.get("/api/audit/events/", {"type": "project-created"})
    assert response.status_code == 200
    assert sorted(r["message"] for r in response.json()["results"]) == [
        "Created project 'First'",
        "Created project 'Second'",
        "Created project 'Third'",
    ]
    (kept,) = StagedChange.objects.all()
    assert kept.error.startswith("DataError: value too long for type character varying(64)")
    assert staged.drain_all().failed == 0  # it waits; the next drains pass it by


def _staged_and_committed(user: Any) -> StagedChange:
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Sales", owner=user)
    return StagedChange.objects.get()


@pytest.mark.django_db(transaction=True)
def test_a_staged_change_cannot_be_deleted_before_its_record_is_stored(deferred, user) -> None:
    """The change's only trace until the drain: the database refuses to let the row go
    while no record stands for it, and the change is recorded later."""
    change = _staged_and_committed(user)
    refused = pytest.raises(DatabaseError, match="deleted only once its record is stored")
    with refused, transaction.atomic():
        StagedChange.objects.filter(pk=change.pk).delete()
    assert StagedChange.objects.filter(pk=change.pk).exists()
    assert staged.drain_all().records == 1
    assert AuditRecord.objects.get(uuid=change.uuid).message == "Created project 'Sales'"


@pytest.mark.django_db(transaction=True)
def test_a_record_that_does_not_match_the_change_does_not_let_it_go(deferred, user) -> None:
    """A record forged under the row's uuid, but of another session, is not its record."""
    from audit.models import UserSession

    change = _staged_and_committed(user)
    other = UserSession.objects.create(user=user, kind="server")
    refused = pytest.raises(DatabaseError, match="deleted only once its record is stored")
    with refused, transaction.atomic():
        AuditRecord._base_manager.create(  # unsettled: the forger's own insert
            uuid=change.uuid,
            type=EventType.objects.get(name="log"),
            level="info",
            user=user,
            session=other,
            created_at=change.created_at,
            source="server",
        )
        StagedChange.objects.filter(pk=change.pk).delete()
    assert StagedChange.objects.filter(pk=change.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_beat_leaves_the_work_to_a_drain_at_work(settings: Any, user: Any) -> None:
    """Drains take turns: one that would wait does nothing while another is at work,
    and the changes are stored once."""
    settings.AUDIT_DEFERRED_TRACKING = 1
    Project.objects.create(name="Once", owner=user)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [staged.DRAIN_LOCK])
            assert staged.drain() == staged.Drained()  # at once, and nothing taken
            cursor.execute("COMMIT")
    finally:
        other.close()
    assert staged.drain().changes == 1
    assert AuditRecord.objects.filter(message="Created project 'Once'").count() == 1


def test_a_sessions_record_count_counts_its_staged_changes(deferred, client, user) -> None:
    from audit.models import UserSession

    with bind(AuditContext(user=user)):
        Project.objects.create(name="Counted", owner=user)
    session = UserSession.objects.get(pk=StagedChange.objects.get().session_id)
    client.force_login(user)
    detail = client.get(f"/api/audit/sessions/{session.uuid}/").json()
    assert detail["records"] == 1


def test_a_context_settles_once_for_its_reads_and_again_after_it_stages(deferred, user) -> None:
    """A request (or task) pays one query for all its reads of records, and still reads
    its own changes."""

    def settling_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            list(AuditRecord.objects.filter(type__name="project-created"))
        return sum("audit_stagedchange" in q["sql"] for q in queries)

    with bind(AuditContext(user=user)):
        assert settling_queries() == 1
        assert settling_queries() == 0
        Project.objects.create(name="Mine", owner=user)
        assert settling_queries() >= 1  # it staged: its next read stores and shows it
        assert AuditRecord.objects.filter(message="Created project 'Mine'").exists()
        assert settling_queries() == 0
    with bind(AuditContext(user=user)):  # another request
        assert settling_queries() == 1


def test_an_entitys_api_page_asks_for_staged_changes_in_its_own_statement(
    deferred, client, staff
) -> None:
    """No round trip of its own for the question when nothing is staged; when something
    is, the page is read again with it."""
    project = _staged_elsewhere(staff, "Asked in the page")
    staged.drain_all()
    client.force_login(staff)
    url = f"/api/audit/entities/project/{project.pk}/activity/"
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    asking = [q["sql"] for q in queries if "audit_stagedchange" in q["sql"]]
    assert len(asking) == 1 and "audit_auditrecord" in asking[0]  # the page's statement
    project.name = "Renamed meanwhile"
    project.save()  # staged, as by another process
    found = client.get(url).json()["results"]
    assert found[0]["message"] == "Edited project 'Renamed meanwhile': name"
    assert not StagedChange.objects.exists()


def test_a_requests_records_keep_the_order_of_what_it_did(deferred, user) -> None:
    """A change staged, then an event stored straight away (a deletion) in the same
    request: the staged change is stored first, so ids follow what was done."""
    with bind(AuditContext(user=user)):
        project = Project.objects.create(name="Brief", owner=user)
        project.delete()
    names = AuditRecord.objects.filter(type__name__startswith="project-").order_by("id")
    assert [r.type.name for r in names] == ["project-created", "project-deleted"]


@pytest.mark.django_db(transaction=True)
def test_a_change_whose_row_the_guard_keeps_waits_and_the_rest_are_read(
    deferred, user, staff, client
) -> None:
    """A record forged under a staged row's uuid (another session) takes the change's
    place in the batch, so the guard refuses the batch's delete: that change waits
    with the error, the others are stored, and reads keep answering."""
    from audit.models import UserSession

    with bind(AuditContext(user=user)):
        Project.objects.create(name="Forged over", owner=user)
        Project.objects.create(name="Stored", owner=user)
    first = StagedChange.objects.order_by("id").first()
    AuditRecord._base_manager.create(  # unsettled: the forger's own insert
        uuid=first.uuid,
        type=EventType.objects.get(name="log"),
        level="info",
        user=user,
        session=UserSession.objects.create(user=user, kind="server"),
        created_at=first.created_at,
        source="server",
    )
    drained = staged.drain_all()
    assert (drained.changes, drained.failed) == (1, 1)
    (kept,) = StagedChange.objects.all()
    assert kept.pk == first.pk and "deleted only once its record is stored" in kept.error
    client.force_login(staff)
    found = client.get("/api/audit/events/", {"type": "project-created"})
    assert found.status_code == 200
    assert [r["message"] for r in found.json()["results"]] == ["Created project 'Stored'"]


def test_a_page_filtered_by_type_and_time_shows_a_staged_change(deferred, client, staff) -> None:
    project = _staged_elsewhere(staff, "Filtered")
    client.force_login(staff)
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    url = f"/api/audit/entities/project/{project.pk}/activity/"
    found = client.get(url, {"type": "project-created", "since": since}).json()["results"]
    assert [r["message"] for r in found] == ["Created project 'Filtered'"]
