"""A person's own activity (``/activity/users/NAME/``) and one session's timeline
(``/activity/sessions/UUID/``): who may see them, order, filters and keyset pages."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit import clock, logger
from audit.context import AuditContext
from audit.models import AuditRecord
from audit.recording import build_event, record_events

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ids(content: bytes) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-record="(\d+)"', content.decode())]


def _more(content: bytes) -> str | None:
    found = re.search(r'data-activity-more data-fragment="([^"]+)"', content.decode())
    return html.unescape(found.group(1)) if found else None


def test_my_activity_lists_what_i_did_newest_first(user, other_user, group) -> None:
    mine = [logger.log("query-start", f"run {n}", {"query": "Q"}, user=user) for n in range(3)]
    logger.log("log", "bob's", user=other_user)
    response = _client(user).get("/activity/users/alice/")
    assert response.status_code == 200
    body = response.content.decode()
    assert _ids(response.content) == mine[::-1]
    assert "My activity" in body and "bob's" not in body
    assert 'aria-current="page">My activity' in body  # the nav link, current


def test_my_activity_walks_pages_and_filters_by_type(user) -> None:
    ids = [logger.log("log", f"m{n}", {"n": n}, user=user) for n in range(7)]
    errors = [logger.log("error", f"e{n}", {"n": n}, user=user) for n in range(2)]
    client = _client(user)
    first = client.get("/activity/users/alice/", {"limit": 3, "type": "log"})
    seen, url = _ids(first.content), _more(first.content)
    while url:
        page = client.get(url)
        assert "<html" not in page.content.decode()
        seen += _ids(page.content)
        url = _more(page.content)
    assert seen == ids[::-1]
    only_errors = client.get("/activity/users/alice/", {"type": "error"})
    assert _ids(only_errors.content) == errors[::-1]


def test_who_may_see_a_persons_activity(user, other_user, staff) -> None:
    assert _client(user).get("/activity/users/alice/").status_code == 200
    assert _client(other_user).get("/activity/users/alice/").status_code == 403
    assert _client(staff).get("/activity/users/alice/").status_code == 200
    assert _client(staff).get("/activity/users/nobody/").status_code == 404
    assert _client(user).get("/activity/users/nobody/").status_code == 403  # no probing
    assert Client().get("/activity/users/alice/").status_code == 302
    assert _client(user).get("/activity/users/alice/", {"before": "x"}).status_code == 400


def test_empty_activity_says_so(user) -> None:
    body = _client(user).get("/activity/users/alice/").content.decode()
    assert "No activity yet" in body


def test_session_timeline_reads_forwards_with_times_from_the_start(user) -> None:
    with clock.backdated(timezone.now() - timedelta(hours=2)):  # a session of this morning
        first = logger.log("log", "step 0", user=user)
    session = AuditRecord.objects.get(pk=first).session
    later = []
    for seconds in (75, 3725):  # +1 min 15 s, +1 h 02 min
        event = build_event("log", f"after {seconds} s")
        at = session.started_at + timedelta(seconds=seconds)
        with clock.backdated(at):
            later += record_events([event], ctx=AuditContext(user=user)).accepted
    response = _client(user).get(f"/activity/sessions/{session.uuid}/")
    assert response.status_code == 200
    assert _ids(response.content) == [first, *later]  # oldest first
    body = response.content.decode()
    assert "+0 s" in body and "+1 min 15 s" in body and "+1 h 02 min" in body


def test_session_timeline_offsets_use_the_clients_clock_where_it_sent_one(user) -> None:
    """A browser's events often arrive in one batch, seconds after they happened: the
    timeline places them when the client says they happened."""
    from .conftest import logged_in, post_events

    client = logged_in(user)
    post_events(client, {"message": "opens the session"})
    session = AuditRecord.objects.get(message="opens the session").session
    happened = session.started_at + timedelta(minutes=10)
    post_events(client, {"message": "clicked", "timestamp": happened.isoformat()})
    body = client.get(f"/activity/sessions/{session.uuid}/").content.decode()
    clicked = body[body.index("clicked") :]
    assert "+10 min 00 s" in clicked[: clicked.index("</li>")]


def test_session_timeline_pages_forwards(user) -> None:
    ids = [logger.log("log", f"step {n}", {"n": n}, user=user) for n in range(7)]
    session = AuditRecord.objects.get(pk=ids[0]).session
    client = _client(user)
    first = client.get(f"/activity/sessions/{session.uuid}/", {"limit": 3})
    seen, url = _ids(first.content), _more(first.content)
    assert "after=" in (url or "")
    while url:
        page = client.get(url)
        seen += _ids(page.content)
        url = _more(page.content)
    assert seen == ids
    assert "Session timeline" in first.content.decode()


def test_who_may_see_a_session(user, other_user, staff) -> None:
    pk = logger.log("log", "x", user=user)
    session = AuditRecord.objects.get(pk=pk).session
    url = f"/activity/sessions/{session.uuid}/"
    assert _client(user).get(url).status_code == 200
    assert _client(other_user).get(url).status_code == 404  # as if it did not exist
    assert _client(staff).get(url).status_code == 200
    missing = "/activity/sessions/00000000-0000-4000-8000-000000000000/"
    assert _client(staff).get(missing).status_code == 404
    assert _client(user).get(url, {"after": "soon"}).status_code == 400


def test_my_activity_links_my_sessions(user) -> None:
    pk = logger.log("log", "x", user=user)
    session = AuditRecord.objects.get(pk=pk).session
    body = _client(user).get("/activity/users/alice/").content.decode()
    assert f'href="/activity/sessions/{session.uuid}/"' in body
