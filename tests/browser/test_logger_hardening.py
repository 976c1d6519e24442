"""DG.Logger under hostile conditions: a signed-out visitor's events never become the
next user's, a full localStorage never loses an event, and params nested deeper than
the server allows are cut on the client rather than refused with their event.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .test_logger_api import FAST, ready, records, sign_in, wait_for
from .test_logger_delivery import STORED_QUEUES, outage  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

# A page of one's own, as the README shows it: logger.js without data-user, so the
# logger learns its user from /api/audit/config/ only.
CUSTOM = """<!doctype html><html><head><title>custom</title></head><body>
<p>A page of your own</p>
<script src="/static/audit/logger.js"></script>
<script>
  new DG.Logger().log(%s, {secret: 'visitor data'});
</script></body></html>"""

FILL_STORAGE = """() => {
    let big = 'x'.repeat(256 * 1024), small = 'y'.repeat(1024), i = 0, j = 0, k = 0;
    try { for (;; i++) localStorage.setItem('other-app-big-' + i, big); } catch (e) {}
    try { for (;; j++) localStorage.setItem('other-app-small-' + j, small); } catch (e) {}
    try { for (;; k++) localStorage.setItem('other-app-tiny-' + k, 'z'); } catch (e) {}
    return i + j + k;
}"""

FREE_STORAGE = """() => Object.keys(localStorage)
    .filter((key) => key.startsWith('other-app-'))
    .forEach((key) => localStorage.removeItem(key))"""


def custom_page(page: Any, live_server: Any, message: str) -> str:
    url = f"{live_server.url}/my-own-page/"
    body = CUSTOM % json.dumps(message)
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=body))
    return url


# --- 1. a visitor's events are never another user's ----------------------------------


def test_a_visitors_events_are_never_sent_as_the_next_user(live_server, page, user) -> None:
    page.add_init_script(f"window.DG_LOGGER_OPTIONS = {json.dumps(FAST)};")
    page.goto(custom_page(page, live_server, "logged by a visitor"))  # no session
    page.wait_for_function("DG.Logger.stats().config === 'quiet'")
    # Signed out: the event logged before the config answered is forgotten, in memory
    # and in storage.
    assert page.evaluate("DG.Logger.stats().queued") == 0
    assert "logged by a visitor" not in page.evaluate(STORED_QUEUES)
    page.goto("about:blank")

    sign_in(page, live_server, user)  # alice signs in next, in the same browser
    page.goto(f"{live_server.url}/")
    ready(page)
    assert page.evaluate("DG.Logger.flush()") is True
    page.wait_for_timeout(300)
    assert not records(message="logged by a visitor")


def test_events_of_a_page_that_never_knew_its_user_are_not_adopted(live_server, page, user) -> None:
    """A page closed before its config answered left events of unknown user (u: null)
    in storage: no other page may send them as its own user's."""
    page.goto(f"{live_server.url}/login/")  # same origin; a signed-out page
    page.evaluate(
        """() => localStorage.setItem('dg-audit:v1:q:someone-elses-page', JSON.stringify({
        t: Date.now(), closed: true, items: [
          {u: null, s: 100, e: {id: '0190a0a0-0000-7000-8000-000000000001',
            timestamp: new Date().toISOString(), type: 'log',
            message: 'user never known', params: {secret: 'visitor data'}}},
          {u: 'alice', s: 100, e: {id: '0190a0a0-0000-7000-8000-000000000002',
            timestamp: new Date().toISOString(), type: 'log',
            message: 'left by alice', params: {}}}]}))"""
    )
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    assert page.evaluate("DG.Logger.flush()") is True
    (alices,) = wait_for(lambda: records(message="left by alice"), what="alice's event")
    assert alices.user_id == user.pk
    page.wait_for_timeout(300)
    assert not records(message="user never known")
    assert "user never known" not in page.evaluate(STORED_QUEUES)


def test_a_signed_in_custom_page_still_sends_what_it_logged_before_its_config(
    live_server, page, user
) -> None:
    sign_in(page, live_server, user)
    page.goto(custom_page(page, live_server, "logged before the config answered"))
    ready(page)
    assert page.evaluate("DG.Logger.flush()") is True
    (found,) = wait_for(lambda: records(message="logged before the config answered"))
    assert found.user_id == user.pk and found.params == {"secret": "visitor data"}


# --- 2. a full localStorage loses nothing -------------------------------------------


def test_a_full_local_storage_keeps_events_in_memory_and_sends_them(
    live_server,
    page,
    user,
    outage,
) -> None:
    sign_in(page, live_server, user, {"heartbeat": 200})
    page.goto(f"{live_server.url}/")
    ready(page)
    assert page.evaluate(FILL_STORAGE) > 0  # another app of the origin filled it

    outage.on = True  # the event has to wait in the queue for a while
    page.evaluate("new DG.Logger().log('kept although storage is full')")
    page.wait_for_function("DG.Logger.stats().retries >= 1")
    page.wait_for_timeout(500)  # a few saves (heartbeat) that fail
    stats = page.evaluate("DG.Logger.stats()")
    assert stats["queued"] == 1 and stats["dropped"] == 0

    page.evaluate(FREE_STORAGE)  # room again: the queue is stored on a later save
    page.wait_for_function(
        f"({STORED_QUEUES})().includes('kept although storage is full')", timeout=5000
    )
    page.evaluate(FILL_STORAGE)
    outage.on = False
    assert page.evaluate("DG.Logger.flush()") is True
    (found,) = wait_for(lambda: records(message="kept although storage is full"))
    assert found.user_id == user.pk


def test_a_single_event_is_sent_while_local_storage_is_full(live_server, page, user) -> None:
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    page.evaluate(FILL_STORAGE)
    page.evaluate("new DG.Logger().log('must arrive although storage is full')")
    assert page.evaluate("DG.Logger.flush()") is True
    assert wait_for(lambda: records(message="must arrive although storage is full"))
    assert page.evaluate("DG.Logger.stats().dropped") == 0


# --- 3. params deeper than the server allows ------------------------------------------


def test_params_deeper_than_the_default_limit_are_cut_not_lost(live_server, page, user) -> None:
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    page.evaluate(
        """() => {
        let deep = {v: 1};
        for (let i = 0; i < 10; i++) deep = {child: deep};
        new DG.Logger().log('a response logged as params', {response: deep, list: [[[1]]]});
        }"""
    )
    assert page.evaluate("DG.Logger.flush()") is True
    (found,) = wait_for(lambda: records(message="a response logged as params"))
    assert page.evaluate("DG.Logger.stats().rejected") == 0
    # params is level 1, response level 2: levels up to 8 are kept.
    level = found.params["response"]
    for _ in range(6):
        level = level["child"]
    assert level == {"child": "[Too deep]"}
    assert found.params["list"] == [[[1]]]


def test_params_depth_follows_the_servers_limit(live_server, page, user, settings) -> None:
    settings.AUDIT_MAX_PARAMS_DEPTH = 3
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    assert page.evaluate("DG.Logger.flush()") is True
    page.evaluate(
        """() => new DG.Logger().log('three levels at most',
            {a: {b: {c: {d: 1}}, list: [[1], 2]}, err: new Error('boom'), ok: {x: 1}})"""
    )
    assert page.evaluate("DG.Logger.flush()") is True
    (found,) = wait_for(lambda: records(message="three levels at most"))
    assert found.params["a"] == {"b": {"c": "[Too deep]"}, "list": ["[Too deep]", 2]}
    assert found.params["err"]["message"] == "boom" and found.params["ok"] == {"x": 1}
    assert page.evaluate("DG.Logger.stats().rejected") == 0
