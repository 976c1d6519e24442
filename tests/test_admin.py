"""The admin reads records and sessions without ever counting the whole table, refuses
to edit them, and guards the built-in event types."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.bounded_count import BoundedCount, BoundedPaginator, bounded_count
from audit.context import AuditContext, bind, new_request_id
from audit.logger import log
from audit.models import AuditRecord, EventType, UserSession

pytestmark = pytest.mark.django_db

RECORDS = "/admin/audit/auditrecord/"
SESSIONS = "/admin/audit/usersession/"
TYPES = "/admin/audit/eventtype/"


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def admin_browser(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def records(user: User, group: Group) -> list[AuditRecord]:
    """A few records of different shapes: plain, linked to entities, an error."""
    log("project-opened", "Opened Sales", {"project": "Sales"}, user=user)
    log("entity-shared", "Shared with analysts", entities=[group, user], user=user)
    log(
        "error",
        "TypeError: x is undefined",
        {"url": "/projects/1"},
        stack_trace="TypeError: x is undefined\n    at render (https://app/viewer.js:10:5)",
        user=user,
    )
    log("package-tested", "Nightly package tests passed")
    return list(AuditRecord.objects.order_by("id"))


def _record_counts(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if "COUNT(" in query["sql"].upper() and "audit_auditrecord" in query["sql"]
    ]


def test_staff_opens_every_changelist_and_detail_page(
    admin_browser: Client, records: list[AuditRecord]
) -> None:
    record = records[1]
    session = UserSession.objects.filter(user__isnull=False).first()
    event_type = EventType.objects.get(name="error")
    for url in (
        RECORDS,
        f"{RECORDS}{record.pk}/change/",
        f"{RECORDS}{records[2].pk}/change/",
        SESSIONS,
        f"{SESSIONS}{session.pk}/change/",
        TYPES,
        f"{TYPES}{event_type.pk}/change/",
    ):
        response = admin_browser.get(url)
        assert response.status_code == 200, url


def test_record_detail_shows_json_trace_and_entities(
    admin_browser: Client, records: list[AuditRecord]
) -> None:
    shared, error = records[1], records[2]
    page = admin_browser.get(f"{RECORDS}{shared.pk}/change/").content.decode()
    assert "analysts" in page and "alice" in page  # the entity links inline
    page = admin_browser.get(f"{RECORDS}{error.pk}/change/").content.decode()
    assert '<pre class="audit-trace">' in page and "viewer.js" in page
    assert '<pre class="audit-json">' in page and "&quot;url&quot;" in page
    assert error.fingerprint in page


def test_session_detail_links_to_its_records(
    admin_browser: Client, records: list[AuditRecord]
) -> None:
    session = records[0].session
    page = admin_browser.get(f"{SESSIONS}{session.pk}/change/").content.decode()
    link = f"{RECORDS}?session__id__exact={session.pk}"
    assert link in page
    listing = admin_browser.get(link)
    assert listing.status_code == 200
    shown = {record.pk for record in listing.context["cl"].result_list}
    assert shown == {r.pk for r in records if r.session_id == session.pk}


def test_non_staff_are_sent_to_login(client: Client, user: User) -> None:
    assert client.get(RECORDS).status_code == 302
    client.force_login(user)
    response = client.get(RECORDS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_with_view_permission_reads_records(staff: User, records: list[AuditRecord]) -> None:
    staff.user_permissions.add(Permission.objects.get(codename="view_auditrecord"))
    client = Client()
    client.force_login(staff)
    assert client.get(RECORDS).status_code == 200
    page = client.get(f"{RECORDS}{records[1].pk}/change/").content.decode()
    assert "analysts" in page  # links are shown to whoever reads the record


def test_record_changelist_never_counts_the_whole_table(
    admin_browser: Client, records: list[AuditRecord]
) -> None:
    for url in (RECORDS, f"{RECORDS}?level__exact=error", f"{RECORDS}?q=Sales"):
        with CaptureQueriesContext(connection) as captured:
            assert admin_browser.get(url).status_code == 200
        for sql in _record_counts(captured):
            assert "LIMIT" in sql.upper(), sql


def test_search_is_typed(admin_browser: Client, records: list[AuditRecord]) -> None:
    def found(term: str) -> set[int]:
        response = admin_browser.get(RECORDS, {"q": term})
        assert response.status_code == 200
        return {record.pk for record in response.context["cl"].result_list}

    assert found(str(records[0].pk)) == {records[0].pk}
    assert found(str(records[2].uuid)) == {records[2].pk}
    assert found("Shared with") == {records[1].pk}
    request_id = new_request_id()  # 32 hex digits: also parses as a UUID
    with bind(AuditContext(user=records[0].user, request_id=request_id)):
        traced = log("log", "inside a request")
    assert found(request_id) == {traced}
    assert found("99999999999999999999") == set()  # beyond bigint: a message search


def test_records_cannot_be_added_changed_or_deleted(
    admin_browser: Client, records: list[AuditRecord]
) -> None:
    record = records[0]
    assert admin_browser.get(f"{RECORDS}add/").status_code == 403
    assert admin_browser.get(f"{RECORDS}{record.pk}/delete/").status_code == 403
    response = admin_browser.post(f"{RECORDS}{record.pk}/change/", {"message": "forged"})
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.message == "Opened Sales"
    page = admin_browser.get(f"{RECORDS}{record.pk}/change/").content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page


def test_sessions_are_read_only(admin_browser: Client, records: list[AuditRecord]) -> None:
    session = records[0].session
    assert admin_browser.get(f"{SESSIONS}add/").status_code == 403
    assert admin_browser.get(f"{SESSIONS}{session.pk}/delete/").status_code == 403
    response = admin_browser.get(SESSIONS, {"q": str(session.uuid)})
    assert [s.pk for s in response.context["cl"].result_list] == [session.pk]
    response = admin_browser.get(SESSIONS, {"q": "alic"})
    assert {s.user.username for s in response.context["cl"].result_list} == {"alice"}


def test_built_in_event_type_cannot_be_deleted_or_renamed(admin_browser: Client) -> None:
    builtin = EventType.objects.get(name="log")
    assert admin_browser.get(f"{TYPES}{builtin.pk}/delete/").status_code == 403
    response = admin_browser.post(
        TYPES, {"action": "delete_selected", "_selected_action": [builtin.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302, 403)
    assert EventType.objects.filter(pk=builtin.pk).exists()
    admin_browser.post(
        f"{TYPES}{builtin.pk}/change/",
        {"name": "renamed", "level": "debug", "description": "d", "enabled": "on"},
    )
    builtin.refresh_from_db()
    assert builtin.name == "log" and builtin.level == "debug"


def test_event_type_is_switched_off_for_a_group(admin_browser: Client, group: Group) -> None:
    event_type = EventType.objects.get(name="viewer-rendered")
    response = admin_browser.post(
        f"{TYPES}{event_type.pk}/change/",
        {"level": "usage", "description": "", "enabled": "on", "disabled_for": [group.pk]},
    )
    assert response.status_code == 302
    assert list(event_type.disabled_for.all()) == [group]


def test_custom_event_type_follows_the_name_rule_and_can_be_deleted(
    admin_browser: Client,
) -> None:
    response = admin_browser.post(f"{TYPES}add/", {"name": "bad name!", "level": "info"})
    assert response.status_code == 200 and not EventType.objects.filter(name="bad name!")
    response = admin_browser.post(f"{TYPES}add/", {"name": "my_log", "level": "info"})
    assert response.status_code == 302
    custom = EventType.objects.get(name="my_log")
    response = admin_browser.post(f"{TYPES}{custom.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not EventType.objects.filter(name="my_log").exists()


def test_bounded_count_caps_and_labels(records: list[AuditRecord]) -> None:
    everything = AuditRecord.objects.all()
    exact = bounded_count(everything, cap=10)
    assert exact == len(records) and exact.exact and str(exact) == str(len(records))
    capped = bounded_count(everything, cap=2)
    assert capped == 2 and not capped.exact and str(capped) == "2+"
    assert str(BoundedCount(10_000, exact=False)) == "10,000+"
    assert str(BoundedCount(3_400_000, exact=False, estimated=True)) == "~3,400,000"


def test_paginator_count_is_bounded_and_pages_still_work(records: list[AuditRecord]) -> None:
    class Tiny(BoundedPaginator):
        cap = 2

    paginator = Tiny(AuditRecord.objects.order_by("-id"), 1)
    with CaptureQueriesContext(connection) as captured:
        assert paginator.count >= 2
    assert all("LIMIT" in sql.upper() for sql in _record_counts(captured))
    assert len(paginator.page(2).object_list) == 1


@pytest.mark.postgres
def test_unfiltered_count_uses_the_planner_estimate(records: list[AuditRecord]) -> None:
    class Tiny(BoundedPaginator):
        cap = 1

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditrecord")
    count = Tiny(AuditRecord.objects.order_by("-id"), 1).count
    assert count >= 1 and not count.exact
    filtered = Tiny(AuditRecord.objects.filter(level="error").order_by("-id"), 1).count
    assert filtered == 1 and filtered.exact


def test_numbers_that_are_not_ascii_digits_are_no_500(client, django_user_model) -> None:
    """ "²" is a digit to ``str.isdigit`` but not to ``int``."""
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    assert client.get("/admin/audit/auditrecord/", {"q": "²"}).status_code == 200
    answer = client.post("/admin/audit/eventtype/switches/", {"shown": "²", "off-1-²": "on"})
    assert answer.status_code == 302


def test_searching_a_username_finds_their_records_and_names_link_to_pages(
    client, django_user_model
) -> None:
    from audit import logger
    from audit.models import AuditRecord

    alice = django_user_model.objects.create_user("alice", "a@example.com", "pw")
    mine = logger.log("log", "nothing with her name", user=alice)
    other = logger.log("log", "someone else's")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    page = client.get("/admin/audit/auditrecord/", {"q": "alice"}).content.decode()
    assert f"/admin/audit/auditrecord/{mine}/change/" in page
    assert f"/admin/audit/auditrecord/{other}/change/" not in page
    assert 'href="/activity/users/alice/"' in page
    session = AuditRecord.objects.get(pk=mine).session
    assert f'href="/activity/sessions/{session.uuid}/"' in page
