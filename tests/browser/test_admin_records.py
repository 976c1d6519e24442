"""The admin's records list at 1400 px wide: every column in view with the menu and the
filters open, a long message cut to two lines with the whole of it on hover, and the
filters by user, type, level and date range narrowing the list one after another."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit import clock
from audit.context import AuditContext
from audit.recording import build_event, record_events

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LONG = "Nightly export of the sales warehouse finished with warnings: " + ", ".join(
    f"table_{n} skipped (no primary key)" for n in range(12)
)


START = timezone.localdate() - timedelta(days=21)  # "day 1" is twenty days ago


def _day(day: int) -> str:
    return (START + timedelta(days=day)).isoformat()


def _at(day: int, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(START + timedelta(days=day), time(hour)))


def _trail(alice: User, bob: User) -> None:
    rows = [
        (alice, "log", "alice logs in the morning", None, _at(1, 9)),
        (alice, "error", "TypeError: x is undefined", None, _at(2, 10)),
        (bob, "error", "RangeError: Maximum call stack size exceeded", None, _at(2, 11)),
        (bob, "log", LONG, "warning", _at(3, 8)),
        (bob, "error", "Error: Query execution timed out after 60000 ms", None, _at(4, 16)),
        (bob, "predictive-model-published", "Published predictive model Churn", None, _at(5, 9)),
    ]
    for who, type_name, message, level, at in rows:  # oldest first: the trail's order
        event = build_event(type_name, message, level=level)
        with clock.backdated(at):
            record_events([event], ctx=AuditContext(user=who))


def _column(page, name: str) -> list[str]:
    return page.locator(f"#result_list td.field-{name}").all_inner_texts()


def _fits(page) -> None:
    """Nothing of the table is out of view: no sideways scroll, every header inside."""
    results = page.evaluate(
        "() => { const r = document.querySelector('.results');"
        " return [r.scrollWidth, r.clientWidth, r.getBoundingClientRect().right] }"
    )
    scroll_width, client_width, right = results
    assert scroll_width <= client_width, results
    assert right <= 1400
    for header in page.locator("#result_list thead th").all():
        box = header.bounding_box()
        assert box is not None and box["x"] + box["width"] <= right + 0.5


def _filter(page, parameter: str) -> None:
    with page.expect_navigation():
        page.locator(f'form.audit-filter[data-filter="{parameter}"] button[type=submit]').click()


def test_the_records_list_fits_1400px_and_filters(live_server, browser) -> None:
    alice = User.objects.create_user("alice", "a@example.com", "alice-password")
    bob = User.objects.create_user("bob", "b@example.com", "bob-password")
    User.objects.create_superuser("root", "root@example.com", "root-password")
    _trail(alice, bob)

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/admin/login/?next=/admin/audit/auditrecord/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "root-password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/audit/auditrecord/")
    assert page.locator("#nav-sidebar").is_visible()  # the menu is open: the narrowest list

    # Every column in view, the long message cut to two lines, whole on hover.
    _fits(page)
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers] == [
        "id", "time", "type", "level", "user", "session", "message",
    ]  # fmt: skip
    long = page.locator(".audit-message", has_text="Nightly export")
    assert long.get_attribute("title") == LONG
    clamp = long.evaluate("e => [e.scrollHeight, e.clientHeight, e.getClientRects().length]")
    assert clamp[0] > clamp[1]  # cut: more text than the two lines it shows
    line = long.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert clamp[1] <= 2 * line + 1
    box = long.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1400
    row = page.locator("#result_list tr", has=long)
    shown = row.locator("td.field-time").inner_text()
    assert shown == f"{_day(3)} 08:00:00"  # local time, compact
    screenshot(page, "admin-records-1400")

    # By user: typed, not picked from a list of every user.
    page.fill('input[name="user"]', "bob")
    _filter(page, "user")
    assert "user=bob" in page.url
    assert set(_column(page, "user_link")) == {"bob"} and len(_column(page, "user_link")) == 4

    # By level (a link that keeps the user filter).
    with page.expect_navigation():
        page.locator('details[data-filter-title="level"] a', has_text="Error").click()
    assert "user=bob" in page.url and "level__exact=error" in page.url
    assert set(_column(page, "level")) == {"Error"} and len(_column(page, "level")) == 2

    # By type, from the drop-down; the level and user filters stay.
    page.select_option('select[name="type"]', "error")
    _filter(page, "type")
    assert "type=error" in page.url and "user=bob" in page.url
    assert [t.strip() for t in _column(page, "type_link")] == ["error", "error"]

    # By date range: from and until, whole days.
    page.fill('input[name="since"]', _day(4))
    page.fill('input[name="until"]', _day(4))
    _filter(page, "since until")
    assert f"since={_day(4)}" in page.url and f"until={_day(4)}" in page.url
    assert _column(page, "message_short") == ["Error: Query execution timed out after 60000 ms"]
    assert page.locator('input[type=date][name="since"]').input_value() == _day(4)
    _fits(page)
    screenshot(page, "admin-records-filtered-1400")

    # A date that cannot be read is the styled 400, naming it.
    response = page.goto(f"{base}/admin/audit/auditrecord/?since=2026-13-01")
    assert response.status == 400
    assert "since: must be an ISO date" in page.locator(".error-reason").inner_text()
    context.close()


def test_from_the_admin_one_click_to_activity_and_timeline(live_server, browser) -> None:
    """The sessions list fits 1400 px too; a user's admin page and a session's lead to
    the activity page and the timeline."""
    alice = User.objects.create_user("alice", "a@example.com", "alice-password")
    User.objects.create_superuser("root", "root@example.com", "root-password")
    _trail(alice, alice)

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/admin/login/?next=/admin/audit/usersession/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "root-password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/audit/usersession/")
    _fits(page)
    screenshot(page, "admin-sessions-1400")

    row = page.locator("#result_list tbody tr", has=page.locator("a", has_text="alice"))
    with page.expect_navigation():
        row.locator("td.field-timeline_link a").click()
    assert "/activity/sessions/" in page.url and page.locator("h1").inner_text() == (
        "Session timeline"
    )

    page.goto(f"{base}/admin/auth/user/{alice.pk}/change/")
    with page.expect_navigation():
        page.locator(".object-tools a", has_text="Activity").click()
    assert page.url == f"{base}/activity/users/alice/"
    assert "alice's activity" in page.locator("h1").inner_text()
    context.close()
