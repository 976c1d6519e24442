"""Usage analysis in a real browser: the plots draw without a script error, in light and
dark, the filters change them, and a bar opens the records behind it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

import audit
from tests.analysis_helpers import at

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def _history(user: User, other: User) -> None:
    """Each of the six days before today: ``days_ago`` dialogs of ``user`` late in the
    morning and a render of ``other`` after them, so that every one falls on its own day
    inside the overview's week whatever the time of the run (a run just after midnight
    put the oldest day's records, an hour before the same time six days ago, in the day
    before the week); then an error three hours ago."""
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    for days_ago in range(6, 0, -1):
        morning = today - timedelta(days=days_ago) + timedelta(hours=11)
        for n in range(days_ago):
            at(user, morning + timedelta(minutes=n), "dialog-ok")
        at(other, morning + timedelta(minutes=30), "viewer-rendered")
    at(user, now - timedelta(hours=3), "error", stack_trace="TypeError: x\n    at f (a.js:1:1)")


def _sign_in(page, url: str) -> None:
    page.goto(f"{url}/login/?next=/analysis/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "root-password")
    page.click("button[type=submit]")
    page.wait_for_url("**/analysis/")


def test_the_overview_draws_filters_and_drills_down(live_server, page) -> None:
    User.objects.create_superuser("root", "root@example.com", "root-password")
    alice = User.objects.create_user("alice", password="x")
    bob = User.objects.create_user("bob", password="x")
    _history(alice, bob)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    _sign_in(page, live_server.url)
    page.wait_for_selector("#chart-usage[data-drawn] svg")
    assert page.locator("#chart-types[data-drawn] svg").count() == 1
    screenshot(page, "analysis-overview")
    bars = page.locator("#chart-usage svg path[fill]").count()
    assert bars > 0

    # A filter changes the figures: only alice's dialogs.
    page.fill("input[name=type]", "dialog-ok")
    page.click(".an-fields button[type=submit]")
    page.wait_for_selector("#chart-usage[data-drawn] svg")
    assert "type=dialog-ok" in page.url
    assert page.locator(".kpi").first.inner_text().splitlines()[1].strip() == "21"
    screenshot(page, "analysis-overview-filtered")

    # A bar opens the records of its day: click inside the tallest bar.
    x, y = page.evaluate(
        """() => {
            const node = document.getElementById("chart-usage");
            const data = JSON.parse(document.getElementById("usage-data").textContent);
            const index = data.events.indexOf(Math.max(...data.events));
            const chart = echarts.getInstanceByDom(node);
            const half = data.events[index] / 2;
            return chart.convertToPixel({seriesIndex: 0}, [index, half]);
        }"""
    )
    with page.expect_navigation():
        page.locator("#chart-usage").click(position={"x": x, "y": y})
    assert "/analysis/records/" in page.url
    assert page.locator(".record").count() >= 1
    screenshot(page, "analysis-records")
    assert errors == []


def test_dark_theme_and_the_error_pages(live_server, browser) -> None:
    User.objects.create_superuser("root", "root@example.com", "root-password")
    alice = User.objects.create_user("alice", password="x")
    _history(alice, User.objects.create_user("bob", password="x"))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        _sign_in(page, live_server.url)
        page.wait_for_selector("#chart-usage[data-drawn] svg")
        screenshot(page, "analysis-overview-dark")
        page.goto(f"{live_server.url}/analysis/errors/")
        page.wait_for_selector(".an-errors .spark")
        screenshot(page, "analysis-errors-dark")
        page.click(".an-error-message")
        page.wait_for_selector("#chart-trend[data-drawn] svg")
        page.click("button[value=resolved]")
        page.wait_for_selector(".status-resolved")
        screenshot(page, "analysis-error-dark")
        # The empty state of a period with nothing in it.
        page.goto(f"{live_server.url}/analysis/?since=2026-01-01&until=2026-01-08")
        assert "No events in this period" in page.inner_text("#chart-usage")
        assert errors == []
        assert audit.kind("error-group") is not None
    finally:
        context.close()
