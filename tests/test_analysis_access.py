"""Who may read usage analysis: staff and holders of ``audit.view_analysis``; everyone
else gets a 403 on every page, answer and download. The records export follows the
events list's own rule."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

import audit
from tests.analysis_helpers import analyst, api

pytestmark = pytest.mark.django_db

PAGES = [
    "/analysis/",
    "/analysis/?download=types",
    "/analysis/?download=users",
    "/analysis/?download=series",
    "/analysis/?download=entities",
    "/analysis/errors/",
    "/analysis/errors/?download=csv",
    "/analysis/errors/0000000000000000000000000000000000000000/",
    "/analysis/records/",
]
API = [
    "/api/audit/analysis/usage/",
    "/api/audit/analysis/errors/",
    "/api/audit/analysis/errors/0000000000000000000000000000000000000000/",
]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES + API)
def test_a_plain_user_gets_403_everywhere(user, path) -> None:
    audit.log("error", "boom", stack_trace="Error: b\n    at f (a.js:1:1)", user=user)
    response = _client(user).get(path)
    assert response.status_code == 403
    assert b"boom" not in response.content


@pytest.mark.parametrize("path", PAGES + API)
def test_anonymous_is_sent_to_sign_in_or_refused(path) -> None:
    response = Client().get(path)
    assert response.status_code in (302, 401, 403)
    if response.status_code == 302:
        assert "/login/" in response["Location"]


@pytest.mark.parametrize("via_group", [True, False])
@pytest.mark.parametrize("path", [p for p in PAGES + API if "0000" not in p])
def test_the_permission_opens_them_without_staff(path, via_group) -> None:
    reader = analyst(via_group=via_group)
    assert not reader.is_staff
    response = _client(reader).get(path)
    assert response.status_code == 200, path


def test_a_status_change_needs_the_permission_too(user, staff) -> None:
    audit.log("error", "boom", stack_trace="Error: b\n    at f (a.js:1:1)", user=user)
    fingerprint = api(staff).get("/api/audit/analysis/errors/").json()["results"][0]["fingerprint"]
    url = f"/api/audit/analysis/errors/{fingerprint}/"
    assert api(user).patch(url, {"status": "ignored"}, format="json").status_code == 403
    page = f"/analysis/errors/{fingerprint}/"
    assert _client(user).post(page, {"status": "ignored"}).status_code == 403
    assert _client(analyst()).post(page, {"status": "ignored"}).status_code == 302


def test_the_export_follows_the_events_lists_visibility(user, other_user, staff) -> None:
    audit.log("log", "mine", user=user)
    audit.log("log", "theirs", user=other_user)
    mine = _client(user).get("/api/audit/events/export/?format=ndjson")
    assert mine.status_code == 200
    lines = [json.loads(line) for line in b"".join(mine.streaming_content).splitlines()]
    assert [line["message"] for line in lines] == ["mine"]
    everyone = _client(staff).get("/api/audit/events/export/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(everyone.streaming_content).decode())))
    assert [row["message"] for row in rows] == ["theirs", "mine"]  # newest first
    assert 'filename="audit-records-' in everyone["Content-Disposition"]
    assert Client().get("/api/audit/events/export/").status_code in (401, 403)
