"""The analysis pages: numbers that link to their records, tables that download as CSV,
a clear empty state, and the way in from the start page, the admin and each record."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import User
from django.test import Client

import audit
from analysis.models import ErrorGroup
from tests.analysis_helpers import analyst

pytestmark = pytest.mark.django_db

TRACE = "TypeError: boom\n    at render (viewers.js:10:2)"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def activity(user: User, other_user: User) -> None:
    for _ in range(3):
        audit.log("dialog-ok", "ok", user=user)
    audit.log("log", "hello", user=other_user)
    audit.log("error", "TypeError: boom", stack_trace=TRACE, user=user)


def test_the_overview_links_every_number_to_its_records(activity, staff) -> None:
    page = _client(staff).get("/analysis/").content.decode()
    assert 'id="chart-usage"' in page and 'id="usage-data"' in page
    links = re.findall(r'href="(/analysis/records/\?[^"]+)"', page)
    assert links
    follow = next(link for link in links if "type=dialog-ok" in link.replace("&amp;", "&"))
    records = _client(staff).get(follow.replace("&amp;", "&"))
    assert records.status_code == 200
    body = records.content.decode()
    assert body.count('class="record"') == 3 and "dialog-ok" in body
    assert "/activity/users/alice/" in page  # the most active user links to their page


def test_every_table_downloads_as_csv(activity, staff) -> None:
    client = _client(staff)
    for table, header in [
        ("series", ["start", "events", "users"]),
        ("types", ["type", "events", "users"]),
        ("users", ["user", "events", "sessions", "last_seen"]),
        ("entities", ["how", "kind", "id", "name", "events"]),
    ]:
        response = client.get(f"/analysis/?download={table}")
        assert response["Content-Type"].startswith("text/csv")
        assert f'filename="analysis-{table}-' in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == header
    types = dict(
        (row[0], row[1])
        for row in csv.reader(io.StringIO(client.get("/analysis/?download=types").content.decode()))
    )
    assert types["dialog-ok"] == "3"
    errors = client.get("/analysis/errors/?download=csv")
    rows = list(csv.DictReader(io.StringIO(errors.content.decode())))
    assert rows[0]["message"] == "TypeError: boom" and rows[0]["count"] == "1"
    assert client.get("/analysis/?download=everything").status_code == 400


@pytest.mark.parametrize("table", ["types", "users", "entities"])
def test_a_table_downloaded_first_counts_what_was_just_recorded(
    activity, staff, user, table
) -> None:
    """Each download folds the newest records into the rollups itself: one asked for
    before any page was read counts them too."""
    audit.log("dialog-ok", "ok", user=user, entities=[("user", user.pk, "reviewer")])
    rows = list(
        csv.reader(io.StringIO(_client(staff).get(f"/analysis/?download={table}").content.decode()))
    )
    if table == "types":
        assert dict((row[0], row[1]) for row in rows[1:])["dialog-ok"] == "4"
    elif table == "users":
        assert dict((row[0], row[1]) for row in rows[1:])[user.username] == "5"
    else:
        assert ["used", "user", str(user.pk)] in [row[:3] for row in rows[1:]]


def test_a_cell_a_spreadsheet_would_run_is_quoted(staff, user) -> None:
    audit.log("error", '=HYPERLINK("http://evil")', stack_trace=TRACE, user=user)
    rows = list(
        csv.DictReader(
            io.StringIO(_client(staff).get("/analysis/errors/?download=csv").content.decode())
        )
    )
    assert rows[0]["message"].startswith("'=")


def test_an_empty_period_says_so(staff) -> None:
    page = _client(staff).get("/analysis/?since=2026-01-01&until=2026-01-08").content.decode()
    assert "No events in this period" in page
    assert (
        "No errors in this period"
        in _client(staff)
        .get("/analysis/errors/?since=2026-01-01&until=2026-01-08")
        .content.decode()
    )


def test_a_bad_filter_is_the_styled_400_naming_it(staff) -> None:
    response = _client(staff).get("/analysis/?tz=Nowhere/Land")
    assert response.status_code == 400
    assert "tz:" in response.content.decode()


def test_the_error_page_resolves_and_shows_its_history(activity, staff, user) -> None:
    audit_client = _client(staff)
    audit_client.get("/analysis/errors/")
    group = ErrorGroup.objects.get()
    url = f"/analysis/errors/{group.fingerprint}/"
    page = audit_client.get(url).content.decode()
    assert "TypeError: boom" in page and "at render (viewers.js:10:2)" in page  # the sample
    assert "/activity/users/alice/" in page  # the user it hit
    answer = audit_client.post(url, {"status": "resolved"})
    assert answer.status_code == 302
    group.refresh_from_db()
    assert group.status == "resolved"
    page = audit_client.get(url).content.decode()
    assert "status-resolved" in page and "resolved" in page
    assert "Reopen" in page and "Resolve</button>" not in page
    assert audit_client.post(url, {"status": "regressed"}).status_code == 400


def test_ways_in_from_the_start_page_the_admin_and_each_record(activity, staff, user) -> None:
    reader = analyst()
    assert 'href="/analysis/"' in _client(reader).get("/").content.decode()
    assert 'href="/analysis/"' not in _client(user).get("/").content.decode()
    assert "/analysis/errors/" in _client(staff).get("/admin/").content.decode()
    _client(staff).get("/analysis/")  # folds
    group = ErrorGroup.objects.get()
    panel = _client(staff).get("/activity/users/alice/").content.decode()
    assert f'href="/analysis/errors/{group.fingerprint}/"' in panel
    mine = _client(user).get("/activity/users/alice/").content.decode()
    assert "/analysis/errors/" not in mine  # alice may not read analysis
    from audit.models import AuditRecord

    error = AuditRecord.objects.get(type__name="error")
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    admin_page = _client(root).get(f"/admin/audit/auditrecord/{error.pk}/change/").content.decode()
    assert f"/analysis/errors/{group.fingerprint}/" in admin_page


def test_records_page_pages_by_keyset_and_offers_the_export(staff, user) -> None:
    for n in range(55):
        audit.log("log", f"n{n}", user=user)
    first = _client(staff).get("/analysis/records/?type=log").content.decode()
    assert first.count('class="record"') == 50
    older = re.search(r'href="\?([^"]+before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    second = _client(staff).get(f"/analysis/records/?{older}").content.decode()
    assert second.count('class="record"') == 5
    export = (
        re.search(r'href="(/api/audit/events/export/\?[^"]+)"', first)
        .group(1)
        .replace("&amp;", "&")
    )
    params = parse_qs(urlparse(export).query)
    assert params["format"] == ["csv"] and params["type"] == ["log"]
    rows = list(
        csv.DictReader(io.StringIO(b"".join(_client(staff).get(export).streaming_content).decode()))
    )
    assert len(rows) == 55
