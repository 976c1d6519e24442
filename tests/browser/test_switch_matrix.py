"""An admin switches an event type off for a group in the matrix, in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from audit import switch_rules
from audit.models import AuditRecord, EventType

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_switches_a_type_off_for_a_group(live_server, page) -> None:
    User.objects.create_superuser("root", "root@example.com", "root-password")
    analysts = Group.objects.create(name="analysts")
    Group.objects.create(name="engineers")
    member = User.objects.create_user("ann", password="x")
    member.groups.add(analysts)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/audit/eventtype/switches/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.click("input[type=submit]")
    page.wait_for_url("**/switches/")

    page.fill("input[name=q]", "dialog")
    page.click("form[role=search] button")
    page.wait_for_selector('tr[data-type="dialog-ok"]')
    assert page.locator("tr[data-type]").count() == 1
    box = page.get_by_role("switch", name="dialog-ok for analysts")
    cell = page.locator('tr[data-type="dialog-ok"] td').nth(2)
    assert box.is_checked()  # on: recorded
    assert cell.locator(".state").inner_text() == "on"
    assert page.inner_text("#switch-pending") == "No switch changed"
    box.uncheck(force=True)
    assert cell.locator(".state").inner_text() == "off"
    assert page.inner_text("#switch-pending") == "1 switch changed, not saved yet"
    everyone = page.get_by_role("switch", name="dialog-ok for everyone")
    everyone.uncheck(force=True)
    assert page.inner_text("#switch-pending") == "2 switches changed, not saved yet"
    everyone.check(force=True)  # back as it was: no longer counted
    assert page.inner_text("#switch-pending") == "1 switch changed, not saved yet"
    screenshot(page, "switch-matrix-pending")
    save_bar = page.locator(".switch-save")
    assert save_bar.evaluate("el => getComputedStyle(el).position") == "sticky"
    page.click("input[value='Save switches']")
    page.wait_for_selector(".messagelist")
    assert "1 switch changed" in page.inner_text(".messagelist")
    assert not page.get_by_role("switch", name="dialog-ok for analysts").is_checked()
    assert page.get_by_role("switch", name="dialog-ok for everyone").is_checked()
    assert (
        page.locator('tr[data-type="dialog-ok"] td').nth(2).locator(".state").inner_text() == "off"
    )
    screenshot(page, "switch-matrix")

    assert "dialog-ok" in switch_rules.disabled_types(member)
    assert list(
        EventType.objects.get(name="dialog-ok").disabled_for.values_list("name", flat=True)
    ) == ["analysts"]
    record = AuditRecord.objects.get(type__name="event-type-edited")
    assert record.changes == {"disabled_for_groups": {"old": [], "new": ["analysts"]}}
    assert record.user_id == User.objects.get(username="root").pk
