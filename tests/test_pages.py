"""The product's own pages: sign in, see your latest activity, sign out."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.logger import log
from audit.models import UserSession

pytestmark = pytest.mark.django_db


def _records(user: User, group: Group, count: int) -> None:
    """``count`` records of ``user``, every other one linked to two entities."""
    for index in range(count):
        entities = [group, user] if index % 2 else []
        log(
            "project-opened", f"Opened project P{index}", {"n": index}, entities=entities, user=user
        )


def _home_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/")
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_anonymous_home_redirects_to_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_renders(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    assert "csrfmiddlewaretoken" in page
    assert "audit/app.css" in page


def test_wrong_password_is_refused_with_a_message(client: Client, user: User) -> None:
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_login_shows_own_records_and_session(
    client: Client, user: User, other_user: User, group: Group
) -> None:
    _records(user, group, 3)
    log("log", "Bob's secret note", user=other_user)
    response = client.post("/login/", {"username": "alice", "password": "alice-password"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/").content.decode()
    assert "Opened project P2" in page and "Opened project P0" in page
    assert "Bob&#x27;s secret note" not in page and "secret note" not in page
    assert "analysts" in page  # entity names from the record's links
    assert '<span class="entity-kind">group</span>' in page  # and their registered kinds
    assert '<span class="entity-kind">user</span>' in page
    assert 'class="pill level-usage"' in page
    session = UserSession.objects.get(user=user, kind="browser")
    assert str(session.uuid) in page
    assert "/api/docs/" in page and "drf_create_token alice" in page
    assert "/admin/" not in page  # not staff


def test_staff_see_the_admin_link(client: Client, staff: User) -> None:
    client.force_login(staff)
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_empty_state(client: Client, user: User) -> None:
    client.force_login(user)
    assert "Nothing recorded for you yet" in client.get("/").content.decode()


def test_logout_ends_the_session(client: Client, user: User) -> None:
    client.post("/login/", {"username": "alice", "password": "alice-password"})
    assert client.get("/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/").status_code == 302
    session = UserSession.objects.get(user=user, kind="browser")
    assert session.ended_at is not None


def test_home_queries_do_not_grow_with_records(
    client: Client, user: User, group: Group, **_: Any
) -> None:
    client.force_login(user)
    _records(user, group, 5)
    few = _home_queries(client)
    _records(user, group, 20)
    many = _home_queries(client)
    assert many == few
    assert few <= 9  # one of them: whether a change is staged (deferred tracking)


def test_there_is_a_favicon(client) -> None:
    answer = client.get("/favicon.ico", follow=True)
    assert answer.status_code == 200
    assert b"<svg" in b"".join(answer.streaming_content if answer.streaming else [answer.content])
