"""A record written by a Celery task joins the user and session that queued it."""

from __future__ import annotations

import pytest
from celery import shared_task
from django.test import Client

from audit import logger
from audit.celery_context import context_from_headers
from audit.context import AuditContext, SessionRef, bind
from audit.models import AuditRecord, UserSession


@shared_task(name="tests.record_from_task")
def record_from_task(message: str) -> int | None:
    from django.db import connection

    try:
        return logger.log("log", message)
    finally:
        connection.close()  # the worker thread's own connection would outlive the test DB


def test_headers_round_trip_to_a_context(user) -> None:
    ctx = context_from_headers(
        {
            "user_id": user.pk,
            "session": [7, "0d6c3a1e-2f4b-4a57-9d51-0b3c8f1b6a10"],
            "request_id": "r1",
        }
    )
    assert ctx.user == user and ctx.session.pk == 7 and ctx.request_id == "r1"
    assert context_from_headers(None) is None


def test_a_task_queued_before_the_request_recorded_joins_its_browser_session(user) -> None:
    """The request resolves its session when it first records; a task queued before
    that carried none, and its records joined a server session of their own."""
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.test import RequestFactory

    from audit.celery_context import _add_headers
    from audit.middleware import context_for

    client = Client()
    client.force_login(user)
    browser = UserSession.objects.get(user=user, kind="browser")
    request = RequestFactory().get("/")
    request.COOKIES.update({name: cookie.value for name, cookie in client.cookies.items()})
    SessionMiddleware(lambda r: None).process_request(request)
    AuthenticationMiddleware(lambda r: None).process_request(request)
    headers: dict = {}
    with bind(context_for(request)):
        _add_headers(headers=headers)  # as Celery's before_task_publish runs it
    with bind(context_from_headers(headers["audit_context"])):
        record = AuditRecord.objects.get(pk=logger.log("log", "from the task"))
    assert record.session_id == browser.pk


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_task_in_a_real_worker_records_for_the_requesting_user(user, settings) -> None:
    from celery.contrib.testing.worker import start_worker

    from auditproj.celery import app

    client = Client()
    assert (
        client.post("/login/", {"username": "alice", "password": "alice-password"}).status_code
        == 302
    )
    session = UserSession.objects.get(user=user)
    # The context a view in that browser session binds before queueing the task.
    ctx = AuditContext(
        user=user,
        session=SessionRef(pk=session.pk, uuid=session.uuid, user_id=user.pk),
        request_id="req-queued-the-task",
    )
    with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1):
        with bind(ctx):
            result = record_from_task.delay("from the worker")
        record_id = result.get(timeout=30)
    record = AuditRecord.objects.get(pk=record_id)
    assert record.user_id == user.pk
    assert record.session_id == session.pk
    # The worker thread never saw this thread's contextvar: only the headers carry it.
    assert record.request_id == "req-queued-the-task"
