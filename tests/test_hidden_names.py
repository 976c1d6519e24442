"""A reader sees the names of only the entities they may view: a published query's
activity names its private project, and an edit that moved it between projects names
both, but a reader who may not view them reads their kind and id, in the panel, the
APIs and the exports alike; staff and those who may view them read the names."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from audit import AuditContext, bind
from catalog import actions
from catalog.models import Project, Query

pytestmark = pytest.mark.django_db

SECRET = "Project Zeta Acquisition"
OTHER_SECRET = "Project Omega Merger"


@pytest.fixture
def published(user: User) -> Query:
    """alice's query, published, moved from one private project to another."""
    with bind(AuditContext(user=user)):
        first = Project.objects.create(name=OTHER_SECRET, owner=user)
        query = Query.objects.create(name="Harmless query", owner=user, project=first, text="1")
        actions.publish(query)
        query.project = Project.objects.create(name=SECRET, owner=user)
        query.save()
    return query


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _reads(user: User, query: Query) -> dict[str, str]:
    """What ``user`` reads of the query's activity, on every page that shows it."""
    client = _client(user)
    entity = f"query:{query.pk}"
    export = client.get("/api/audit/events/export/", {"format": "ndjson", "entity": entity})
    csv = client.get("/api/audit/events/export/", {"format": "csv", "entity": entity})
    pages = {
        "panel": client.get(f"/activity/query/{query.pk}/"),
        "entity api": client.get(f"/api/audit/entities/query/{query.pk}/activity/"),
        "events api": client.get("/api/audit/events/", {"entity": entity}),
        "catalog page": client.get(f"/catalog/queries/{query.pk}/"),
        "catalog list": client.get("/catalog/queries/"),
    }
    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    read = {name: page.content.decode() for name, page in pages.items()}
    read["ndjson export"] = b"".join(export.streaming_content).decode()
    read["csv export"] = b"".join(csv.streaming_content).decode()
    return read


def test_a_reader_who_may_not_view_a_project_never_reads_its_name(
    published: Query, other_user: User
) -> None:
    for page, text in _reads(other_user, published).items():
        assert SECRET not in text and OTHER_SECRET not in text, page
    api = _client(other_user).get(f"/api/audit/entities/query/{published.pk}/activity/").json()
    edit = next(r for r in api["results"] if r["type"] == "query-edited")
    project = published.project
    assert edit["changes"]["project"]["new"] == f"project #{project.pk}"
    assert edit["changes"]["project"]["new_id"] == str(project.pk)
    linked = {(e["type"], e["id"]): e["name"] for e in edit["entities"]}
    assert linked[("project", str(project.pk))] == ""
    assert linked[("query", str(published.pk))] == "Harmless query"
    panel = _client(other_user).get(f"/activity/query/{published.pk}/").content.decode()
    assert f"/catalog/project/{project.pk}/" not in panel  # no link to a page they cannot open


def test_the_owner_staff_and_those_it_is_shared_with_read_the_names(
    published: Query, user: User, other_user: User, staff: User
) -> None:
    actions.share(published.project, [other_user])
    for reader in (user, staff, other_user):
        read = _reads(reader, published)
        for page in ("panel", "entity api", "events api", "ndjson export", "catalog page"):
            assert SECRET in read[page], (reader, page)
    # The first project is still private to alice: its name stays hidden from bob.
    bob = _reads(other_user, published)
    assert all(OTHER_SECRET not in text for text in bob.values())
    staff_view = json.loads(_reads(staff, published)["entity api"])
    edit = next(r for r in staff_view["results"] if r["type"] == "query-edited")
    assert edit["changes"]["project"]["old"] == OTHER_SECRET


def test_people_stay_named(published: Query, user: User, other_user: User) -> None:
    """Users and groups are not hidden: every record names its actor, and a share its
    audience, whoever reads it."""
    carol = User.objects.create_user("carol", "carol@example.com", "pw")
    with bind(AuditContext(user=user)):
        actions.share(published, [carol])
    assert "carol" in _reads(other_user, published)["entity api"]


def test_hiding_names_costs_staff_no_query(
    published: Query, staff: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit import hidden_names

    client = _client(staff)
    url = f"/api/audit/entities/query/{published.pk}/activity/"
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert SECRET in client.get(url).content.decode()
        return len(captured.captured_queries)

    masked = queries()
    monkeypatch.setattr(hidden_names, "mask_api_page", lambda page, user: page)
    assert masked == queries()
