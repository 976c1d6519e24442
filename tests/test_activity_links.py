"""One click between related things outside the admin: a person's name links to their
activity page, and a record's session to its timeline, in the activity panel, on the
user page and the session timeline, in the catalog's lists and pages and on the start
page; but only for a reader who may open the page (a person's activity is theirs and
staff's, a session's timeline its user's and staff's)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

import audit
from audit.context import AuditContext
from audit.models import AuditRecord
from audit.recording import build_event, record_events
from catalog.models import Comment, Project, Query

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _record(user: User, type_name: str, entity: object) -> AuditRecord:
    event = build_event(type_name, "", entities=[entity])
    (record_id,) = record_events([event], ctx=AuditContext(user=user)).accepted
    return AuditRecord.objects.select_related("session").get(pk=record_id)


def _entry(page: str, record: AuditRecord) -> str:
    start = rf'<li class="act-entry[^"]*" data-record="{record.pk}"'
    found = re.search(start + r'.*?</li>\s*(?=<li class="act-entry|</ol>)', page, re.S)
    assert found, f"record {record.pk} is not on the page"
    return found.group(0)


def _user_href(name: str) -> str:
    return f'href="/activity/users/{name}/"'


def _session_href(record: AuditRecord) -> str:
    return f'href="/activity/sessions/{record.session.uuid}/"'


@pytest.fixture
def story(user: User, other_user: User) -> tuple[Query, AuditRecord, AuditRecord]:
    """alice's query, shared with bob: bob ran it, alice edited it."""
    with audit.disabled():
        project = Project.objects.create(name="Revenue", owner=user)
        query = Query.objects.create(name="Sales", owner=user, project=project)
        query.shared_with_users.add(other_user)
    ran = _record(other_user, "query-start", query)
    edited = _record(user, "query-edited", query)
    return query, ran, edited


def test_the_panel_links_names_and_sessions_for_staff(staff: User, story) -> None:
    query, ran, edited = story
    page = _client(staff).get(f"/activity/query/{query.pk}/").content.decode()
    bob, alice = _entry(page, ran), _entry(page, edited)
    assert re.search(r'<a class="user-link act-who" href="/activity/users/bob/"[^>]*>bob</a>', bob)
    assert _session_href(ran) in bob
    assert _user_href("alice") in alice and _session_href(edited) in alice


def test_the_panel_links_only_what_its_reader_may_open(user: User, story) -> None:
    query, ran, edited = story
    page = _client(user).get(f"/catalog/query/{query.pk}/").content.decode()
    bob, alice = _entry(page, ran), _entry(page, edited)
    assert _user_href("bob") not in bob and '<span class="act-who">bob</span>' in bob
    assert "/activity/sessions/" not in bob  # bob's session is not alice's to open
    assert _user_href("alice") in alice and _session_href(edited) in alice


def test_the_user_page_links_each_records_session(staff: User, story) -> None:
    _, ran, _ = story
    page = _client(staff).get("/activity/users/bob/").content.decode()
    entry = _entry(page, ran)
    assert _user_href("bob") in entry and _session_href(ran) in entry


def test_the_session_timeline_links_names(staff: User, story) -> None:
    _, ran, _ = story
    page = _client(staff).get(f"/activity/sessions/{ran.session.uuid}/").content.decode()
    entry = _entry(page, ran)
    assert _user_href("bob") in entry
    assert "/activity/sessions/" not in entry  # the page it is on


def test_catalog_lists_and_pages_link_names(staff: User, other_user: User, story) -> None:
    query, _, _ = story
    Comment.objects.create(kind="query", object_id=query.pk, author=other_user, text="ok")
    client = _client(staff)
    for url in ("/catalog/", "/catalog/queries/"):
        (table,) = re.findall(r"<tbody>.*?</tbody>", client.get(url).content.decode(), re.S)
        assert _user_href("alice") in table, url  # the owner
    detail = client.get(f"/catalog/query/{query.pk}/").content.decode()
    (head,) = re.findall(r'<p class="entity-meta">.*?</p>', detail, re.S)
    assert _user_href("alice") in head  # "Owned by"
    (sharing,) = re.findall(r'<section class="card" id="sharing".*?</section>', detail, re.S)
    assert _user_href("bob") in sharing  # shared with bob
    (comments,) = re.findall(
        r'<section[^>]*aria-labelledby="comments-title".*?</section>', detail, re.S
    )
    assert _user_href("bob") in comments  # bob's comment


def test_catalog_lists_link_only_the_readers_own_name(user: User, other_user: User) -> None:
    with audit.disabled():
        Project.objects.create(name="Mine", owner=user)
        theirs = Project.objects.create(name="Theirs", owner=other_user, published=False)
        theirs.shared_with_users.add(user)
    page = _client(user).get("/catalog/projects/").content.decode()
    (table,) = re.findall(r"<tbody>.*?</tbody>", page, re.S)  # not the menu's "My activity"
    assert _user_href("alice") in table
    assert _user_href("bob") not in table and ">bob<" in table


def test_the_start_page_links_the_current_session(user: User) -> None:
    client = _client(user)
    page = client.get("/").content.decode()
    session = re.search(r'<code class="uuid">([0-9a-f-]{36})</code>', page)
    assert session is not None
    assert f'href="/activity/sessions/{session.group(1)}/"' in page


def test_the_start_page_sends_staff_to_their_records_filtered_by_name(staff: User) -> None:
    page = _client(staff).get("/").content.decode()
    assert 'href="/admin/audit/auditrecord/?user=admin"' in page
