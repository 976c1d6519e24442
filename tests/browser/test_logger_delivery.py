"""DG.Logger's delivery in a real browser: retries while the server is unreachable,
a queue that survives a reload, events logged just before leaving a page, refused
batches that never block the queue, and events that stay with the user who logged them.

Every check counts stored records: "exactly once" is the server's idempotency on the
event ids plus the logger never dropping what it has not seen acknowledged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.response import Response

from audit.api.views import EventsView

from .test_logger_api import EVENTS, posted_bodies, ready, records, sign_in, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

STORED_QUEUES = """() => Object.keys(localStorage)
    .filter((key) => key.startsWith('dg-audit:v1:q:'))
    .flatMap((key) => JSON.parse(localStorage.getItem(key)).items.map((item) => item.e.message))"""


class Outage:
    """The ingest endpoint answers 503 while ``on``, to every request, whatever sends
    it: page.route() does not see the keepalive request a page sends as it unloads."""

    def __init__(self) -> None:
        self.on = False
        self.refused = 0


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Outage:
    state = Outage()
    post = EventsView.post

    def failing_post(view: EventsView, request: Any, *args: Any, **kwargs: Any) -> Response:
        if state.on:
            state.refused += 1
            return Response({"detail": "Down for maintenance."}, status=503)
        return post(view, request, *args, **kwargs)

    monkeypatch.setattr(EventsView, "post", failing_post)
    return state


def log(page: Any, *messages: str) -> None:
    page.evaluate("(messages) => messages.forEach((m) => new DG.Logger().log(m))", list(messages))


def test_events_logged_while_the_server_is_unreachable_arrive_exactly_once(
    live_server, page, user
) -> None:
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    answers: list[str] = []

    def unreachable(route: Any) -> None:
        if not answers:
            # The server stores the batch but the answer is lost (a proxy's 502): the
            # logger must send it again and the server must not store it twice.
            route.fetch()
            answers.append("stored, 502")
            route.fulfill(status=502, body="Bad gateway")
        elif len(answers) < 3:
            answers.append("503")
            route.fulfill(status=503, body="Service unavailable")
        else:
            answers.append("network error")
            route.abort()

    page.route(EVENTS, unreachable)
    log(page, "offline 1", "offline 2", "offline 3")
    page.wait_for_function("DG.Logger.stats().retries >= 5", timeout=8000)
    assert page.evaluate("DG.Logger.stats().queued") == 3
    assert answers[:4] == ["stored, 502", "503", "503", "network error"]
    assert len(records(message__startswith="offline")) == 3  # the "lost" answer's batch

    page.unroute(EVENTS)
    assert page.evaluate("DG.Logger.flush()") is True
    stats = page.evaluate("DG.Logger.stats()")
    assert stats["queued"] == 0 and stats["duplicates"] == 3
    stored = records(message__startswith="offline")
    assert [r.message for r in stored] == ["offline 1", "offline 2", "offline 3"]
    assert page.evaluate(STORED_QUEUES) == []


def test_the_queue_survives_a_reload(live_server, page, user, outage) -> None:
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    outage.on = True
    log(page, "before reload 1", "before reload 2")
    page.wait_for_function("DG.Logger.stats().retries >= 1")
    assert sorted(page.evaluate(STORED_QUEUES)) == ["before reload 1", "before reload 2"]

    refused = outage.refused
    page.reload()  # the send as the page unloads is refused too: the events wait in storage
    ready(page)
    page.wait_for_function("DG.Logger.stats().retries >= 1")
    assert page.evaluate("DG.Logger.stats().queued") == 2
    assert outage.refused >= refused + 2  # the unload's send and the new page's
    assert not records(message__startswith="before reload")

    outage.on = False
    assert page.evaluate("DG.Logger.flush()") is True
    stored = records(message__startswith="before reload")
    assert sorted(r.message for r in stored) == ["before reload 1", "before reload 2"]
    assert page.evaluate(STORED_QUEUES) == []
    page.wait_for_timeout(300)
    assert len(records(message__startswith="before reload")) == 2


def test_events_logged_just_before_leaving_arrive(live_server, page, user) -> None:
    # Long batching interval: only the pagehide send (or the next page) can deliver.
    sign_in(page, live_server, user, {"flushInterval": 60_000})
    page.goto(f"{live_server.url}/")
    ready(page)

    # To another page of the project.
    page.evaluate("new DG.Logger().log('leaving for the catalog'); location.href = '/catalog/'")
    page.wait_for_url("**/catalog/")
    wait_for(lambda: records(message="leaving for the catalog"), what="next-page delivery")

    # Out of the project (about:blank runs no logger): the keepalive send alone delivers.
    page.evaluate("new DG.Logger().log('leaving the site', {n: 1})")
    page.goto("about:blank")
    left = wait_for(lambda: records(message="leaving the site"), what="keepalive delivery")
    assert left[0].params == {"n": 1}
    assert len(records(message="leaving for the catalog")) == 1


def test_refused_batches_and_events_never_block_the_queue(live_server, page, user) -> None:
    sign_in(page, live_server, user, {"batchSize": 8})
    page.goto(f"{live_server.url}/")
    ready(page)
    sizes: list[int] = []

    def small_batches_only(route: Any) -> None:
        size = len(json.loads(route.request.post_data))
        sizes.append(size)
        if size > 3:
            route.fulfill(status=413, json={"detail": "The batch has too many events."})
        else:
            route.continue_()

    page.route(EVENTS, small_batches_only)
    log(page, *(f"batch {n}" for n in range(6)))
    assert page.evaluate("DG.Logger.flush()") is True
    assert len(records(message__startswith="batch ")) == 6
    assert sizes == [6, 3, 3]  # halved once, then kept to
    page.unroute(EVENTS)

    # An event the server refuses on its own (an invalid type name) is dropped; its
    # companions are stored; nothing is retried.
    bodies = posted_bodies(page)
    log(page, "good 1")
    page.evaluate("new DG.Logger().log('bad', {}, 'not a valid type!')")
    log(page, "good 2")
    assert page.evaluate("DG.Logger.flush()") is True
    assert [r.message for r in records(message__startswith="good")] == ["good 1", "good 2"]
    assert not records(message="bad")
    stats = page.evaluate("DG.Logger.stats()")
    assert stats["rejected"] == 1 and stats["queued"] == 0 and len(bodies) == 1

    # The queue is bounded: past maxQueue the oldest events go, and are counted.
    page.route(EVENTS, lambda route: route.abort())
    page.evaluate("DG.Logger.configure({maxQueue: 5})")
    log(page, *(f"bounded {n}" for n in range(8)))
    assert page.evaluate("DG.Logger.stats().dropped") == 3
    page.unroute(EVENTS)
    assert page.evaluate("DG.Logger.flush()") is True
    assert [r.message for r in records(message__startswith="bounded")] == [
        f"bounded {n}" for n in range(3, 8)
    ]


def test_events_wait_for_the_user_who_logged_them(
    live_server, page, user, other_user, outage
) -> None:
    """Alice's last events could not be sent before she signed out; Bob signs in next in
    the same browser: his pages must not send them as his, hers do."""
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/")
    ready(page)
    outage.on = True
    log(page, "alice's event")
    page.wait_for_function("DG.Logger.stats().retries >= 1")
    page.click("form.signout button")
    page.wait_for_url("**/login/")
    outage.on = False

    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", "bob-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    ready(page)
    assert page.evaluate("DG.Logger.stats().user") == "bob"
    log(page, "bob's event")
    assert page.evaluate("DG.Logger.flush()") is True
    (bobs,) = records(message="bob's event")
    assert bobs.user_id == other_user.pk
    assert page.evaluate("DG.Logger.stats().queued") == 1  # Alice's, kept for her
    assert not records(message="alice's event")

    page.click("form.signout button")
    page.wait_for_url("**/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    ready(page)
    assert page.evaluate("DG.Logger.flush()") is True
    (alices,) = records(message="alice's event")
    assert alices.user_id == user.pk
