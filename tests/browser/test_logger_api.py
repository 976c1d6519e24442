"""DG.Logger in a real page: the specification's own snippets, remote switches, the
project's UI events, automatic errors, and silence on signed-out pages.

The logger's timings are shortened for the tests through ``window.DG_LOGGER_OPTIONS``
(set by an init script before any page script runs); everything else is the logger as
every page of the project loads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from audit.models import AuditRecord, EventType

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {
    "flushInterval": 100,
    "retryBase": 100,
    "retryMax": 400,
    "configRefresh": 1000,
    "errorInterval": 1500,
    "requestTimeout": 5000,
}
EVENTS = "**/api/audit/events/"


def sign_in(page: Any, live_server: Any, user: User, options: dict | None = None) -> None:
    """Open a session for ``user`` (``force_login``), hand its cookie to the browser and
    shorten the logger's timings for every page this browser tab opens."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    page.add_init_script(f"window.DG_LOGGER_OPTIONS = {json.dumps({**FAST, **(options or {})})};")


def wait_for(predicate: Callable[[], Any], timeout: float = 8.0, what: str = "") -> Any:
    """Poll ``predicate`` until it is truthy (the database is written by the live server)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def records(**filters: Any) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(**filters).select_related("type").order_by("id"))


def ready(page: Any) -> None:
    """Wait until the page's logger has read its config (it sends nothing before)."""
    page.wait_for_function("DG.Logger.stats().config === 'ok'")


def posted_bodies(page: Any) -> list[list[dict]]:
    """Record the JSON bodies of every POST to the ingest endpoint the page makes."""
    bodies: list[list[dict]] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and "/api/audit/events/" in request.url:
            bodies.append(json.loads(request.post_data or "[]"))

    page.on("request", on_request)
    return bodies


def test_the_specification_snippets_are_stored(live_server, page, user) -> None:
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    page.evaluate(
        """() => {
        // The specification's JavaScript API section, as written there.
        let logger = new DG.Logger();
        logger.log('HELLO WORLD', {test: 'value', 'foo': 'bar'});
        logger.log('HELLO WORLD', {test: 'value', 'foo': 'bar'}, 'my_log');
        logger.log('Error!', {'stackTrace': 'TypeError: x\\n    at f (app.js:1:2)'}, 'error');
        let persistent = new DG.Logger((m) => m.params['persistent'] = 'value');
        persistent.log('WITH CALLBACK', {test: 'value'});
        // Level methods, error(Error), default params.
        let app = new DG.Logger(null, {params: {app: 'demo'}});
        app.audit('an audit line');
        app.warning('a warning', {disk: 91});
        app.error(new TypeError('bad column'), {table: 'sales'});
        }"""
    )
    assert page.evaluate("DG.Logger.flush()") is True
    stored = wait_for(lambda: len(records(user=user)) == 7 and records(user=user), what="7")

    by_message = {(r.message, r.type.name): r for r in stored}
    hello = by_message["HELLO WORLD", "log"]
    assert hello.params == {"test": "value", "foo": "bar"}
    assert hello.source == "client" and hello.client_time is not None
    assert by_message["HELLO WORLD", "my_log"].params == {"test": "value", "foo": "bar"}
    spec_error = by_message["Error!", "error"]
    assert spec_error.stack_trace.startswith("TypeError: x") and spec_error.fingerprint
    assert by_message["WITH CALLBACK", "log"].params == {"test": "value", "persistent": "value"}
    assert by_message["an audit line", "log"].level == "audit"
    warning = by_message["a warning", "log"]
    assert (warning.level, warning.params) == ("warning", {"app": "demo", "disk": 91})
    typed = by_message["TypeError: bad column", "error"]
    assert typed.level == "error" and typed.params == {"app": "demo", "table": "sales"}
    assert "bad column" in typed.stack_trace and "at " in typed.stack_trace
    # One browser session for the page and its events; every id stored once.
    assert len({r.session_id for r in stored}) == 1
    assert len({r.uuid for r in stored}) == 7
    assert {r.uuid.version for r in stored} == {7}  # time-ordered ids from the browser
    page.reload()  # the start page lists them
    assert "HELLO WORLD" in page.inner_text("main")
    screenshot(page, "logger")


def test_text_cut_at_an_emoji_or_holding_a_lone_half_is_still_stored(
    live_server, page, user, settings
) -> None:
    """A message cut between the two halves of an emoji, or a string holding one half
    alone, was refused by the server, and the logger dropped the event."""
    settings.AUDIT_MAX_MESSAGE_LENGTH = 20
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    page.evaluate(
        """() => {
        const logger = new DG.Logger();
        logger.log('x'.repeat(18) + '\\u{1F600}' + 'tail');  // the emoji straddles the cut
        logger.log('half \\ud83d', {['key \\ude00']: ['\\ud83d', 'pair \\u{1F600}']});
        }"""
    )
    assert page.evaluate("DG.Logger.flush()") is True
    stored = wait_for(lambda: len(records(user=user)) == 2 and records(user=user), what="2")
    cut, halves = stored
    assert cut.message == "x" * 18 + "\u2026"
    assert halves.message == "half \ufffd"
    assert halves.params == {"key \ufffd": ["\ufffd", "pair \U0001f600"]}


