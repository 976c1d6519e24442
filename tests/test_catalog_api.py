"""The catalog REST API: CRUD per kind, who may see and change what, the secret that
never leaves, the actions and their records, filters, pagination and query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import SessionKind
from catalog.kinds import KINDS
from catalog.models import Comment, Connection, Project, Query
from tests.catalog_helpers import (  # noqa: F401 (fixtures are used by name)
    SECRET,
    client_for,
    connection,
    links_of,
    make,
    owner,
    project,
    query,
    reader,
    records,
    staff,
    stranger,
    team,
)

pytestmark = pytest.mark.django_db

PAYLOADS: dict[str, dict[str, Any]] = {
    "project": {"name": "Churn", "description": "Why customers leave"},
    "connection": {
        "name": "Warehouse",
        "data_source": "snowflake",
        "server": "acme.snowflakecomputing.com",
        "port": 443,
        "database": "ANALYTICS",
        "login": "svc",
        "password": SECRET,
    },
    "query": {
        "name": "Churned accounts",
        "text": "SELECT * FROM accounts WHERE churned",
        "parameters": {"days": 60},
        "transformations": [{"op": "sort", "column": "mrr"}],
    },
    "job": {"name": "Nightly", "schedule": "0 2 * * *", "transformations": [], "enabled": True},
    "script": {"name": "dedupe.py", "language": "python", "body": "print('hi')"},
    "predictive-model": {
        "name": "Churn classifier",
        "method": "random-forest",
        "target": "churned",
        "features": ["mrr", "seats"],
        "metrics": {"auc": 0.87},
    },
    "notebook": {
        "name": "Exploration",
        "environment": "python-3.11",
        "content": [{"type": "markdown", "source": "# Hi"}],
    },
}


def url(kind: str, pk: Any = None, action: str = "") -> str:
    base = f"/api/catalog/{KINDS[kind].plural}/"
    if pk is not None:
        base += f"{pk}/"
    return base + (f"{action}/" if action else "")


# --- CRUD ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_crud_of_every_kind(kind: str, owner: User, project: Project) -> None:
    api = client_for(owner)
    payload = dict(PAYLOADS[kind])
    if kind != "project":
        payload["project"] = str(project.pk)
    created = api.post(url(kind), payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["kind"] == kind and body["owner"] == "alice" and body["published"] is False
    assert body["shared_with"] == {"users": [], "groups": []}
    pk = body["id"]
    obj = KINDS[kind].model.objects.get(pk=pk)
    (record,) = records(f"{kind}-created", obj)
    assert record.user == owner
    assert record.session.user_id == owner.pk

    assert api.get(url(kind, pk)).json()["name"] == payload["name"]
    assert pk in [item["id"] for item in api.get(url(kind)).json()["results"]]

    changed = api.patch(url(kind, pk), {"name": "Renamed"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Renamed"
    (edited,) = records(f"{kind}-edited", obj)
    assert edited.changes == {"name": {"old": payload["name"], "new": "Renamed"}}
    assert edited.user == owner

    assert api.delete(url(kind, pk)).status_code == 204
    assert api.get(url(kind, pk)).status_code == 404
    (deleted,) = records(f"{kind}-deleted", obj)
    assert deleted.user == owner


def test_owner_and_published_cannot_be_set_through_the_api(
    owner: User, stranger: User, query: Query
) -> None:
    api = client_for(owner)
    response = api.patch(
        url("query", query.pk), {"owner": stranger.pk, "published": True}, format="json"
    )
    assert response.status_code == 200
    query.refresh_from_db()
    assert query.owner == owner and not query.published


def test_editing_transformations_records_their_own_type(owner: User, query: Query) -> None:
    steps = [*query.transformations, {"op": "aggregate", "by": ["country"]}]
    response = client_for(owner).patch(
        url("query", query.pk), {"transformations": steps}, format="json"
    )
    assert response.status_code == 200
    (record,) = records("query-transformations-edited", query)
    assert record.changes["transformations"]["new"] == steps
    assert record.user == owner
    assert records("query-edited", query) == []


def test_job_transformations_and_queries(owner: User, query: Query) -> None:
    api = client_for(owner)
    created = api.post(url("job"), {"name": "Nightly", "queries": [str(query.pk)]}, format="json")
    assert created.status_code == 201 and created.json()["queries"] == [str(query.pk)]
    pk = created.json()["id"]
    api.patch(url("job", pk), {"transformations": [{"op": "join", "on": "id"}]}, format="json")
    assert len(records("job-transformations-edited")) == 1


# --- who may do what ----------------------------------------------------------------


def test_who_may_view(
    owner: User, reader: User, stranger: User, staff: User, team: Group, query: Query
) -> None:
    def status(user: User) -> int:
        return client_for(user).get(url("query", query.pk)).status_code

    assert status(owner) == 200 and status(staff) == 200
    assert status(reader) == 404 and status(stranger) == 404  # not even its existence

    query.shared_with_groups.add(team)
    assert status(reader) == 200 and status(stranger) == 404
    query.shared_with_users.add(stranger)
    assert status(stranger) == 200

    other = make("query", owner)
    assert client_for(stranger).get(url("query", other.pk)).status_code == 404
    client_for(owner).post(url("query", other.pk, "publish"))
    assert client_for(stranger).get(url("query", other.pk)).status_code == 200


def test_lists_show_only_what_the_user_may_view(
    owner: User, reader: User, stranger: User, staff: User, team: Group
) -> None:
    shared = make("script", owner)
    shared.shared_with_groups.add(team)
    private = make("script", owner)
    published = make("script", stranger)
    published.published = True
    published.save()
    mine = make("script", reader)

    def names(user: User) -> set[str]:
        return {item["name"] for item in client_for(user).get(url("script")).json()["results"]}

    assert names(reader) == {shared.name, published.name, mine.name}
    assert names(stranger) == {published.name}
    assert names(owner) == {shared.name, private.name, published.name}
    assert names(staff) == {shared.name, private.name, published.name, mine.name}


def test_only_owner_and_staff_change_delete_publish_or_share(
    owner: User, reader: User, staff: User, team: Group, query: Query
) -> None:
    query.shared_with_groups.add(team)
    api = client_for(reader)
    for response in (
        api.patch(url("query", query.pk), {"name": "Mine now"}, format="json"),
        api.put(url("query", query.pk), {"name": "Mine now"}, format="json"),
        api.delete(url("query", query.pk)),
        api.post(url("query", query.pk, "publish")),
        api.post(url("query", query.pk, "share"), {"users": ["carol"]}, format="json"),
    ):
        assert response.status_code == 403, response.content
        assert "owner" in response.json()["detail"]
    assert Query.objects.get().name == "Top customers"
    assert records("query-edited") == [] and records("query-published") == []

    # Readers may run and comment; staff may change anything.
    assert api.post(url("query", query.pk, "run")).status_code == 200
    assert api.post(url("query", query.pk, "comments"), {"text": "Nice"}).status_code == 201
    admin = client_for(staff)
    assert admin.patch(url("query", query.pk), {"name": "X"}, format="json").status_code == 200
    assert admin.delete(url("query", query.pk)).status_code == 204
    assert records("query-deleted")[0].user == staff


def test_related_entities_must_be_visible(
    owner: User, stranger: User, project: Project, connection: Connection
) -> None:
    response = client_for(stranger).post(
        url("query"),
        {"name": "Sneaky", "project": str(project.pk), "connection": str(connection.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"project", "connection"}
    assert "does not exist" in response.json()["project"][0]


def test_anonymous_requests_are_refused() -> None:
    response = APIClient().get(url("query"))
    assert response.status_code in (401, 403)


# --- the secret ---------------------------------------------------------------------


def test_connection_password_is_write_only(owner: User, project: Project) -> None:
    api = client_for(owner)
    payload = {**PAYLOADS["connection"], "project": str(project.pk)}
    created = api.post(url("connection"), payload, format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert "password" not in created.json() and created.json()["has_password"] is True
    assert Connection.objects.get().password == SECRET

    kept = api.patch(url("connection", pk), {"server": "other.host"}, format="json")
    assert kept.status_code == 200
    assert Connection.objects.get().password == SECRET
    api.patch(url("connection", pk), {"password": "rotated-" + SECRET}, format="json")
    assert Connection.objects.get().password == "rotated-" + SECRET

    responses = [
        created,
        kept,
        api.get(url("connection")),
        api.get(url("connection", pk)),
        api.post(url("connection", pk, "publish")),
        api.get(f"/api/audit/entities/connection/{pk}/activity/"),
        api.get("/api/audit/events/"),
    ]
    for response in responses:
        assert response.status_code == 200 or response.status_code == 201
        assert SECRET not in response.content.decode()
    (edited,) = [r for r in records("connection-edited") if "password" in r.changes]
    assert edited.changes["password"]["new"] != "rotated-" + SECRET


# --- actions ------------------------------------------------------------------------


def test_publish_records_for_the_requesting_user_and_session(
    owner: User, project: Project, query: Query
) -> None:
    response = client_for(owner).post(url("query", query.pk, "publish"))
    assert response.status_code == 200
    (record,) = records("query-published", query)
    assert response.json() == {"published": True, "record": record.pk}
    assert record.user == owner
    assert record.session.user_id == owner.pk and record.session.kind == SessionKind.BROWSER
    assert ("project", str(project.pk), "project") in links_of(record)
    again = client_for(owner).post(url("query", query.pk, "publish"))
    assert again.json() == {"published": True, "record": None}


def test_actions_exist_only_on_kinds_that_have_them(owner: User, project: Project) -> None:
    api = client_for(owner)
    assert api.post(url("project", project.pk, "publish")).status_code == 404
    assert api.post(url("project", project.pk, "run")).status_code == 404
    job = make("job", owner)
    assert api.post(url("job", job.pk, "publish")).status_code == 404
    conn = make("connection", owner)
    assert api.post(url("connection", conn.pk, "run")).status_code == 404
    assert api.post(url("query", project.pk, "run")).status_code == 404  # wrong kind


def test_share_by_name(
    owner: User, reader: User, stranger: User, team: Group, query: Query
) -> None:
    api = client_for(owner)
    response = api.post(
        url("query", query.pk, "share"),
        {"users": ["bob"], "groups": ["analysts"], "notify": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    (record,) = records("entity-shared-silent", query)
    assert response.json() == {
        "shared_with": {"users": ["bob"], "groups": ["analysts"]},
        "record": record.pk,
    }
    assert record.user == owner
    assert links_of(record) >= {
        ("user", str(stranger.pk), "shared-with"),
        ("group", str(team.pk), "shared-with"),
    }
    assert client_for(reader).get(url("query", query.pk)).status_code == 200

    api.post(url("query", query.pk, "share"), {"users": ["carol"]}, format="json")
    assert len(records("entity-shared", query)) == 1  # notify defaults to true


@pytest.mark.parametrize(
    ("payload", "field", "text"),
    [
        ({"users": ["nobody", "ghost"]}, "users", "No such user: ghost."),
        ({"groups": ["nope"]}, "groups", "No such group: nope."),
        ({}, "non_field_errors", "at least one"),
        ({"users": "bob"}, "users", "list"),
        ({"users": ["bob"], "notify": "perhaps"}, "notify", "boolean"),
    ],
)
def test_share_refuses_bad_input_clearly(
    payload: dict[str, Any], field: str, text: str, owner: User, stranger: User, query: Query
) -> None:
    response = client_for(owner).post(url("query", query.pk, "share"), payload, format="json")
    assert response.status_code == 400
    assert text in json.dumps(response.json()[field])
    assert records("entity-shared") == []


def test_run_query_records_start_and_table(owner: User, reader: User, team: Group) -> None:
    q = make("query", owner)
    q.shared_with_groups.add(team)
    response = client_for(reader).post(url("query", q.pk, "run"))
    assert response.status_code == 200
    body = response.json()
    (start,) = records("query-start", q)
    (table,) = records("table-produced", q)
    assert body["start_record"] == start.pk and body["table_record"] == table.pk
    assert body["table"]["rows"] == table.params["rows"] and table.params["columns"] > 0
    assert start.user == reader and table.user == reader


def test_run_script_records_start_only(owner: User) -> None:
    script = make("script", owner)
    response = client_for(owner).post(url("script", script.pk, "run"))
    assert response.json()["table"] is None and response.json()["table_record"] is None
    assert len(records("script-start", script)) == 1


def test_comments(owner: User, reader: User, team: Group, query: Query) -> None:
    query.shared_with_groups.add(team)
    api = client_for(reader)
    posted = api.post(url("query", query.pk, "comments"), {"text": "Net of discounts?"})
    assert posted.status_code == 201
    assert posted.json()["author"] == "carol" and posted.json()["text"] == "Net of discounts?"
    (record,) = records("comment-posted", query)
    assert record.user == reader

    client_for(owner).post(url("query", query.pk, "comments"), {"text": "Yes"})
    listed = api.get(url("query", query.pk, "comments")).json()
    assert [item["text"] for item in listed["results"]] == ["Yes", "Net of discounts?"]

    for bad in ({"text": ""}, {"text": "   "}, {}, {"text": "x" * 10_001}):
        assert api.post(url("query", query.pk, "comments"), bad, format="json").status_code == 400
    assert Comment.objects.count() == 2


def test_open_project(owner: User, project: Project) -> None:
    response = client_for(owner).post(url("project", project.pk, "open"))
    (record,) = records("project-opened", project)
    assert response.json() == {"record": record.pk} and record.user == owner


def test_token_clients_record_in_their_api_session(owner: User, query: Query) -> None:
    token = Token.objects.create(user=owner)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.post(url("query", query.pk, "run")).status_code == 200
    (start,) = records("query-start", query)
    assert start.user == owner and start.session.kind == SessionKind.API


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("query", {"name": "Q", "transformations": {"op": "sort"}}, "transformations"),
        ("query", {"name": "Q", "transformations": [{"col": "x"}]}, "transformations"),
        ("query", {"name": "Q", "parameters": [1, 2]}, "parameters"),
        ("query", {"name": "Q", "connection": "not-a-uuid"}, "connection"),
        ("job", {"name": "J", "schedule": "sometimes"}, "schedule"),
        ("connection", {"name": "C", "data_source": "excel"}, "data_source"),
        ("connection", {"name": "C", "data_source": "mysql", "port": 70000}, "port"),
        ("script", {"name": "S", "language": "cobol"}, "language"),
        ("project", {"description": "no name"}, "name"),
        ("project", {"name": "x" * 201}, "name"),
        # PostgreSQL cannot store NUL: a 400 here, never a 500 from the database.
        ("project", {"name": "a\x00b"}, "name"),
        ("query", {"name": "Q", "parameters": {"a": "\x00"}}, "parameters"),
        ("query", {"name": "Q", "parameters": {"\x00": 1}}, "parameters"),
        ("query", {"name": "Q", "transformations": [{"op": "f\x00"}]}, "transformations"),
        ("predictive-model", {"name": "M", "method": "m", "features": ["\x00"]}, "features"),
    ],
)
def test_bad_fields_are_400(kind: str, payload: dict[str, Any], field: str, owner: User) -> None:
    response = client_for(owner).post(url(kind), payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_bad_ids_and_bodies(owner: User, query: Query) -> None:
    api = client_for(owner)
    assert api.get(url("query", "not-a-uuid")).status_code == 404
    assert api.get(url("query", "00000000-0000-0000-0000-000000000000")).status_code == 404
    response = api.post(url("query"), data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert api.get("/api/catalog/widgets/").status_code == 404


# --- filters, pagination, query counts ----------------------------------------------


def test_filters(owner: User, stranger: User, project: Project) -> None:
    in_project = make("notebook", owner, project=project, name="Churn notes")
    elsewhere = make("notebook", owner, name="Assay QC")
    published = make("notebook", stranger, name="Public churn")
    published.published = True
    published.save()
    api = client_for(owner)

    def names(query_string: str) -> set[str]:
        response = api.get(url("notebook") + "?" + query_string)
        assert response.status_code == 200, response.content
        return {item["name"] for item in response.json()["results"]}

    assert names(f"project={project.pk}") == {in_project.name}
    assert names("owner=bob") == {published.name}
    assert names("published=true") == {published.name}
    assert names("published=false") == {in_project.name, elsewhere.name}
    assert names("search=churn") == {in_project.name, published.name}
    assert api.get(url("notebook") + "?project=nope").status_code == 400
    assert api.get(url("notebook") + "?search=%00").status_code == 400
    assert api.get(url("notebook") + "?owner=%00").status_code == 400
    assert api.get(url("project") + "?project=x").status_code == 200  # no such filter there


def test_cursor_pagination(owner: User) -> None:
    for _ in range(5):
        make("script", owner)
    api = client_for(owner)
    first = api.get(url("script") + "?limit=2").json()
    assert len(first["results"]) == 2 and first["next"]
    seen = [item["id"] for item in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [item["id"] for item in page["results"]]
    assert len(seen) == len(set(seen)) == 5


def test_entities_made_at_the_same_moment_are_each_paged_once(owner: User) -> None:
    """Ties on the creation time (an import, a backdated batch) are ordered by key: the
    database's own order among them changes as rows are rewritten, and the cursor counts
    its way past ties."""
    made = [make("project", owner) for _ in range(30)]
    Project.objects.update(created_at=made[0].created_at)
    for moved in made[::3]:  # rewritten rows move in the table
        Project.objects.filter(pk=moved.pk).update(description=f"moved {moved.pk}")
    api = client_for(owner)
    page = api.get(url("project") + "?limit=4").json()
    seen = [item["id"] for item in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [item["id"] for item in page["results"]]
    assert sorted(seen) == sorted(str(p.pk) if isinstance(seen[0], str) else p.pk for p in made)


@pytest.mark.parametrize("kind", ["query", "job", "connection"])
def test_list_query_count_does_not_grow(
    kind: str, owner: User, reader: User, stranger: User, team: Group
) -> None:
    other_group = Group.objects.create(name="engineers")
    api = client_for(reader)

    def add(count: int) -> None:
        for _ in range(count):
            obj = make(kind, owner)
            obj.shared_with_groups.add(team, other_group)
            obj.shared_with_users.add(reader, stranger)
            if kind == "job":
                obj.queries.add(make("query", owner), make("query", owner))

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert api.get(url(kind)).status_code == 200
        return len(captured.captured_queries)

    add(2)
    few = queries()
    add(15)
    assert queries() == few


def test_openapi_schema_documents_the_catalog(owner: User) -> None:
    schema = client_for(owner).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for spec in KINDS.values():
        assert f"/api/catalog/{spec.plural}/" in paths
        assert f"/api/catalog/{spec.plural}/{{id}}/" in paths
    assert "/api/catalog/queries/{id}/share/" in paths
    assert "/api/catalog/projects/{id}/open/" in paths
    connection_schema = schema["components"]["schemas"]["Connection"]
    assert "password" not in connection_schema["properties"]
    assert "password" in schema["components"]["schemas"]["ConnectionRequest"]["properties"]
