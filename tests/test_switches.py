"""Switching event types off, globally or for groups: on every path, audited, counted."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from rest_framework.test import APIClient

import audit
from audit import dropped, switch_rules
from audit.context import AuditContext, bind
from audit.handler import AuditLogHandler
from audit.logger import Logger
from audit.models import AuditRecord, DroppedCount, EventType
from catalog.models import Project

from .conftest import post_events

pytestmark = pytest.mark.django_db


def _off_for(group: Group, *names: str) -> None:
    for name in names:
        EventType.objects.get(name=name).disabled_for.add(group)


def _stored(type_name: str) -> int:
    return AuditRecord.objects.filter(type__name=type_name).count()


def test_group_switch_drops_on_the_ingest_path(token_client: APIClient, group) -> None:
    _off_for(group, "dialog-ok")
    body = post_events(token_client, [{"type": "dialog-ok"}, {"type": "log"}]).json()
    assert (body["disabled"], len(body["accepted"])) == (1, 1)
    assert _stored("dialog-ok") == 0


def test_group_switch_drops_on_the_python_paths(user, group) -> None:
    _off_for(group, "log", "error")
    assert audit.log("log", "x", user=user) is None
    assert Logger(user=user).log("HELLO") is None
    assert Logger(user=user).error("boom") is None
    assert _stored("log") == 0 and _stored("error") == 0
    other = audit.log("log", "someone else")  # no user: only the global switch applies
    assert other is not None


def test_group_switch_drops_on_the_logging_handler_path(user, group) -> None:
    _off_for(group, "error")
    handler = AuditLogHandler()
    log = logging.getLogger("tests.switches")
    log.addHandler(handler)
    try:
        with bind(AuditContext(user=user)):
            log.error("dropped")
    finally:
        log.removeHandler(handler)
    assert _stored("error") == 0


def test_group_switch_drops_tracked_changes(user, group) -> None:
    from audit.context import AuditContext, bind

    _off_for(group, "project-created", "project-edited")
    with bind(AuditContext(user=user)):
        project = Project.objects.create(name="quiet", owner=user)
        project.name = "still quiet"
        project.save()
    assert _stored("project-created") == 0 and _stored("project-edited") == 0
    assert Project.objects.get(pk=project.pk).name == "still quiet"  # the change itself stays


def test_global_switch_applies_to_everyone_including_superusers(db) -> None:
    from django.contrib.auth.models import User

    boss = User.objects.create_superuser("boss", "b@example.com", "pw")
    EventType.objects.filter(name="viewer-rendered").update(enabled=False)
    assert audit.log("viewer-rendered", user=boss) is None
    assert audit.log("viewer-rendered") is None


def test_a_switch_turned_off_by_an_upsert_applies_at_once(db) -> None:
    """``bulk_create(update_conflicts=True)`` updates rows without ``post_save``: it
    tells the switches' cache, as ``update`` does."""
    audit.log("viewer-rendered")  # the rules are read and kept
    EventType.objects.bulk_create(
        [EventType(name="viewer-rendered", enabled=False)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["enabled"],
    )
    assert audit.log("viewer-rendered") is None


def test_superusers_follow_their_groups_too(db, group) -> None:
    from django.contrib.auth.models import User

    boss = User.objects.create_superuser("boss", "b@example.com", "pw")
    boss.groups.add(group)
    _off_for(group, "dialog-ok")
    assert audit.log("dialog-ok", user=boss) is None


def test_membership_change_takes_effect_at_once(user) -> None:
    analysts = Group.objects.create(name="analysts")
    _off_for(analysts, "dialog-ok")
    assert "dialog-ok" not in switch_rules.disabled_types(user)
    user.groups.add(analysts)
    assert "dialog-ok" in switch_rules.disabled_types(user)
    analysts.user_set.remove(user)
    assert "dialog-ok" not in switch_rules.disabled_types(user)
    analysts.user_set.add(user)
    analysts.user_set.clear()
    assert "dialog-ok" not in switch_rules.disabled_types(user)


def test_rule_change_takes_effect_at_once(user, group) -> None:
    assert switch_rules.disabled_types(user) == frozenset()
    kind = EventType.objects.get(name="query-start")
    kind.disabled_for.add(group)
    assert switch_rules.disabled_types(user) == {"query-start"}
    kind.enabled = False
    kind.save()
    kind.disabled_for.clear()
    assert switch_rules.disabled_types(user) == {"query-start"}
    assert switch_rules.disabled_types(None) == {"query-start"}


def test_checking_the_switches_costs_no_query_per_event(
    user, group, django_assert_num_queries
) -> None:
    _off_for(group, "dialog-ok")
    switch_rules.disabled_types(user)  # warm
    with django_assert_num_queries(0):
        for _ in range(100):
            assert "dialog-ok" in switch_rules.disabled_types(user)


def test_the_record_of_a_rule_change_cannot_be_switched_off(staff) -> None:
    EventType.objects.filter(name__startswith="event-type-").update(enabled=False)
    assert not switch_rules.PROTECTED & switch_rules.disabled_types(None)


def test_rule_changes_are_recorded_with_who_and_what(staff, group) -> None:
    from audit.context import AuditContext, bind

    kind = EventType.objects.get(name="dialog-ok")
    with bind(AuditContext(user=staff)):
        kind.disabled_for.add(group)
        kind.enabled = False
        kind.save()
    changes = [
        r.changes for r in AuditRecord.objects.filter(type__name="event-type-edited").order_by("id")
    ]
    assert changes == [
        {"disabled_for_groups": {"old": [], "new": ["analysts"]}},
        {"enabled": {"old": True, "new": False}},
    ]
    record = AuditRecord.objects.filter(type__name="event-type-edited").first()
    assert record.user_id == staff.pk
    assert record.links.get().name == "dialog-ok"


def test_dropped_events_are_counted_per_type_and_group_without_a_write_each(
    user, group, django_assert_max_num_queries
) -> None:
    dropped.reset()
    _off_for(group, "dialog-ok")
    EventType.objects.filter(name="tutorial-completed").update(enabled=False)
    audit.log("dialog-ok", user=user)  # warm caches
    with django_assert_max_num_queries(0):
        for _ in range(4):
            audit.log("dialog-ok", user=user)
            audit.log("tutorial-completed", user=user)
    assert not DroppedCount.objects.exists()
    dropped.flush()
    counts = {(c.event_type, c.group): c.count for c in DroppedCount.objects.all()}
    assert counts == {("dialog-ok", "analysts"): 5, ("tutorial-completed", ""): 4}
    audit.log("dialog-ok", user=user)
    dropped.flush()
    assert DroppedCount.objects.get(event_type="dialog-ok").count == 6


@pytest.mark.django_db(transaction=True)
def test_counts_are_never_flushed_into_a_transaction_that_may_roll_back(user) -> None:
    """A flush that came due inside a caller's transaction wrote every pending count of
    the process into it; its rollback lost them all."""
    EventType.objects.filter(name__in=["dialog-ok", "tutorial-completed"]).update(enabled=False)
    dropped.flush()
    for _ in range(100):
        assert audit.log("dialog-ok", user=user) is None
    dropped._last_flush -= 3600  # a flush is due
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.log("tutorial-completed", user=user)
        raise RuntimeError("the request failed")
    dropped.flush()
    counts = {c.event_type: c.count for c in DroppedCount.objects.all()}
    assert counts["dialog-ok"] == 100


class TestStaffApi:
    def test_read_and_patch_a_types_switches(self, staff_client: APIClient, staff, group) -> None:
        url = "/api/audit/event-types/dialog-ok/"
        body = staff_client.get(url).json()
        assert body["enabled"] is True and body["disabled_for_groups"] == []
        response = staff_client.patch(
            url, {"disabled_for_groups": ["analysts"], "enabled": False}, format="json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["disabled_for_groups"] == ["analysts"]
        kind = EventType.objects.get(name="dialog-ok")
        assert kind.enabled is False and list(kind.disabled_for.values_list("name", flat=True)) == [
            "analysts"
        ]
        recorded = AuditRecord.objects.filter(type__name="event-type-edited")
        assert recorded.count() == 2 and {r.user_id for r in recorded} == {staff.pk}

    def test_unknown_group_or_type_is_a_clear_4xx(self, staff_client: APIClient) -> None:
        bad = staff_client.patch(
            "/api/audit/event-types/dialog-ok/", {"disabled_for_groups": ["nobody"]}, format="json"
        )
        assert bad.status_code == 400 and "nobody" in str(bad.json())
        assert staff_client.get("/api/audit/event-types/no-such-type/").status_code == 404
        assert (
            staff_client.patch(
                "/api/audit/event-types/log/", {"enabled": "maybe"}, format="json"
            ).status_code
            == 400
        )

    def test_list_shows_every_type_with_dropped_counts(self, staff_client: APIClient) -> None:
        rows = staff_client.get("/api/audit/event-types/").json()
        assert len(rows) >= 47 and {"name", "enabled", "disabled_for_groups"} <= set(rows[0])

    def test_staff_without_the_change_permission_read_but_change_nothing(
        self, staff: User, db
    ) -> None:
        """As in the admin's matrix: changing a switch takes ``audit.change_eventtype``."""
        client = APIClient()
        client.force_login(staff)
        assert client.get("/api/audit/event-types/log/").status_code == 200
        refused = client.patch("/api/audit/event-types/log/", {"enabled": False}, format="json")
        assert refused.status_code == 403 and "permission" in refused.json()["detail"]
        assert EventType.objects.get(name="log").enabled is True

    def test_non_staff_are_refused(self, token_client: APIClient) -> None:
        assert token_client.get("/api/audit/event-types/").status_code == 403
        assert token_client.get("/api/audit/event-types/log/").status_code == 403
        assert (
            token_client.patch(
                "/api/audit/event-types/log/", {"enabled": False}, format="json"
            ).status_code
            == 403
        )
        assert EventType.objects.get(name="log").enabled is True


class TestMatrixPage:
    url = "/admin/audit/eventtype/switches/"

    def test_shows_types_by_groups_with_search_and_level(self, client, staff, group) -> None:
        staff.is_superuser = True
        staff.save()
        client.force_login(staff)
        EventType.objects.get(name="dialog-ok").disabled_for.add(group)
        page = client.get(self.url).content.decode()
        assert "analysts" in page and "dialog-ok" in page and "query-start" in page
        assert "event-type-edited" not in page  # the audit of the switches is not switchable
        only_errors = client.get(self.url, {"level": "error"}).content.decode()
        assert 'data-type="error"' in only_errors and 'data-type="dialog-ok"' not in only_errors
        found = client.get(self.url, {"q": "dialog"}).content.decode()
        assert 'data-type="dialog-ok"' in found and 'data-type="log"' not in found

    def test_saving_changes_only_the_shown_switches_and_records_them(
        self, client, staff, group
    ) -> None:
        staff.is_superuser = True
        staff.save()
        client.force_login(staff)
        log, dialog = EventType.objects.get(name="log"), EventType.objects.get(name="dialog-ok")
        EventType.objects.get(name="error").disabled_for.add(group)  # not shown below: kept
        response = client.post(
            self.url + "?q=o",
            {
                "shown": [log.pk, dialog.pk],
                "group": [group.pk],
                # log: off for everyone, on for the group; dialog-ok: on, off for the group
                f"on-{log.pk}-{group.pk}": "on",
                f"on-{dialog.pk}": "on",
            },
        )
        assert response.status_code == 302
        log.refresh_from_db()
        assert log.enabled is False
        assert list(dialog.disabled_for.values_list("name", flat=True)) == ["analysts"]
        assert EventType.objects.get(name="error").disabled_for.exists()
        assert (
            AuditRecord.objects.filter(type__name="event-type-edited", user_id=staff.pk).count()
            == 2
        )

    def test_switches_read_on_and_off_and_saving_keeps_their_meaning(
        self, client, staff, group
    ) -> None:
        staff.is_superuser = True
        staff.save()
        client.force_login(staff)
        dialog = EventType.objects.get(name="dialog-ok")
        dialog.disabled_for.add(group)  # off for analysts, on for everyone
        log = EventType.objects.get(name="log")
        log.enabled = False  # off for everyone, on for analysts
        log.save()
        audit.log("dialog-cancel", "one")
        audit.log("dialog-cancel", "two")
        page = client.get(self.url, {"q": "dialog"}).content.decode()
        ok_row = page.split('data-type="dialog-ok"')[1].split("</tr>")[0]
        everyone, for_group = ok_row.split('class="everyone"')[1].split("</td>", 1)
        assert f'name="on-{dialog.pk}"' in everyone and "checked" in everyone
        assert '"state" aria-hidden="true">on<' in everyone
        assert f'name="on-{dialog.pk}-{group.pk}"' in for_group
        assert "checked" not in for_group.split("</td>")[0]
        assert '"state" aria-hidden="true">off<' in for_group.split("</td>")[0]
        cancel_row = page.split('data-type="dialog-cancel"')[1].split("</tr>")[0]
        assert "2 stored in 24 h" in cancel_row
        page = client.get(self.url, {"q": "log"}).content.decode()
        log_row = page.split('data-type="log"')[1].split("</tr>")[0]
        everyone, for_group = log_row.split('class="everyone"')[1].split("</td>", 1)
        assert "checked" not in everyone and '"state" aria-hidden="true">off<' in everyone
        assert "checked" in for_group.split("</td>")[0]
        assert '"state" aria-hidden="true">on<' in for_group.split("</td>")[0]

        # The form as the browser posts it, untouched: nothing changes.
        untouched = {
            "shown": [dialog.pk, log.pk],
            "group": [group.pk],
            f"on-{dialog.pk}": "on",
            f"on-{log.pk}-{group.pk}": "on",
        }
        before = AuditRecord.objects.filter(type__name="event-type-edited").count()
        client.post(self.url, untouched)
        dialog.refresh_from_db()
        log.refresh_from_db()
        assert dialog.enabled and list(dialog.disabled_for.all()) == [group]
        assert not log.enabled and not log.disabled_for.exists()
        assert AuditRecord.objects.filter(type__name="event-type-edited").count() == before

        # Turn dialog-ok off for everyone; leave everything else as it reads.
        turned = {**untouched}
        del turned[f"on-{dialog.pk}"]
        client.post(self.url, turned)
        dialog.refresh_from_db()
        log.refresh_from_db()
        assert not dialog.enabled and list(dialog.disabled_for.all()) == [group]
        assert not log.enabled and not log.disabled_for.exists()

    def test_a_group_not_on_the_page_keeps_its_switches(self, client, staff, group) -> None:
        staff.is_superuser = True
        staff.save()
        client.force_login(staff)
        dialog = EventType.objects.get(name="dialog-ok")
        dialog.disabled_for.add(group)
        newcomer = Group.objects.create(name="newcomers")  # created after the page was read
        client.post(self.url, {"shown": [dialog.pk], "group": [group.pk], f"on-{dialog.pk}": "on"})
        assert list(dialog.disabled_for.all()) == [group]
        assert newcomer not in dialog.disabled_for.all()

    def test_needs_staff_with_permission(self, client, user) -> None:
        client.force_login(user)
        assert client.get(self.url).status_code == 302  # to the admin login


@pytest.mark.parametrize(
    "change", [{"enabled": False}, {"disabled_for_groups": ["analysts"]}], ids=["off", "group"]
)
def test_the_switches_own_type_refuses_to_be_switched_off(staff_client, group, change) -> None:
    """A switch that would pretend: its records are written whatever it says."""
    answer = staff_client.patch("/api/audit/event-types/event-type-edited/", change, format="json")
    assert answer.status_code == 400
    assert "cannot be switched off" in str(answer.json())
    event_type = EventType.objects.get(name="event-type-edited")
    assert event_type.enabled and not event_type.disabled_for.exists()


@pytest.mark.django_db(transaction=True)
def test_a_drop_reaches_the_counts_within_seconds_without_another_event(
    user, group, monkeypatch, settings
) -> None:
    """The counts are flushed by a timer, not only when a later drop happens to come."""
    monkeypatch.setattr(dropped, "TIMER_ENABLED", True)
    settings.AUDIT_DROPPED_FLUSH_SECONDS = 0.4
    monkeypatch.setattr(dropped, "_last_flush", 0.0)
    _off_for(group, "dialog-ok")
    audit.log("dialog-ok", "one", user=user)
    deadline = time.time() + 5
    while not DroppedCount.objects.filter(event_type="dialog-ok", group="analysts").exists():
        assert time.time() < deadline, "never flushed"
        time.sleep(0.1)
    assert DroppedCount.objects.get(event_type="dialog-ok").count == 1


@pytest.mark.parametrize("deferred", [0, 1])
def test_a_tracked_save_of_a_type_switched_off_is_counted_dropped_once(
    settings: Any, user: Any, deferred: int
) -> None:
    """The save decides before its statement that it records nothing; its ``post_save``
    must not decide it again through the general path and count the event twice."""
    settings.AUDIT_DEFERRED_TRACKING = deferred
    EventType.objects.filter(name="project-created").update(enabled=False)
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Sales", owner=user)
    dropped.flush()
    assert DroppedCount.objects.get(event_type="project-created").count == 1
