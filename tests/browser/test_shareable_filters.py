"""Filters that live in the address, and error pages that say what went wrong.

A person picks a type filter on a query's page: the address now carries ``?type=``,
and opening that address again (a bookmark, a link sent to a colleague) shows the same
filtered entries. Then a 403 and a 400 of ours, each the styled page with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

import audit
from audit import clock
from audit.context import AuditContext
from audit.recording import build_event, record_events

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _types_shown(page) -> list[str]:
    return page.locator(".act-panel [data-activity-list] > li").evaluate_all(
        "els => els.map(e => e.dataset.type)"
    )


def test_a_type_filter_is_in_the_address_and_survives_a_reload(
    live_server, page, user, other_user
) -> None:
    from catalog.models import Project, Query

    with audit.disabled():
        project = Project.objects.create(name="Revenue", owner=user)
        query = Query.objects.create(name="Sales by region", owner=user, project=project)
    now = timezone.now()
    for minutes, who, type_name, message in [
        (500, user, "query-created", ""),
        (400, other_user, "query-start", "Started query Sales by region"),
        (300, user, "comment-posted", "Looks right"),
        (200, other_user, "error", "TypeError: boom"),
        (100, other_user, "query-start", "Started again"),
    ]:
        event = build_event(type_name, message, entities=[query])
        with clock.backdated(now - timedelta(minutes=minutes)):
            record_events([event], ctx=AuditContext(user=who))

    _sign_in(page, live_server.url, "alice", "alice-password")
    entity_url = f"{live_server.url}/catalog/query/{query.pk}/"
    page.goto(entity_url)
    page.locator(".act-panel [data-activity-list] > li").first.wait_for()
    assert len(set(_types_shown(page))) > 1

    page.evaluate("window.__notReloaded = true")
    page.locator(".act-panel select[name=type]").select_option("error")
    page.wait_for_function("() => new URL(location.href).searchParams.get('type') === 'error'")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.act-panel [data-activity-list] > li')]"
        ".every(li => li.dataset.type === 'error')"
    )
    assert page.evaluate("window.__notReloaded") is True  # filtered in place
    assert page.url == f"{entity_url}?type=error"
    filtered = page.locator(".act-panel [data-activity-list] > li").all_inner_texts()
    assert len(filtered) == 1 and "TypeError: boom" in filtered[0]

    page.reload()
    page.locator(".act-panel [data-activity-list] > li").first.wait_for()
    assert page.evaluate("window.__notReloaded") is None  # a real reload, from the URL
    assert _types_shown(page) == ["error"]
    assert page.locator(".act-panel [data-activity-list] > li").all_inner_texts() == filtered
    assert page.locator(".act-panel select[name=type]").input_value() == "error"
    screenshot(page, "activity-filter-in-url")

    # Clearing the filter takes it out of the address again.
    page.locator(".act-panel select[name=type]").select_option("")
    page.wait_for_function("() => !new URL(location.href).searchParams.has('type')")


def test_a_403_and_a_400_are_the_styled_error_page(live_server, page, user, other_user) -> None:
    _sign_in(page, live_server.url, "alice", "alice-password")
    response = page.goto(f"{live_server.url}/activity/users/bob/")
    assert response.status == 403
    assert page.locator("h1#error-title").inner_text() == "Not allowed"
    assert "only view your own activity" in page.locator(".error-reason").inner_text()
    assert page.locator(".error-actions a").get_attribute("href") == "/"
    screenshot(page, "error-403-activity")

    User.objects.create_superuser("root", "root@example.com", "root-password")
    page.context.clear_cookies()
    _sign_in(page, live_server.url, "root", "root-password")
    response = page.goto(f"{live_server.url}/admin/audit/auditrecord/?created_at__gte=notadate")
    assert response.status == 400
    assert page.url.endswith("?created_at__gte=notadate")  # no redirect to ?e=1
    assert page.locator("h1#error-title").inner_text() == "Bad request"
    reason = page.locator(".error-reason").inner_text()
    assert "created_at__gte=notadate" in reason and "invalid format" in reason
    screenshot(page, "error-400-admin-filter")
