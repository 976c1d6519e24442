"""The admin's records list: filters by user, type, level and date range that stay on
indexes and never list a whole table, a message column that fits, and links from each
row to the user's activity page and the session's timeline."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import clock
from audit.context import AuditContext
from audit.models import AuditRecord
from audit.recording import build_event, record_events

pytestmark = pytest.mark.django_db

RECORDS = "/admin/audit/auditrecord/"


@pytest.fixture
def admin_browser(db: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    return client


# Days of a recent month: "day 1" is twenty days ago, in the site's time zone.
START = timezone.localdate() - timedelta(days=21)


def _day(day: int) -> str:
    return (START + timedelta(days=day)).isoformat()


def _at(day: int, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(START + timedelta(days=day), time(hour)))


def _record(user: Any, type_name: str, message: str, at: datetime, level: str | None = None):
    """A record stored at ``at`` (oldest first: the trail is kept in time order)."""
    event = build_event(type_name, message, level=level)
    with clock.backdated(at):
        (record_id,) = record_events([event], ctx=AuditContext(user=user)).accepted
    return record_id


@pytest.fixture
def trail(user: User, other_user: User) -> dict[str, int]:
    """alice and bob, a few types and levels over three days."""
    return {
        "alice_log": _record(user, "log", "alice logs", _at(1)),
        "alice_error": _record(user, "error", "TypeError: alice", _at(2, 9)),
        "bob_log": _record(other_user, "log", "bob logs", _at(2, 23)),
        "bob_warning": _record(other_user, "log", "disk almost full", _at(3), "warning"),
    }


def _shown(client: Client, **params: str) -> set[int]:
    response = client.get(RECORDS, params)
    assert response.status_code == 200, response.content[:500]
    return {record.pk for record in response.context["cl"].result_list}


def test_the_user_filter_takes_a_name_and_lists_no_user_table(
    admin_browser: Client, trail: dict[str, int], user: User
) -> None:
    for n in range(30):  # people with no records: never offered
        User.objects.create_user(f"idle{n:02}")
    assert _shown(admin_browser, user="alice") == {trail["alice_log"], trail["alice_error"]}
    assert _shown(admin_browser, user=str(user.pk)) == {trail["alice_log"], trail["alice_error"]}
    assert _shown(admin_browser, user="nobody") == set()  # an unknown name matches nothing
    page = admin_browser.get(RECORDS, {"user": "alice"}).content.decode()
    assert re.search(r'<input type="text" name="user" value="alice"', page)
    (datalist,) = re.findall(r'<datalist id="audit-filter-user-options">(.*?)</datalist>', page)
    assert re.findall(r'<option value="([^"]*)">', datalist) == ["alice", "bob"]
    assert "idle00" not in page


def test_user_suggestions_read_a_bounded_stretch_of_records(trail: dict[str, int]) -> None:
    from audit import admin_filters

    with CaptureQueriesContext(connection) as queries:
        assert admin_filters.recent_usernames() == ["alice", "bob"]
    # two queries, however many users (and on PostgreSQL, first, whether a change is
    # staged: deferred tracking)
    (recent, names) = [q["sql"] for q in queries if "audit_stagedchange" not in q["sql"]]
    assert f"LIMIT {admin_filters.RECENT_RECORDS}" in recent and "auth_user" not in recent
    assert "auth_user" in names


def test_the_type_filter_is_a_drop_down_of_type_names(
    admin_browser: Client, trail: dict[str, int]
) -> None:
    assert _shown(admin_browser, type="error") == {trail["alice_error"]}
    assert _shown(admin_browser, type="never-used-type") == set()
    page = admin_browser.get(RECORDS, {"type": "error"}).content.decode()
    assert '<select name="type">' in page
    assert '<option value="error" selected>error</option>' in page
    assert '<option value="query-created">query-created</option>' in page
    assert "type__id__exact" not in page  # no list of links, one per type


def test_the_level_filter(admin_browser: Client, trail: dict[str, int]) -> None:
    assert _shown(admin_browser, level__exact="warning") == {trail["bob_warning"]}


def test_the_level_filter_has_an_index_to_read(db: Any) -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditrecord")
    level = constraints.get("audit_rec_level")
    assert level is not None and level["index"] and level["columns"] == ["level", "id"]


def test_the_date_range_takes_whole_days_inclusive(
    admin_browser: Client, trail: dict[str, int]
) -> None:
    assert _shown(admin_browser, since=_day(2), until=_day(2)) == {
        trail["alice_error"],
        trail["bob_log"],
    }
    assert _shown(admin_browser, since=_day(3)) == {trail["bob_warning"]}
    assert _shown(admin_browser, until=_day(1)) == {trail["alice_log"]}
    assert _shown(admin_browser, since=f"{_day(2)}T10:00", until=_day(3)) == {
        trail["bob_log"],
        trail["bob_warning"],
    }
    page = admin_browser.get(RECORDS, {"since": _day(2)}).content.decode()
    assert f'<input type="date" name="since" value="{_day(2)}"' in page


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"since": "yesterday"}, "since: must be an ISO date (2026-03-01)"),
        ({"until": "2026-02-30"}, "until: must be an ISO date (2026-03-01)"),
        ({"since": _day(5), "until": _day(1)}, "until: must be later than since"),
        ({"type": "no such/type"}, "type: not an event type name"),
        ({"user": "x" * 151}, "user: too long"),
    ],
)
def test_a_filter_value_that_cannot_be_read_is_a_400_naming_it(
    admin_browser: Client, params: dict[str, str], named: str
) -> None:
    response = admin_browser.get(RECORDS, params)
    assert response.status_code == 400
    page = response.content.decode()
    assert named in page and "cannot be filtered that way" in page


def test_filters_combine_and_each_form_keeps_the_others(
    admin_browser: Client, trail: dict[str, int]
) -> None:
    params = {"user": "bob", "level__exact": "warning", "since": _day(1), "q": "disk"}
    assert _shown(admin_browser, **params) == {trail["bob_warning"]}
    page = admin_browser.get(RECORDS, params).content.decode()
    (type_form,) = re.findall(
        r'<form method="get" class="audit-filter" data-filter="type">(.*?)</form>', page, re.S
    )
    kept = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', type_form))
    assert kept == {"user": "bob", "level__exact": "warning", "since": _day(1), "q": "disk"}


def test_filtered_lists_never_count_the_whole_table(
    admin_browser: Client, trail: dict[str, int]
) -> None:
    for params in (
        {"user": "alice"},
        {"type": "log"},
        {"level__exact": "error"},
        {"since": _day(1), "until": _day(2)},
    ):
        with CaptureQueriesContext(connection) as captured:
            assert admin_browser.get(RECORDS, params).status_code == 200
        counts = [
            q["sql"]
            for q in captured.captured_queries
            if "COUNT(" in q["sql"].upper() and "audit_auditrecord" in q["sql"]
        ]
        assert counts and all("LIMIT" in sql.upper() for sql in counts), params


def test_a_row_shows_time_type_user_session_and_the_whole_message_on_hover(
    admin_browser: Client, user: User
) -> None:
    long = "Export finished: " + " ".join(f"table_{n}" for n in range(60))
    record_id = _record(user, "log", long, _at(4, 8))
    session = AuditRecord.objects.get(pk=record_id).session
    page = admin_browser.get(RECORDS).content.decode()
    (row,) = [
        row
        for row in re.findall(r"<tr[ >].*?</tr>", page, re.S)
        if f"/admin/audit/auditrecord/{record_id}/change/" in row
    ]
    local = timezone.localtime(_at(4, 8)).strftime("%Y-%m-%d %H:%M:%S")
    assert local in row
    assert 'href="/admin/audit/auditrecord/?type=log"' in row
    assert 'href="/activity/users/alice/"' in row
    assert f'href="/activity/sessions/{session.uuid}/"' in row
    assert f'<span class="audit-message" title="{long}">' in row
