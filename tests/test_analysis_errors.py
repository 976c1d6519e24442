"""Error groups: one group per error whatever its trace's noise, a status that is itself
recorded, and a resolved group that comes back as regressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

import audit
from analysis.models import ErrorGroup
from audit.models import AuditRecord
from tests.analysis_helpers import api, at

pytestmark = pytest.mark.django_db

V8 = (
    "TypeError: Cannot read properties of undefined (reading 'columns')\n"
    "    at ScatterPlotViewer.render (https://{host}/js/viewers.js?v={build}:{line}:17)\n"
    "    at Viewer.onSizeChanged (https://{host}/js/viewers.js?v={build}:{line2}:3)\n"
    "    at ResizeObserver.<anonymous> (https://{host}/js/core.js:88:12)"
)
PYTHON = (
    "Traceback (most recent call last):\n"
    '  File "/srv/{root}/jobs/runner.py", line {line}, in run_job\n'
    "    refresh()\n"
    '  File "/srv/{root}/jobs/sales.py", line {line2}, in refresh\n'
    "    connect()\n"
    "psycopg.OperationalError: connection failed: timeout expired (0x{address})"
)


def _post(client, message: str, trace: str) -> None:
    response = client.post(
        "/api/audit/events/",
        [{"type": "error", "message": message, "stackTrace": trace}],
        format="json",
    )
    assert response.status_code == 202 and response.json()["accepted"], response.content


def _errors(client, **params: str) -> list[dict]:
    response = client.get("/api/audit/analysis/errors/", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_same_error_with_other_lines_hosts_and_builds_is_one_group(staff, user) -> None:
    client = api(user)
    for host, build, line in [("a.example.com", "1.2", 10), ("b.example.org", "1.3", 99)]:
        _post(
            client, "TypeError: boom", V8.format(host=host, build=build, line=line, line2=line + 5)
        )
    for root, line, address in [("platform", 20, "7f3a"), ("platform-2", 401, "beef")]:
        _post(
            client,
            "OperationalError",
            PYTHON.format(root=root, line=line, line2=line + 1, address=address),
        )
    groups = _errors(api(staff))
    assert sorted(group["count"] for group in groups) == [2, 2]
    assert {group["users"] for group in groups} == {1}


def test_different_errors_are_different_groups(staff, user) -> None:
    """The same frames but another exception, or another place, is another group."""
    client = api(user)
    trace = V8.format(host="h", build="1", line=1, line2=2)
    _post(client, "TypeError", trace)
    _post(client, "RangeError", trace.replace("TypeError: Cannot read", "RangeError: Maximum call"))
    _post(client, "TypeError", trace.replace("ScatterPlotViewer.render", "Histogram.render"))
    assert len(_errors(api(staff))) == 3


def test_resolve_then_a_new_occurrence_makes_it_regressed(staff, user) -> None:
    client = api(user)
    trace = V8.format(host="h", build="1", line=1, line2=2)
    _post(client, "TypeError: boom", trace)
    [group] = _errors(api(staff))
    url = f"/api/audit/analysis/errors/{group['fingerprint']}/"
    answer = api(staff).patch(url, {"status": "resolved"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "resolved"
    # The change is an audit record of its own, by the admin, linked to the group.
    change = AuditRecord.objects.get(type__name="error-group-edited")
    assert change.user == staff
    assert change.changes == {"status": {"old": "open", "new": "resolved"}}
    assert change.links.get().object_id == group["fingerprint"]

    _post(client, "TypeError: boom again", trace)
    assert _errors(api(staff))[0]["status"] == "regressed"
    assert api(staff).get(url).json()["count"] == 2


def test_status_filter_sort_and_bad_values(staff, user) -> None:
    client = api(user)
    for n in range(3):
        _post(client, f"E{n}", f"Error: e{n}\n    at f{n} (a.js:1:1)")
    _post(client, "E0", "Error: e0\n    at f0 (a.js:9:9)")
    rows = _errors(api(staff), sort="count")
    assert rows[0]["count"] == 2
    audit_groups = ErrorGroup.objects.all()
    ignored = audit_groups.exclude(fingerprint=rows[0]["fingerprint"]).first()
    assert (
        api(staff)
        .patch(
            f"/api/audit/analysis/errors/{ignored.fingerprint}/",
            {"status": "ignored"},
            format="json",
        )
        .status_code
        == 200
    )
    assert [r["fingerprint"] for r in _errors(api(staff), status="ignored")] == [
        ignored.fingerprint
    ]
    assert len(_errors(api(staff), status="open")) == 2
    assert api(staff).get("/api/audit/analysis/errors/", {"sort": "loudest"}).status_code == 400
    assert api(staff).get("/api/audit/analysis/errors/", {"status": "gone"}).status_code == 400
    assert api(staff).get("/api/audit/analysis/errors/", {"cursor": "!!"}).status_code == 400
    missing = "/api/audit/analysis/errors/0000000000000000000000000000000000000000/"
    assert api(staff).get(missing).status_code == 404
    assert api(staff).patch(missing, {"status": "ignored"}, format="json").status_code == 404
    bad = api(staff).patch(
        f"/api/audit/analysis/errors/{ignored.fingerprint}/", {"status": "regressed"}, format="json"
    )
    assert bad.status_code == 400 and "status" in bad.json()


def test_counts_in_the_period_and_first_seen_ever(staff, user) -> None:
    trace = "Error: old\n    at g (b.js:1:1)"
    now = timezone.now()
    at(user, now - timedelta(days=20), "error", stack_trace=trace)
    at(user, now - timedelta(days=2), "error", stack_trace=trace)
    [row] = _errors(api(staff))  # the last 7 days
    assert row["count"] == 1
    assert datetime.fromisoformat(row["first_seen"]) < now - timedelta(days=19)
    detail = api(staff).get(f"/api/audit/analysis/errors/{row['fingerprint']}/").json()
    assert detail["count"] == 2 and detail["count_in_period"] == 1
    assert sum(bucket["events"] for bucket in detail["series"]) == 1


def test_errors_without_a_user_count_no_user(staff) -> None:
    audit.log("error", "cron failed", stack_trace="Error: cron\n    at tick (cron.js:1:1)")
    [row] = _errors(api(staff))
    assert row["count"] == 1 and row["users"] == 0
    assert User.objects.count() == 1 and datetime.now(UTC)


def test_each_groups_trend_counts_its_occurrences_per_bucket(staff, user) -> None:
    """The list's sparkline is exact: per day, per week (Monday weeks, partial at both
    ends) and per hour of another time zone, zeros included, each group its own."""
    one = "Error: one\n    at f (a.js:1:1)"
    two = "Error: two\n    at g (b.js:1:1)"
    for day, hour, name, trace in (
        (2, 10, "one", one),
        (2, 11, "one", one),
        (4, 9, "one", one),
        (4, 9, "two", two),
        (9, 8, "one", one),  # the next Monday
        (11, 23, "two", two),
    ):
        when = datetime(2026, 11, day, hour, tzinfo=UTC)
        at(user, when, "error", message=name, stack_trace=trace)
    period = {"since": "2026-10-30", "until": "2026-11-12"}
    groups = {row["message"]: row for row in _errors(api(staff), **period)}
    assert groups["one"]["trend"] == [0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0, 0]  # Oct 30..Nov 11
    assert groups["two"]["trend"] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    weeks = {row["message"]: row["trend"] for row in _errors(api(staff), **period, bucket="week")}
    assert weeks == {"one": [0, 3, 1], "two": [0, 1, 1]}  # weeks of Oct 26, Nov 2, Nov 9
    hours = {
        row["message"]: row["trend"]
        for row in _errors(
            api(staff),
            since="2026-11-11T00:00:00-05:00",
            until="2026-11-12T00:00:00-05:00",
            bucket="hour",
            tz="America/New_York",
        )
    }
    # The rollups keep errors by day: asked by the hour, a day's occurrences fall in
    # its first hour that the period holds.
    assert len(hours["two"]) == 24 and sum(hours["two"]) == 1


def test_any_span_of_days_counts_each_groups_occurrences_and_users(staff) -> None:
    """Counts, users and trends of a period read whole weeks from the week rollup and
    the days at its ends from the day rollup: every span of days, whole weeks or not,
    gives what the records themselves say."""
    # A user per day of the month (and two for some days): a day left out of a span, or
    # counted twice, changes its users.
    people = [User.objects.create_user(f"person-{n}") for n in range(27)]
    traces = {"one": "Error: one\n    at f (a.js:1:1)", "two": "Error: two\n    at g (b.js:1:1)"}
    stored: list[tuple[str, int, int]] = []  # (group, day of November, user index)
    for day in range(1, 26):
        for name, every in (("one", 1), ("two", 3)):
            if day % every == 0:
                who = day if name == "one" or day % 2 else day + 1
                when = datetime(2026, 11, day, 12, tzinfo=UTC)
                at(people[who], when, "error", message=name, stack_trace=traces[name])
                stored.append((name, day, who))
    client = api(staff)
    for first, last in ((1, 25), (2, 16), (3, 9), (4, 10), (9, 22), (10, 15), (17, 17), (5, 30)):
        since = f"2026-11-{first:02d}"
        until = (datetime(2026, 11, last, tzinfo=UTC) + timedelta(days=1)).date().isoformat()
        inside = [(name, who, day) for name, day, who in stored if first <= day <= last]
        rows = {row["message"]: row for row in _errors(client, since=since, until=until)}
        assert set(rows) == {name for name, _who, _day in inside}, (first, last)
        for name, row in rows.items():
            mine = [(who, day) for group, who, day in inside if group == name]
            assert row["count"] == len(mine), (name, first, last)
            assert row["users"] == len({who for who, _day in mine}), (name, first, last)
            assert row["trend"] == [
                sum(1 for _who, day in mine if day == n) for n in range(first, last + 1)
            ], (name, first, last)
            detail = client.get(
                f"/api/audit/analysis/errors/{row['fingerprint']}/",
                {"since": since, "until": until},
            ).json()
            assert detail["count_in_period"] == len(mine)
            assert detail["users"] == row["users"]
            page = client.get(
                f"/analysis/errors/{row['fingerprint']}/", {"since": since, "until": until}
            ).content.decode()
            hit = page.split('id="users-title"', 1)[1].split("</section>", 1)[0]
            for n in range(len(people)):
                shown = f">person-{n}</a>" in hit
                assert shown == (n in {who for who, _day in mine}), (name, first, last, n)
