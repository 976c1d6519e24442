"""The catalog's pages: overview, lists per kind and entity pages with their actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import SessionKind
from catalog.kinds import KINDS
from catalog.models import Comment, Connection, Project, Query
from tests.catalog_helpers import (  # noqa: F401 (fixtures are used by name)
    SECRET,
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


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_of(obj: Any) -> str:
    spec = next(spec for spec in KINDS.values() if spec.model is type(obj))
    return f"/catalog/{spec.kind}/{obj.pk}/"


def test_pages_need_sign_in(query: Query) -> None:
    for path in ("/catalog/", "/catalog/queries/", page_of(query)):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_main_menu_links_the_catalog(owner: User) -> None:
    page = browser(owner).get("/catalog/").content.decode()
    assert 'nav class="mainmenu"' in page
    assert 'href="/catalog/" aria-current="page">Catalog</a>' in page
    assert "catalog/catalog.css" in page


def test_overview_counts_what_the_user_may_view(
    owner: User, reader: User, team: Group, query: Query
) -> None:
    query.shared_with_groups.add(team)
    make("script", owner)  # private
    page = browser(reader).get("/catalog/").content.decode()
    assert "Top customers" in page
    assert "script 1" not in page
    # Queries: 1 shared; the project and connection are not shared with carol.
    assert '<span class="kind-count">1</span>\n      <span class="kind-label">Queries' in page
    assert '<span class="kind-count">0</span>\n      <span class="kind-label">Projects' in page


def test_list_shows_only_what_the_user_may_view(
    owner: User, reader: User, stranger: User, team: Group
) -> None:
    shared = make("notebook", owner, name="Shared notebook")
    shared.shared_with_groups.add(team)
    make("notebook", owner, name="Private notebook")
    published = make("notebook", stranger, name="Public notebook")
    published.published = True
    published.save()
    page = browser(reader).get("/catalog/notebooks/").content.decode()
    assert "Shared notebook" in page and "Public notebook" in page
    assert "Private notebook" not in page
    assert "2 notebooks you may view" in page
    assert 'class="badge published"' in page

    found = browser(reader).get("/catalog/notebooks/?q=public").content.decode()
    assert "Public notebook" in found and "Shared notebook" not in found
    nul = browser(reader).get("/catalog/notebooks/?q=pub%00lic")  # refused by the middleware
    assert nul.status_code == 400 and "contains a NUL character" in nul.content.decode()


def test_unknown_kind_is_404(owner: User) -> None:
    assert browser(owner).get("/catalog/widgets/").status_code == 404


@pytest.mark.parametrize("kind", ["query", "job", "project"])
def test_list_query_count_does_not_grow(kind: str, owner: User, project: Project) -> None:
    client = browser(owner)

    def add(count: int) -> None:
        for _ in range(count):
            extra = {} if kind == "project" else {"project": project}
            if kind == "query":
                extra["connection"] = make("connection", owner)
            make(kind, owner, **extra)

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get(f"/catalog/{KINDS[kind].plural}/").status_code == 200
        return len(captured.captured_queries)

    add(2)
    few = queries()
    add(12)
    assert queries() == few


def test_overview_query_count_does_not_grow(owner: User) -> None:
    client = browser(owner)

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get("/catalog/").status_code == 200
        return len(captured.captured_queries)

    for kind in KINDS:
        make(kind, owner)
    few = queries()
    for kind in KINDS:
        for _ in range(5):
            make(kind, owner)
    assert queries() == few


# --- the entity page ----------------------------------------------------------------


def test_owner_sees_details_actions_and_the_activity_panel(
    owner: User, project: Project, connection: Connection, query: Query
) -> None:
    page = browser(owner).get(page_of(query)).content.decode()
    assert "<h1>Top customers</h1>" in page
    assert '<pre class="code source" data-lang="sql"><code>SELECT name, revenue' in page
    assert f'href="{page_of(project)}">Sales Q3</a>' in page
    assert f'href="{page_of(connection)}">Northwind</a>' in page
    assert '<span class="step-op">filter</span>' in page
    assert "&quot;top&quot;: 10" in page  # parameters, pretty-printed
    for action in ("publish", "run", "share", "comment"):
        assert f'action="{page_of(query)}{action}/"' in page
    assert page.count("csrfmiddlewaretoken") >= 4
    # The activity panel beside the details shows the query's history.
    assert 'class="entity-activity"' in page
    assert "created the query" in page


def test_reader_may_run_and_comment_but_not_publish_or_share(
    owner: User, reader: User, team: Group, query: Query
) -> None:
    query.shared_with_groups.add(team)
    page = browser(reader).get(page_of(query)).content.decode()
    assert f'action="{page_of(query)}run/"' in page
    assert f'action="{page_of(query)}comment/"' in page
    assert f'action="{page_of(query)}publish/"' not in page
    assert f'action="{page_of(query)}share/"' not in page


def test_who_gets_the_page(
    owner: User, reader: User, stranger: User, staff: User, team: Group, query: Query
) -> None:
    assert browser(staff).get(page_of(query)).status_code == 200
    refused = browser(stranger).get(page_of(query))
    assert refused.status_code == 403
    assert "You may not view this query" in refused.content.decode()
    assert "Top customers" not in refused.content.decode()
    query.shared_with_groups.add(team)
    assert browser(reader).get(page_of(query)).status_code == 200
    assert (
        browser(owner).get("/catalog/queries/00000000-0000-0000-0000-000000000000/").status_code
        == 404
    )
    assert browser(owner).get("/catalog/queries/not-a-uuid/").status_code == 404
    assert browser(owner).get(f"/catalog/scripts/{query.pk}/").status_code == 404


def test_connection_page_never_shows_the_password(owner: User, connection: Connection) -> None:
    page = browser(owner).get(page_of(connection)).content.decode()
    assert SECRET not in page
    assert "stored, hidden" in page and "db.internal" in page and "PostgreSQL" in page


def test_every_kind_renders(owner: User, project: Project) -> None:
    client = browser(owner)
    for kind in KINDS:
        obj = project if kind == "project" else make(kind, owner, project=project)
        response = client.get(page_of(obj))
        assert response.status_code == 200, kind
        assert obj.name in response.content.decode()
    page = client.get(page_of(project)).content.decode()
    assert "In this project" in page and "notebook 1" in page and "script 1" in page


# --- actions from the page ----------------------------------------------------------


def test_publish_from_the_page(owner: User, stranger: User, query: Query) -> None:
    client = browser(owner)
    response = client.post(page_of(query) + "publish/")
    assert response.status_code == 302 and response["Location"] == page_of(query)
    (record,) = records("query-published", query)
    assert record.user == owner and record.session.kind == SessionKind.BROWSER
    assert "Published." in client.get(page_of(query)).content.decode()

    assert browser(stranger).post(page_of(query) + "publish/").status_code == 403


def test_readers_cannot_publish_or_share_from_the_page(
    owner: User, reader: User, team: Group, query: Query
) -> None:
    query.shared_with_groups.add(team)
    client = browser(reader)
    assert client.post(page_of(query) + "publish/").status_code == 403
    assert client.post(page_of(query) + "share/", {"users": "carol"}).status_code == 403
    assert records("query-published") == [] and records("entity-shared") == []


def test_actions_answer_get_with_405(owner: User, query: Query) -> None:
    assert browser(owner).get(page_of(query) + "publish/").status_code == 405


def test_run_from_the_page(owner: User, reader: User, team: Group, query: Query) -> None:
    query.shared_with_groups.add(team)
    client = browser(reader)
    response = client.post(page_of(query) + "run/", follow=True)
    assert "rows" in response.content.decode()
    assert records("query-start", query)[0].user == reader
    assert records("table-produced", query)[0].user == reader
    assert client.post(f"/catalog/connections/{query.connection_id}/run/").status_code == 403
    assert (
        browser(owner).post(f"/catalog/connections/{query.connection_id}/run/").status_code == 404
    )


def test_share_from_the_page(
    owner: User, reader: User, stranger: User, team: Group, query: Query
) -> None:
    client = browser(owner)
    response = client.post(page_of(query) + "share/", {"users": "bob, bob", "groups": "analysts"})
    assert response.status_code == 302
    (record,) = records("entity-shared-silent", query)
    assert links_of(record) >= {
        ("user", str(stranger.pk), "shared-with"),
        ("group", str(team.pk), "shared-with"),
    }
    client.post(page_of(query) + "share/", {"users": "carol", "notify": "on"})
    assert len(records("entity-shared", query)) == 1

    follow = client.post(page_of(query) + "share/", {"users": "ghost\x00"}, follow=True)
    assert "no user or group called ghost" in follow.content.decode()
    empty = client.post(page_of(query) + "share/", {"users": " , "}, follow=True)
    assert "at least one" in empty.content.decode()


def test_comment_from_the_page(owner: User, reader: User, team: Group, query: Query) -> None:
    query.shared_with_groups.add(team)
    client = browser(reader)
    response = client.post(page_of(query) + "comment/", {"text": "Net of discounts?"})
    assert response.status_code == 302 and response["Location"].endswith("#comments")
    assert Comment.objects.get().author == reader
    assert records("comment-posted", query)[0].user == reader
    page = client.get(page_of(query)).content.decode()
    assert "Net of discounts?" in page
    empty = client.post(page_of(query) + "comment/", {"text": "  "}, follow=True)
    assert "needs some text" in empty.content.decode()
    nul = client.post(page_of(query) + "comment/", {"text": "a\x00b"}, follow=True)
    assert "NUL" in nul.content.decode()
    assert Comment.objects.count() == 1


def test_open_project_from_the_page(owner: User, project: Project, query: Query) -> None:
    client = browser(owner)
    assert client.post(page_of(project) + "open/").status_code == 302
    assert records("project-opened", project)[0].user == owner
    assert client.post(page_of(query) + "open/").status_code == 404


def test_entity_page_query_count_does_not_grow(
    owner: User, reader: User, team: Group, project: Project, query: Query
) -> None:
    client = browser(owner)

    def queries(obj: Any) -> int:
        cache.clear()  # the activity panel's filter choices, kept once read, read again
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get(page_of(obj)).status_code == 200
        return len(captured.captured_queries)

    def grow(count: int) -> None:
        for index in range(count):
            user = User.objects.create_user(f"viewer{Comment.objects.count()}")
            user.groups.add(team)
            query.shared_with_users.add(user)
            query.shared_with_groups.add(Group.objects.create(name=f"group{user.pk}"))
            Comment.objects.create(kind="query", object_id=query.pk, author=user, text="Hi")
            make("script", owner, project=project, name=f"script in project {user.pk}-{index}")

    grow(1)
    few_query, few_project = queries(query), queries(project)
    grow(8)
    assert queries(query) == few_query
    assert queries(project) == few_project


def test_admin_lists_every_kind_and_never_shows_the_password(
    staff: User, owner: User, connection: Connection, query: Query
) -> None:
    staff.is_superuser = True
    staff.save()
    client = browser(staff)
    for spec in KINDS.values():
        model = spec.model._meta.model_name
        assert client.get(f"/admin/catalog/{model}/").status_code == 200, model
    change = f"/admin/catalog/connection/{connection.pk}/change/"
    page = client.get(change).content.decode()
    assert 'type="password"' in page and SECRET not in page

    form = {
        "name": "Northwind EU",
        "description": "",
        "owner": owner.pk,
        "project": connection.project_id,
        "data_source": "postgres",
        "server": "db.internal",
        "port": "5432",
        "database": "northwind",
        "login": "reader",
        "password": "",
        "shared_with_users": [],
        "shared_with_groups": [],
    }
    assert client.post(change, form).status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Northwind EU" and connection.password == SECRET
    (edited,) = records("connection-edited", connection)
    assert set(edited.changes) == {"name"} and edited.user == staff


def test_entity_pages_answer_at_the_contracts_kind_path_and_the_plural(db) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from catalog.models import Query

    owner = User.objects.create_user("owner-contract", password="x")
    query = Query.objects.create(name="Contract path", owner=owner)
    client = Client()
    client.force_login(owner)
    singular = client.get(f"/catalog/query/{query.pk}/")
    assert singular.status_code == 200 and b"Contract path" in singular.content
    assert client.get(f"/catalog/queries/{query.pk}/").status_code == 200
    assert f'href="/catalog/query/{query.pk}/"'.encode() in client.get("/catalog/queries/").content
