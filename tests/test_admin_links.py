"""In the admin, one click leads from a user or a session to its activity: the user's
and the session's admin pages link to the activity page and the timeline, and so do the
records and sessions lists."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from audit.logger import log
from audit.models import AuditRecord, UserSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(db: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    return client


@pytest.fixture
def alices_record(user: User) -> AuditRecord:
    return AuditRecord.objects.get(pk=log("log", "hello", user=user))


def _object_tools(page: str) -> str:
    (tools,) = re.findall(r'<ul class="object-tools">(.*?)</ul>', page, re.S)
    return tools


def test_the_user_admin_page_links_to_their_activity_records_and_sessions(
    admin_browser: Client, user: User
) -> None:
    page = admin_browser.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    tools = _object_tools(page)
    assert 'href="/activity/users/alice/"' in tools
    assert 'href="/admin/audit/auditrecord/?user=alice"' in tools
    assert f'href="/admin/audit/usersession/?user__id__exact={user.pk}"' in tools
    assert "History" in tools  # Django's own tool stays


def test_the_session_admin_page_links_to_its_timeline_and_its_user(
    admin_browser: Client, alices_record: AuditRecord
) -> None:
    session = alices_record.session
    page = admin_browser.get(f"/admin/audit/usersession/{session.pk}/change/").content.decode()
    tools = _object_tools(page)
    assert f'href="/activity/sessions/{session.uuid}/"' in tools
    assert 'href="/activity/users/alice/"' in tools


def test_the_record_admin_page_links_to_its_session_timeline_and_its_user(
    admin_browser: Client, alices_record: AuditRecord
) -> None:
    page = admin_browser.get(f"/admin/audit/auditrecord/{alices_record.pk}/change/")
    tools = _object_tools(page.content.decode())
    assert f'href="/activity/sessions/{alices_record.session.uuid}/"' in tools
    assert 'href="/activity/users/alice/"' in tools


def test_the_sessions_list_links_users_and_timelines(
    admin_browser: Client, alices_record: AuditRecord
) -> None:
    session = alices_record.session
    page = admin_browser.get("/admin/audit/usersession/").content.decode()
    (row,) = [r for r in re.findall(r"<tr[ >].*?</tr>", page, re.S) if str(session.uuid) in r]
    assert 'href="/activity/users/alice/"' in row
    assert f'href="/activity/sessions/{session.uuid}/"' in row
    assert f'href="/admin/audit/usersession/{session.pk}/change/"' in row


def test_a_server_session_without_a_user_has_no_user_link(admin_browser: Client) -> None:
    record = AuditRecord.objects.get(pk=log("log", "from a shell"))
    session = UserSession.objects.get(pk=record.session_id)
    assert session.user_id is None
    page = admin_browser.get(f"/admin/audit/usersession/{session.pk}/change/").content.decode()
    tools = _object_tools(page)
    assert f'href="/activity/sessions/{session.uuid}/"' in tools
    assert "/activity/users/" not in tools


def test_the_catalog_admin_lists_link_owners_and_authors(admin_browser: Client, user: User) -> None:
    import audit
    from catalog.models import Comment, Project

    with audit.disabled():
        project = Project.objects.create(name="Sales", owner=user)
    Comment.objects.create(kind="project", object_id=project.pk, author=user, text="ok")
    for url in ("/admin/catalog/project/", "/admin/catalog/comment/"):
        page = admin_browser.get(url).content.decode()
        (table,) = re.findall(r"<tbody>.*?</tbody>", page, re.S)
        assert '<a href="/activity/users/alice/">alice</a>' in table, url
