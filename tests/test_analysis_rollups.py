"""The rollups count every record exactly once, whichever way it was stored, stay exact
under concurrent writers, forget what the retention purge removes, and can be rebuilt."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

import audit
from analysis import fields, rollups, spans
from analysis.models import (
    WEEKDAYS,
    Delta,
    EntityDay,
    EntityWeek,
    ErrorDay,
    ErrorGroup,
    ErrorWeek,
    TypeHour,
    UserDay,
    UsersDay,
)
from audit.models import AuditRecord
from catalog.models import Project
from tests.analysis_helpers import api, at, usage


def _counted() -> int:
    rollups.fold()
    return int(sum(TypeHour.objects.values_list("events", flat=True)))


@pytest.mark.django_db
def test_every_insert_path_is_counted_once(user, staff) -> None:
    api(user).post("/api/audit/events/", [{"type": "log"}] * 3, format="json")  # batch
    audit.log("dialog-ok", "python", user=user)  # audit.log
    with audit.bind(audit.AuditContext(user=user)):
        project = Project.objects.create(name="P", owner=user)  # tracked save
        project.description = "edited"
        project.save()  # a tracked edit (one statement on PostgreSQL)
        Project.objects.bulk_create([Project(name=f"B{n}", owner=user) for n in range(2)])
        Project.objects.filter(name__startswith="B").update(description="bulk")
    stored = AuditRecord.objects.count()
    assert stored == 3 + 1 + 2 + 2 + 2
    assert _counted() == stored
    assert _counted() == stored  # a second fold adds nothing
    assert not Delta.objects.exists()
    changed = EntityDay.objects.filter(changed=True).values_list("events", flat=True)
    assert sum(changed) == 6  # created and edited projects, not the users linked
    assert usage(api(staff))["totals"]["events"] == stored


@pytest.mark.django_db
@pytest.mark.postgres
def test_an_answer_counts_the_changes_still_staged(user, staff) -> None:
    """Deferred tracking: a change committed but not drained yet is counted by the next
    answer, as it would be with its record stored in the save."""
    from audit.models import StagedChange

    with audit.bind(audit.AuditContext(user=user)):
        Project.objects.create(name="Staged", owner=user)
    assert StagedChange.objects.count() == 1
    counted = usage(api(staff))["totals"]["events"]
    assert counted == AuditRecord.objects.count() > 0
    assert not StagedChange.objects.exists()


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_tracked_save_leaves_its_record_pending_for_the_fold(user, settings) -> None:
    """A tracked save's record in the save's statement (``AUDIT_DEFERRED_TRACKING = 0``:
    a drained one is stored as a batch is) takes the pending path, and only it: its save
    writes its id and no delta, a rolled-back save leaves nothing pending, a batch writes
    deltas and no id; the fold counts both, the tracked saves with their changes, and
    empties the list."""
    from django.db import transaction

    settings.AUDIT_DEFERRED_TRACKING = 0

    from analysis.models import EntityDelta

    def pending() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT record_id FROM analysis_pending ORDER BY 1")
            return [row[0] for row in cursor.fetchall()]

    with audit.bind(audit.AuditContext(user=user)):
        project = Project.objects.create(name="P", owner=user)
        project.description = "edited"
        project.save()
        with pytest.raises(RuntimeError), transaction.atomic():
            project.description = "never"
            project.save()
            raise RuntimeError
    tracked = list(AuditRecord.objects.order_by("id").values_list("id", flat=True))
    assert pending() == tracked and len(tracked) == 2
    assert not Delta.objects.exists() and not EntityDelta.objects.exists()
    api(user).post("/api/audit/events/", [{"type": "log"}] * 3, format="json")
    assert AuditRecord.objects.count() == 5
    assert pending() == tracked and Delta.objects.exists()
    assert _counted() == 5
    assert pending() == []
    assert sum(EntityDay.objects.filter(changed=True).values_list("events", flat=True)) == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [audit.SINGLE_RECORD_SETTING])
        assert cursor.fetchone()[0] == "off"  # said only while the record was stored


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_link_stored_apart_from_its_record_is_judged_by_its_record(user) -> None:
    """The links' trigger takes the change records of the records' statement that came
    just before; a link to a record of another statement has its record looked up."""
    from django.contrib.contenttypes.models import ContentType

    from audit.models import EntityLink

    with audit.bind(audit.AuditContext(user=user)):
        Project.objects.bulk_create([Project(name=f"B{n}", owner=user) for n in range(2)])
    created = AuditRecord.objects.filter(type__name="project-created").order_by("id")
    assert created.count() == 2
    _counted()
    before = sum(EntityDay.objects.filter(changed=True).values_list("events", flat=True))
    audit.log("log", "a later statement, in range of nothing above")
    project_type = ContentType.objects.get_for_model(Project)
    EntityLink.objects.bulk_create(
        [
            EntityLink(
                record=created[0], content_type_id=project_type.pk, object_id="x", role="",
                name="x", created_at=created[0].created_at, type_id=created[0].type_id,
            ),
            EntityLink(
                record=created[1], content_type_id=project_type.pk, object_id="y",
                role="reviewer", name="y", created_at=created[1].created_at,
                type_id=created[1].type_id,
            ),
        ]
    )  # fmt: skip
    _counted()
    after = sum(EntityDay.objects.filter(changed=True).values_list("events", flat=True))
    assert after == before + 1  # the link in no role to a creation; the reviewer is a use


@pytest.mark.django_db
def test_a_rolled_back_batch_leaves_no_count(user) -> None:
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        audit.log("log", "lost", user=user)
        raise RuntimeError
    audit.log("log", "kept", user=user)
    assert _counted() == 1


SAVES = 40  # tracked saves of the parallel test: a creation and its edits


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_and_folds_count_every_record(user, token) -> None:
    """Four clients post and a fifth makes tracked saves while another thread folds: the
    rollups end with exactly the records stored (each delta and each pending record
    counted once, none lost)."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def folder() -> None:
        try:
            while not stop.is_set():
                rollups.fold()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()  # this thread's: none left open at teardown

    def writer(n: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            for batch in range(6):
                events = [{"type": "log", "message": f"{n}-{batch}-{i}"} for i in range(20)]
                response = client.post("/api/audit/events/", events, format="json")
                assert response.status_code == 202, response.content
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()  # this thread's: none left open at teardown

    def saver() -> None:
        try:
            with audit.bind(audit.AuditContext(user=user)):
                project = Project.objects.create(name="P", owner=user)
                for n in range(SAVES - 1):
                    project.description = f"edit {n}"
                    project.save()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()  # this thread's: none left open at teardown

    folding = threading.Thread(target=folder)
    folding.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    writers.append(threading.Thread(target=saver))
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    folding.join()
    assert failures == []
    stored = 4 * 6 * 20 + SAVES
    assert AuditRecord.objects.count() == stored
    assert _counted() == stored
    assert UserDay.objects.get(user_id=user.pk).events == stored
    assert sum(UsersDay.objects.values_list("events", flat=True)) == stored
    changed = EntityDay.objects.filter(changed=True)
    assert sum(changed.values_list("events", flat=True)) == SAVES  # each save changed it


@pytest.mark.django_db
def test_the_purge_takes_its_records_out_of_the_rollups(user, staff) -> None:
    now = timezone.now()
    trace = "Error: old\n    at f (a.js:1:1)"
    at(user, now - timedelta(days=40), "error", stack_trace=trace)
    at(user, now - timedelta(days=31, hours=1), "log")
    at(user, now - timedelta(days=2), "error", stack_trace=trace)
    at(user, now - timedelta(days=1), "log")
    rollups.fold()
    out = StringIO()
    call_command("audit_purge", "--older-than-days", "30", stdout=out)
    assert "Deleted 2 records" in out.getvalue()
    assert _counted() == AuditRecord.objects.count()  # the trail's own records included
    assert AuditRecord.objects.exclude(type__name__startswith="trail-").count() == 2
    group = ErrorGroup.objects.get()
    assert group.events == 1 and group.first_seen > now - timedelta(days=3)
    ninety = usage(
        api(staff), since=(now - timedelta(days=90)).date().isoformat(), type="log,error"
    )
    assert ninety["totals"]["events"] == 2
    # What remains equals a recount of it.
    kept = sorted(TypeHour.objects.values_list("hour", "type_id", "level", "events"))
    rollups.rebuild()
    assert sorted(TypeHour.objects.values_list("hour", "type_id", "level", "events")) == kept


def _ids(raw: object) -> set[int]:
    """A users bitmap's ids: ``bit varying`` text on PostgreSQL, bytes elsewhere."""
    if isinstance(raw, str):
        return {n for n, bit in enumerate(raw) if bit == "1"}
    return fields.members(fields.from_bytes(raw))  # type: ignore[arg-type]


def _weeks_as_their_days_sum_them() -> tuple[dict, dict]:
    """The error and entity weeks as stored, and as summed from their days."""
    stored = {
        (w.fingerprint, w.week): (
            w.events,
            [getattr(w, name) for name in WEEKDAYS],
            _ids(w.users),
        )
        for w in ErrorWeek.objects.all()
    }
    summed: dict = {}
    for d in ErrorDay.objects.all():
        key = (d.fingerprint, spans.monday(d.day))
        events, days, users = summed.get(key, (0, [0] * 7, set()))
        days[d.day.weekday()] += d.events
        summed[key] = (events + d.events, days, users | _ids(d.users))
    for w in EntityWeek.objects.all():
        stored[(w.week, w.content_type_id, w.object_id, w.changed)] = w.events
    for e in EntityDay.objects.all():
        key = (spans.monday(e.day), e.content_type_id, e.object_id, e.changed)
        summed[key] = summed.get(key, 0) + e.events
    return stored, summed


@pytest.mark.django_db
def test_the_error_weeks_sum_their_days_through_fold_purge_and_rebuild(user, staff) -> None:
    """The week rollups that error and entity answers read hold what their days hold, after folds,
    after a purge that cuts a week in two, and after a rebuild."""
    other = User.objects.create_user("other")
    now = timezone.now()
    trace = "Error: weekly\n    at f (a.js:1:1)"
    group = Group.objects.create(name="linked")
    for days_ago in range(34, 24, -1):  # around the purge's cut, whatever the weekday
        at(
            user if days_ago % 2 else other,
            now - timedelta(days=days_ago),
            "error",
            stack_trace=trace,
            entities=[group],
        )
    at(user, now - timedelta(days=1), "error", stack_trace=trace)
    rollups.fold()
    stored, summed = _weeks_as_their_days_sum_them()
    assert stored == summed and sum(v[0] for v in stored.values() if isinstance(v, tuple)) == 11
    call_command("audit_purge", "--older-than-days", "30", stdout=StringIO())
    stored, summed = _weeks_as_their_days_sum_them()
    assert stored == summed
    kept = AuditRecord.objects.filter(type__name="error").count()
    assert 0 < kept < 11 and sum(v[0] for v in stored.values() if isinstance(v, tuple)) == kept
    rollups.rebuild()
    assert _weeks_as_their_days_sum_them() == (stored, summed)


@pytest.mark.django_db
def test_rebuild_command_shows_progress_and_keeps_statuses(user, staff) -> None:
    audit.log("error", "boom", stack_trace="Error: b\n    at f (a.js:1:1)", user=user)
    audit.log("log", "x", user=user)
    rollups.fold()
    group = ErrorGroup.objects.get()
    api(staff).patch(
        f"/api/audit/analysis/errors/{group.fingerprint}/", {"status": "ignored"}, format="json"
    )
    out = StringIO()
    call_command("analysis_rebuild", stdout=out)
    assert f"Counted {AuditRecord.objects.count()} records" in out.getvalue()
    assert "(100 %)" in out.getvalue()
    assert ErrorGroup.objects.get().status == "ignored"
    assert _counted() == AuditRecord.objects.count()


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_user_id_beyond_the_bitmaps_widens_them(staff) -> None:
    """Bitmaps grow when a larger user id arrives; the counts stay right."""
    big = User.objects.create_user("big")
    User.objects.filter(pk=big.pk).update(id=5000)
    big = User.objects.get(pk=5000)
    audit.log("log", "from a large id", user=big)
    assert usage(api(staff))["totals"]["users"] == 1
    assert rollups.state().user_bits == 8192
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT length(users) FROM analysis_usersday")
        assert [row[0] for row in cursor.fetchall()] == [8192]
