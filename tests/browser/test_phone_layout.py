"""On a phone (360 and 390 px wide) every main page fits its width: nothing scrolls
sideways and the header stays inside the screen."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

import audit

from .conftest import screenshot
from .test_activity_panel import NEW_SQL, _story

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

VIEWPORTS = [(360, 740), (390, 844)]

# The widest elements that stick out on the right, to say what overflows when it does.
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
               && getComputedStyle(e).position !== 'fixed')
  .slice(0, 8)
  .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')} right=${
    Math.round(e.getBoundingClientRect().right)}`)"""


def _fits(page, name: str) -> None:
    width = page.evaluate("window.innerWidth")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    header = page.locator("header.topbar").bounding_box()
    screenshot(page, name)
    assert scroll_width <= width, (name, scroll_width, width, page.evaluate(OVERFLOWING))
    assert header is not None
    assert header["x"] >= 0 and header["x"] + header["width"] <= width, (name, header)
    inner = page.evaluate(
        "() => [...document.querySelectorAll('header.topbar *')]"
        ".map(e => e.getBoundingClientRect()).filter(r => r.width > 0)"
        ".every(r => r.left >= -0.5 && r.right <= window.innerWidth + 0.5)"
    )
    assert inner, (name, page.evaluate(OVERFLOWING))
    # Nothing hides cut off inside a card that clips it (cards and the activity panel
    # do), unless it sits in a box that scrolls sideways on purpose (a code block).
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('.card, .act-panel')].flatMap(box => {
             const edge = box.getBoundingClientRect().right + 0.5;
             const scrolls = e => {
               for (let p = e.parentElement; p && p !== box; p = p.parentElement) {
                 if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true;
               }
               return false;
             };
             return [...box.querySelectorAll('*')]
               .filter(e => e.getBoundingClientRect().right > edge && !scrolls(e))
               .map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.'));
           })"""
    )
    assert clipped == [], (name, clipped[:8])


def test_main_pages_fit_a_phone(live_server, browser, user, other_user) -> None:
    from catalog.models import Project, Query

    # Staff: the menu has its widest form (with "Admin"); a long name for the header.
    user.first_name, user.last_name = "Alexandra", "Montgomery-Featherstonehaugh"
    user.is_staff = True
    user.save()
    analysts = Group.objects.create(name="analysts")
    with audit.disabled():
        project = Project.objects.create(
            name="Revenue and forecasting for every region", owner=user
        )
        query = Query.objects.create(
            name="Sales by region and quarter, with refunds excluded",
            owner=user,
            project=project,
            text=NEW_SQL,
        )
    _story(query, project, user, other_user, analysts)

    pages = [
        ("home", "/"),
        ("query", f"/catalog/query/{query.pk}/"),
        ("user", "/activity/users/alice/"),
        ("catalog", "/catalog/"),
        ("queries", "/catalog/query/"),
        ("projects", "/catalog/project/"),
    ]
    for width, height in VIEWPORTS:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}/login/")
            _fits(page, f"phone-{width}-login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            for name, path in pages:
                page.goto(f"{live_server.url}{path}")
                page.wait_for_load_state("networkidle")
                if name == "query":
                    page.locator(".act-panel [data-activity-list] > li").first.wait_for()
                _fits(page, f"phone-{width}-{name}")
        finally:
            context.close()
