"""A person opens a query's page and reads its activity panel: the right entries newest
first, a filter by type, "load more" appending older entries, all without a reload."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

import audit
from audit import clock, sessions
from audit.context import AuditContext, SessionRef
from audit.models import SessionKind
from audit.recording import build_event, record_events

from .conftest import screenshot

# serialized_rollback: the flush after a transactional test also empties the event
# types the data migration seeded; this restores them, so "error" stays an error.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

OLD_SQL = """SELECT region, sum(amount) AS revenue
FROM sales
WHERE year = 2024
GROUP BY region
ORDER BY revenue DESC"""
NEW_SQL = """SELECT region, sum(amount) AS revenue, count(*) AS orders
FROM sales
WHERE year = 2025 AND NOT refunded
GROUP BY region
ORDER BY revenue DESC"""


def _story(query, project, alice, bob, analysts) -> None:
    """Five weeks of a query's life, oldest first, backdated."""
    now = timezone.now()
    about = [query, ("project", str(project.pk), "project")]

    def at(minutes_ago: float, user, type_name: str, message: str = "", **kwargs) -> None:
        event = build_event(
            type_name, message, kwargs.pop("params", None), entities=about, **kwargs
        )
        with clock.backdated(now - timedelta(minutes=minutes_ago)):
            record_events([event], ctx=AuditContext(user=user))

    at(60_000, alice, "query-created")
    for n in range(24):  # older history, for "load more"
        at(50_000 - n * 1_000, None, "log", f"Nightly refresh #{n + 1} of Sales by region")
    at(
        20_000,
        alice,
        "query-edited",
        changes={
            "text": {"old": OLD_SQL, "new": NEW_SQL},
            "name": {"old": "Sales", "new": "Sales by region"},
        },
    )
    event = build_event(
        "entity-shared",
        "Shared query Sales by region with analysts",
        {"kind": "query", "name": "Sales by region"},
        entities=[*about, ("group", analysts.pk, "shared-with")],
    )
    with clock.backdated(now - timedelta(minutes=9_000)):
        record_events([event], ctx=AuditContext(user=alice))
    for minutes in (600, 540, 480, 420, 360):
        at(minutes, bob, "query-start", "Started query Sales by region", params={"kind": "query"})
    at(355, bob, "table-produced", params={"table": "sales_by_region", "rows": 1284})
    at(300, bob, "comment-posted", params={"text": "The 2025 numbers look right now, thanks!"})
    at(120, bob, "error", "TypeError: Cannot read properties of undefined (reading 'columns')")
    at(
        45,
        alice,
        "query-edited",
        changes={"parameters": {"old": {"year": 2024}, "new": {"year": 2025, "region": "EU"}}},
    )
    at(3, alice, "query-published")


def test_entity_page_panel_filters_and_loads_more(live_server, page, user, other_user) -> None:
    from catalog.models import Project, Query

    analysts = Group.objects.create(name="analysts")
    with audit.disabled():  # the story below records the creation, backdated
        project = Project.objects.create(name="Revenue", owner=user)
        query = Query.objects.create(
            name="Sales by region", owner=user, project=project, text=NEW_SQL
        )
    _story(query, project, user, other_user, analysts)

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/catalog/query/{query.pk}/")

    panel = page.locator(".act-panel")
    entries = panel.locator("[data-activity-list] > li")
    entries.first.wait_for()
    texts = entries.all_inner_texts()
    assert "published the query" in texts[0] and "Sales by region" in texts[0]
    assert "year" in texts[1] and "2025" in texts[1]  # the parameters edit, diffed
    assert texts[2].startswith("!") or "error: TypeError" in texts[2]
    runs = next(t for t in texts if "ran the query" in t)
    assert "5 times" in runs
    assert any("shared the query" in t and "analysts" in t for t in texts)
    before_more = panel.locator("[data-record]").evaluate_all(
        "els => els.map(e => Number(e.dataset.record))"
    )
    assert before_more == sorted(before_more, reverse=True)

    # Filter by type: the list is replaced in place, the page does not reload.
    page.evaluate("window.__notReloaded = true")
    panel.locator("select[name=type]").select_option("query-start")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.act-panel [data-activity-list] > li')]"
        ".every(li => li.dataset.type === 'query-start')"
    )
    assert entries.count() == 1 and "5 times" in entries.first.inner_text()
    assert page.evaluate("window.__notReloaded") is True

    # Back to every type, then load the older history.
    panel.locator("select[name=type]").select_option("")
    page.wait_for_function(
        "() => document.querySelectorAll('.act-panel [data-activity-list] > li').length > 5"
    )
    shown = entries.count()
    panel.locator("a[data-activity-more]").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('.act-panel [data-activity-list] > li').length > {shown}"
    )
    ids = panel.locator("[data-record]").evaluate_all(
        "els => els.map(e => Number(e.dataset.record))"
    )
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    assert "Nightly refresh #1 of" in panel.inner_text()  # the oldest record, appended
    assert page.evaluate("window.__notReloaded") is True
    assert panel.locator("a[data-activity-more]").count() == 0
    assert "That's everything" in panel.inner_text()

    entries.first.scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "activity-panel")


def test_my_activity_and_a_session_timeline(live_server, page, user) -> None:
    """From the main menu to one's own activity, then to one session's timeline."""
    start = timezone.now() - timedelta(hours=2)
    steps = [
        ("project-opened", {"kind": "project", "name": "Revenue"}, 0),
        ("query-start", {"kind": "query", "name": "Sales by region"}, 95),
        ("table-produced", {"table": "sales_by_region", "rows": 1284}, 97),
        ("viewer-rendered", {"viewer": "Bar chart"}, 130),
        ("error", {}, 300),
    ]
    with clock.backdated(start):  # the session started with the first of them
        session = sessions.open_session(user, SessionKind.SERVER)
    ref = SessionRef(pk=session.pk, uuid=session.uuid, user_id=user.pk)
    for type_name, params, seconds in steps:
        message = "TypeError: x is undefined" if type_name == "error" else ""
        event = build_event(type_name, message, params)
        at = start + timedelta(seconds=seconds)
        with clock.backdated(at):
            record_events([event], ctx=AuditContext(user=user, session=ref))

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.click("nav.mainmenu >> text=My activity")
    page.wait_for_url(f"{live_server.url}/activity/users/alice/")
    entries = page.locator("[data-activity-list] > li")
    assert "signed in" in entries.first.inner_text()  # the sign-in just now is recorded
    assert "error: TypeError" in entries.nth(1).inner_text()
    assert "opened the project Revenue" in entries.last.inner_text()
    screenshot(page, "activity-user")

    page.locator(".act-sessions a", has_text="Server").first.click()
    page.wait_for_url(f"{live_server.url}/activity/sessions/**")
    texts = page.locator("[data-activity-list] > li").all_inner_texts()
    assert "opened the project Revenue" in texts[0]  # a timeline reads forwards
    assert any("+1 min 35 s" in text for text in texts)
    screenshot(page, "activity-session")
