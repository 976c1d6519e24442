"""The events export writes each record as the events list shows it, entities
included, page after page (``audit.api.export``, ``audit.api.records.page_rows``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

import audit
from audit.api import export
from audit.models import AuditRecord, EntityLink
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def _history(user: User, group: Group, other: Group) -> None:
    """Records with no entity, one, and several in roles; one whose link names a model
    no kind is registered for (its type is then the model's name)."""
    audit.log("log", "about nothing", user=user)
    audit.log("log", "about a group", entities=[group], user=user)
    audit.log(
        "share",
        "shared",
        entities=[group, ("group", other.pk, "target"), ("group", group.pk, "source")],
        user=user,
    )
    audit.log("log", "by the system")
    system = AuditRecord.objects.latest("id")
    EntityLink.objects.create(
        record=system,
        content_type=ContentType.objects.get_for_model(ContentType),
        object_id="42",
        role="seen",
        name="a content type",
        created_at=system.created_at,
        type_id=system.type_id,
        user_id=system.user_id,
    )
    audit.log("log", "after", entities=[other, group], user=user)


def _listed(client: Any) -> list[dict[str, Any]]:
    """Every record of the events list, following ``next``."""
    found: list[dict[str, Any]] = []
    url: str | None = "/api/audit/events/"
    while url:
        page = client.get(url).json()
        found += page["results"]
        url = page["next"]
    return found


def _exported(client: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audit/events/export/?format=ndjson")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    return [json.loads(line) for line in body.splitlines()]


def test_the_export_equals_the_events_list_across_pages(staff, user, group, monkeypatch) -> None:
    other = Group.objects.create(name='Second, {with} "quotes"')
    _history(user, group, other)
    monkeypatch.setattr(export, "PAGE", 2)  # pages end inside the history
    client = logged_in(staff)
    listed, exported = _listed(client), _exported(client)
    assert exported == listed
    by_message = {line["message"]: line for line in exported}
    assert by_message["about nothing"]["entities"] == []
    assert [(e["type"], e["id"], e["role"]) for e in by_message["shared"]["entities"]] == [
        ("group", str(group.pk), ""),
        ("group", str(other.pk), "target"),
        ("group", str(group.pk), "source"),
    ]
    assert by_message["after"]["entities"][0]["name"] == other.name
    assert by_message["by the system"]["entities"] == [
        {"type": "contenttype", "id": "42", "role": "seen", "name": "a content type"}
    ]


def _statements_to_export(client: Any) -> tuple[int, list[dict[str, Any]]]:
    with CaptureQueriesContext(connection) as queries:
        lines = _exported(client)
    return len(queries.captured_queries), lines


def test_an_export_page_costs_the_same_queries_whatever_its_size(staff, user, group) -> None:
    client = logged_in(staff)
    audit.log("log", "the first", entities=[group], user=user)
    one, _ = _statements_to_export(client)
    for n in range(30):
        audit.log("log", f"record {n}", entities=[group, ("group", group.pk, "again")], user=user)
    many, lines = _statements_to_export(client)
    assert len(lines) == 31 and all(line["entities"] for line in lines)
    assert many == one  # the page's links are read at once, not once a record