def test_a_type_switched_off_for_the_group_is_never_requested(live_server, page, group) -> None:
    user = group.user_set.get()
    muted, _ = EventType.objects.get_or_create(name="my_log")
    muted.disabled_for.add(group)
    bodies = posted_bodies(page)
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    assert "my_log" in page.evaluate("DG.Logger.stats().disabledTypes")
    page.evaluate(
        """() => {
        let logger = new DG.Logger();
        logger.log('muted', {n: 1}, 'my_log');
        logger.log('kept', {n: 2});
        logger.log('muted again', {n: 3}, 'my_log');
        }"""
    )
    assert page.evaluate("DG.Logger.flush()") is True
    wait_for(lambda: records(message="kept"), what="the enabled event")
    sent = [event for body in bodies for event in body]
    assert "my_log" not in {event["type"] for event in sent}
    assert not records(type__name="my_log")
    assert page.evaluate("DG.Logger.stats().disabled") == 2

    # Switched off while the page is open: the next config read (every second here)
    # stops the type without a reload.
    EventType.objects.get_or_create(name="usage-ping")[0].disabled_for.add(group)
    page.wait_for_function("DG.Logger.stats().disabledTypes.includes('usage-ping')")
    page.evaluate("new DG.Logger().log('ping', {}, 'usage-ping')")
    page.evaluate("DG.Logger.flush()")
    assert "usage-ping" not in {event["type"] for body in bodies for event in body}


def test_project_pages_record_their_own_ui_events(live_server, page, user) -> None:
    from catalog.models import Project

    project = Project.objects.create(name="Churn", owner=user)
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)

    page.click("nav.mainmenu >> text=Catalog")
    page.wait_for_url("**/catalog/")
    click = wait_for(lambda: records(type__name="main-menu-item-click"), what="menu click")[0]
    assert click.message == "Catalog"
    assert click.params == {"item": "Catalog", "href": "/catalog/", "page": "/"}
    assert click.user_id == user.pk

    rendered = wait_for(lambda: records(type__name="viewer-rendered"), what="viewer")[0]
    assert rendered.params == {
        "viewer": "table",
        "name": "recently-changed",
        "rows": 1,
        "page": "/catalog/",
    }

    page.goto(f"{live_server.url}/catalog/project/{project.pk}/")
    page.fill("#comment-text", "Looks good")
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector(".comment-text")
    ok = wait_for(lambda: records(type__name="dialog-ok"), what="dialog-ok")[0]
    assert ok.params["dialog"] == "comment"
    assert ok.params["action"] == f"/catalog/project/{project.pk}/comment/"

    # A form with data-confirm asks first: Cancel records nothing and does not submit.
    page.evaluate(
        """() => {
        const form = document.createElement('form');
        form.setAttribute('data-confirm', 'Delete the draft?');
        form.setAttribute('data-dialog', 'delete-draft');
        form.addEventListener('submit', (e) => { e.preventDefault(); window.submitted = true; });
        document.body.append(form);
        }"""
    )
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.evaluate("document.querySelector('form[data-confirm]').requestSubmit()")
    assert page.evaluate("window.submitted") is None
    page.once("dialog", lambda dialog: dialog.accept())
    page.evaluate("document.querySelector('form[data-confirm]').requestSubmit()")
    assert page.evaluate("window.submitted") is True
    page.evaluate("DG.Logger.flush()")
    confirmed = wait_for(lambda: records(type__name="dialog-ok", params__dialog="delete-draft"))
    assert len(confirmed) == 1 and confirmed[0].message == "Delete the draft?"


def test_uncaught_errors_and_rejections_are_recorded_once_per_interval(
    live_server, page, user
) -> None:
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    page.evaluate(
        """() => {
        function explode() { throw new Error('boom'); }
        setTimeout(explode);
        Promise.reject(new RangeError('nope'));
        // The same error 50 times in a loop: one record now, one with the count later.
        for (let i = 0; i < 50; i++) setTimeout(() => { null.loop; });
        }"""
    )
    boom = wait_for(lambda: records(message="Error: boom"), what="boom")[0]
    assert boom.type.name == "error" and boom.level == "error"
    assert "explode" in boom.stack_trace and boom.params["source"] == "error"
    nope = wait_for(lambda: records(message="Unhandled rejection: RangeError: nope"))[0]
    assert nope.type.name == "error" and "RangeError: nope" in nope.stack_trace
    assert nope.params["source"] == "unhandledrejection"

    loop = wait_for(
        lambda: (found := records(type__name="error", message__contains="null")) and found,
        what="the loop's first error",
    )
    assert len(loop) == 1 and loop[0].params["count"] == 1
    # After the interval (1.5 s here) the repeats arrive as one record with their count.
    repeats = wait_for(lambda: len(found := records(message=loop[0].message)) == 2 and found)
    assert repeats[1].params["count"] == 49
    assert repeats[1].fingerprint == repeats[0].fingerprint


def test_signed_out_pages_never_post(live_server, page, user) -> None:
    bodies = posted_bodies(page)
    config_answers: list[int] = []
    page.on(
        "response",
        lambda r: config_answers.append(r.status) if "/api/audit/config/" in r.url else None,
    )
    page.goto(f"{live_server.url}/login/")
    page.evaluate("new DG.Logger().log('before sign-in')")
    page.evaluate("setTimeout(() => { throw new Error('anonymous boom') })")
    assert page.evaluate("DG.Logger.flush()") is False
    assert page.evaluate("DG.Logger.stats()")["quiet"] is True
    page.wait_for_timeout(300)
    assert bodies == [] and config_answers == []
    assert not AuditRecord.objects.filter(source="client").exists()
