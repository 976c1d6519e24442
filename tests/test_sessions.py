"""Every record joins a session: browser logins, token clients, server code."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit import logger, sessions
from audit.models import AuditRecord, SessionKind, UserSession

from .conftest import post_events

pytestmark = pytest.mark.django_db


def _login(client: Client) -> None:
    response = client.post("/login/", {"username": "alice", "password": "alice-password"})
    assert response.status_code == 302


def test_login_opens_a_browser_session_and_logout_closes_it(user) -> None:
    client = Client(HTTP_USER_AGENT="TestBrowser/1.0")
    _login(client)
    session = UserSession.objects.get(user=user)
    assert session.kind == SessionKind.BROWSER
    assert session.ended_at is None
    assert session.user_agent == "TestBrowser/1.0"
    assert session.ip == "127.0.0.1"
    client.post("/logout/")
    session.refresh_from_db()
    assert session.ended_at is not None


def test_requests_after_login_record_in_that_session(user) -> None:
    client = Client()
    _login(client)
    session = UserSession.objects.get(user=user)
    client.get("/api/audit/config/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    for _ in range(2):
        response = post_events(client, {"message": "x"}, HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 202
    assert set(AuditRecord.objects.values_list("session_id", flat=True)) == {session.pk}
    config = client.get("/api/audit/config/").json()
    assert config["session"] == str(session.uuid)
    assert config["user"] == "alice"


def test_a_new_login_opens_a_new_session(user) -> None:
    first, second = Client(), Client()
    _login(first)
    _login(second)
    assert UserSession.objects.filter(user=user, kind="browser").count() == 2


def test_signing_in_as_someone_else_ends_the_first_users_session(user, other_user) -> None:
    """Django empties the session before ``user_logged_in`` when another user signs in
    over it: the first user's browser session was left open, with no sign-out."""
    other_user.is_staff = True  # the admin's sign-in form is shown to alice, who is not
    other_user.save()
    client = Client()
    _login(client)
    alice = UserSession.objects.get(user=user, kind="browser")
    response = client.post("/admin/login/", {"username": "bob", "password": "bob-password"})
    assert response.status_code == 302
    alice.refresh_from_db()
    bob = UserSession.objects.get(user=other_user, kind="browser")
    assert alice.ended_at is not None and bob.ended_at is None
    client.post("/logout/")
    bob.refresh_from_db()
    assert bob.ended_at is not None


def test_token_clients_get_one_api_session_per_token(token_client: APIClient, user) -> None:
    post_events(token_client, {"message": "a"})
    post_events(token_client, {"message": "b"})
    sessions_used = set(AuditRecord.objects.values_list("session_id", flat=True))
    assert len(sessions_used) == 1
    session = UserSession.objects.get(pk=sessions_used.pop())
    assert (session.kind, session.user_id) == (SessionKind.API, user.pk)


def test_idle_token_session_is_replaced(token_client: APIClient, settings) -> None:
    post_events(token_client, {"message": "a"})
    first = AuditRecord.objects.get().session
    UserSession.objects.filter(pk=first.pk).update(
        last_seen_at=first.last_seen_at.replace(year=2000)
    )
    from django.core.cache import cache

    cache.clear()  # another process, or the cache entry expired
    post_events(token_client, {"message": "b"})
    assert AuditRecord.objects.values("session_id").distinct().count() == 2


def test_token_client_may_join_its_users_open_session(token_client: APIClient, user) -> None:
    browser = sessions.open_session(user, SessionKind.BROWSER)
    response = post_events(token_client, {"message": "x"}, HTTP_X_AUDIT_SESSION=str(browser.uuid))
    assert AuditRecord.objects.get(pk=response.json()["accepted"][0]).session_id == browser.pk


def test_token_client_cannot_join_another_users_session(
    token_client: APIClient, other_user
) -> None:
    foreign = sessions.open_session(other_user, SessionKind.BROWSER)
    response = post_events(token_client, {"message": "x"}, HTTP_X_AUDIT_SESSION=str(foreign.uuid))
    record = AuditRecord.objects.get(pk=response.json()["accepted"][0])
    assert record.session_id != foreign.pk
    assert record.session.user_id == record.user_id


def test_server_code_without_a_user_records_in_a_server_session() -> None:
    record_id = logger.log("log", "nightly job finished")
    record = AuditRecord.objects.get(pk=record_id)
    assert record.user_id is None
    assert record.session.kind == SessionKind.SERVER
    assert record.session.client  # host:pid
    assert (
        logger.log("log", "again") and AuditRecord.objects.values("session").distinct().count() == 1
    )


def test_server_code_acting_for_a_user_joins_that_user(user) -> None:
    record = AuditRecord.objects.get(pk=logger.log("log", "for alice", user=user))
    assert record.user_id == user.pk
    assert record.session.user_id == user.pk and record.session.kind == SessionKind.SERVER


def test_anonymous_request_records_are_marked_anonymous(client: Client) -> None:
    from django.contrib.auth.signals import user_login_failed

    def on_failure(sender, credentials, request, **kwargs):
        logger.log("log", "login failed", {"username": credentials.get("username")})

    user_login_failed.connect(on_failure, dispatch_uid="test-failed-login")
    try:
        client.post("/login/", {"username": "nobody", "password": "wrong"})
    finally:
        user_login_failed.disconnect(dispatch_uid="test-failed-login")
    record = AuditRecord.objects.get(message="login failed")  # beside user-sign-in-failed
    assert record.user_id is None
    assert record.session.kind == SessionKind.ANONYMOUS
    assert record.request_id


def test_a_session_is_touched_once_per_interval_by_each_process(user) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = sessions.open_session(user, SessionKind.BROWSER)
    UserSession.objects.filter(pk=session.pk).update(
        last_seen_at=session.last_seen_at.replace(year=2000)
    )
    ref = sessions.SessionRef(pk=session.pk, uuid=session.uuid, user_id=user.pk)
    with CaptureQueriesContext(connection) as first:
        sessions.touch(ref)
    session.refresh_from_db()
    assert session.last_seen_at.year > 2000
    assert len(first) == 1
    cache.clear()  # even when the shared cache forgets, this process remembers
    with CaptureQueriesContext(connection) as again:
        for _ in range(5):
            sessions.touch(ref)
    assert len(again) == 0
