"""``/activity/KIND/ID/`` and ``{% activity_panel KIND ID %}``: an entity's history as
people read it, newest first, filtered, loaded by keyset, collapsed, never N+1."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Group
from django.template import Context, Template
from django.test import Client, RequestFactory

from audit import logger

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(group: Group) -> str:
    return f"/activity/group/{group.pk}/"


def _ids(content: bytes | str) -> list[int]:
    text = content.decode() if isinstance(content, bytes) else content
    return [int(pk) for pk in re.findall(r'data-record="(\d+)"', text)]


def _more_fragment(content: bytes) -> str | None:
    found = re.search(r'data-activity-more data-fragment="([^"]+)"', content.decode())
    return html.unescape(found.group(1)) if found else None


def test_panel_lists_entries_newest_first_in_words(user, other_user, group) -> None:
    first = logger.log("entity-shared", "", {"project": "Sales"}, entities=[group], user=user)
    logger.log("log", "not about the group", user=user)
    second = logger.log("comment-posted", "", {"text": "Ship it"}, entities=[group], user=user)
    response = _client(user).get(_url(group))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert _ids(body) == [second, first]
    assert "alice</a> shared the project" in body and "Ship it" in body  # her name links
    assert "<html" not in body  # a fragment, not a page
    assert "activity/activity.css" in body and "activity/panel.js" in body
    assert body.count("<time datetime=") == 2  # relative text, exact time on hover
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">now</time>', body
    )


def test_entry_shows_the_diff_other_entities_and_level(user, other_user, group) -> None:
    logger.log(
        "query-edited",
        "",
        {"query": "Sales"},
        entities=[group, ("user", other_user.pk, "reviewer")],
        user=user,
        changes={
            "sql": {"old": "SELECT 1", "new": "SELECT 2"},
            "password": {"old": "••••••", "new": "••••••"},
        },
    )
    logger.log("error", "TypeError: boom", entities=[group], user=user)
    body = _client(user).get(_url(group)).content.decode()
    assert 'class="act-old" title="SELECT 1">SELECT 1</del>' in body
    assert 'class="act-new" title="SELECT 2">SELECT 2</ins>' in body
    assert "act-masked" in body and "••••••</span>" in body
    # Links to the other entities, not to the group whose panel this is.
    assert 'href="/activity/users/bob/"' in body
    assert f'title="group {group.pk}' not in body
    assert "act-level-error" in body and "error: TypeError: boom" in body


def test_every_recorded_text_in_an_entry_is_escaped(user, group) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    logger.log(
        "query-edited",
        hostile,
        {"query": hostile},
        entities=[group, ("user", user.pk, hostile)],
        user=user,
        changes={
            "name": {"old": hostile, "new": hostile + "!"},
            "sql": {"old": "SELECT 1\nFROM a", "new": f"SELECT 1\nFROM {hostile}"},
            "note": hostile,
        },
    )
    logger.log("log", hostile, entities=[group], user=user)
    logger.log("log", hostile, entities=[group], user=user)  # collapsed: "2 times"
    body = _client(user).get(_url(group)).content.decode()
    assert "<img" not in body and 'onerror="' not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert "2 times</span>" in body and "act-line-add" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=query-start", ["run 2", "run 1"]),
        ("type=query-start,error", ["boom", "run 2", "run 1"]),
        ("type=error&type=log", ["boom", "bob's"]),
        ("user=bob", ["bob's"]),
        ("user=alice&type=error", ["boom"]),
    ],
)
def test_filters_by_type_and_user(staff, user, other_user, group, query, expected) -> None:
    by_message = {
        "run 1": logger.log("query-start", "run 1", entities=[group], user=user),
        "bob's": logger.log("log", "bob's", entities=[group], user=other_user),
        "run 2": logger.log("query-start", "run 2", {"x": 1}, entities=[group], user=user),
        "boom": logger.log("error", "boom", entities=[group], user=user),
    }
    response = _client(staff).get(f"{_url(group)}?{query}")
    assert _ids(response.content) == [by_message[m] for m in expected]


def test_filter_choices_are_the_types_and_users_present(user, other_user, group) -> None:
    logger.log("query-start", "run", entities=[group], user=user)
    logger.log("log", "note", entities=[group], user=other_user)
    logger.log("viewer-rendered", "elsewhere", user=user)
    body = _client(user).get(_url(group), {"type": "log"}).content.decode()
    types = re.findall(r'<option value="([^"]+)"', body.split('name="user"')[0])
    users = re.findall(r'<option value="([^"]+)"', body.split('name="user"')[1])
    assert types == ["log", "query-start"] and users == ["alice", "bob"]
    assert '<option value="log" selected>' in body


def test_filter_choices_are_kept_until_the_entity_has_a_new_record(
    user, other_user, group, django_assert_num_queries
) -> None:
    from audit import entity_activity_facets, kind

    logger.log("query-start", "run", entities=[group], user=user)
    group_kind = kind("group")
    assert group_kind is not None
    assert entity_activity_facets(group_kind, str(group.pk)) == (["query-start"], ["alice"])
    with django_assert_num_queries(1):  # the newest record's id; the choices are kept
        assert entity_activity_facets(group_kind, str(group.pk)) == (["query-start"], ["alice"])
    logger.log("log", "note", entities=[group], user=other_user)  # a new newest record
    assert entity_activity_facets(group_kind, str(group.pk)) == (
        ["log", "query-start"],
        ["alice", "bob"],
    )
    assert entity_activity_facets(group_kind, "no-such-group") == ([], [])


def test_filter_choices_offer_every_type_of_the_history(user, other_user, group) -> None:
    """Types come from the links' type index, the whole history: a type whose records are
    all older than the newest ``cap`` is still offered (and its filter is exact); users
    come from the newest ``cap`` records."""
    from audit import entity_activity_facets, kind

    logger.log("query-start", "long ago", entities=[group], user=other_user)
    for n in range(3):
        logger.log("log", f"m{n}", entities=[group], user=user)
    logger.log("viewer-rendered", "about something else", user=other_user)
    group_kind = kind("group")
    assert group_kind is not None
    assert entity_activity_facets(group_kind, str(group.pk), cap=2) == (
        ["log", "query-start"],
        ["alice"],
    )


def test_load_more_walks_every_record_once(user, group) -> None:
    ids = [logger.log("log", f"m{n}", {"n": n}, entities=[group], user=user) for n in range(11)]
    client = _client(user)
    response = client.get(_url(group), {"limit": 4})
    seen = _ids(response.content)
    url = _more_fragment(response.content)
    assert 'rel="next"' in response.content.decode()
    while url:
        assert "fragment=items" in url and "limit=4" in url
        page = client.get(url)
        assert 'name="type"' not in page.content.decode()  # items only, no filters
        seen += _ids(page.content)
        url = _more_fragment(page.content)
    assert seen == sorted(ids, reverse=True)


def test_load_more_keeps_the_filters(user, group) -> None:
    runs = [
        logger.log("query-start", f"r{n}", {"n": n}, entities=[group], user=user) for n in range(5)
    ]
    for n in range(3):
        logger.log("log", f"l{n}", entities=[group], user=user)
    client = _client(user)
    first = client.get(_url(group), {"type": "query-start", "limit": 3})
    second = client.get(_more_fragment(first.content))
    assert _ids(first.content) + _ids(second.content) == runs[::-1]


def test_identical_consecutive_events_collapse_without_breaking_the_cursor(user, group) -> None:
    older = logger.log("query-edited", "edit", entities=[group], user=user)
    runs = [
        logger.log("query-start", "Ran query Sales", entities=[group], user=user) for _ in range(5)
    ]
    newest = logger.log("query-start", "Ran query Sales", entities=[group], user=None)  # system
    client = _client(user)
    body = client.get(_url(group)).content.decode()
    assert _ids(body) == [newest, runs[-1], older]  # the run shows as its newest record
    assert body.count(">5 times</span>") == 1
    # A page boundary inside a run: the next page starts right below this page's last
    # record, so the run's rest shows there and nothing is skipped.
    first = client.get(_url(group), {"limit": 4})
    assert "3 times" in first.content.decode()
    rest = client.get(_more_fragment(first.content))
    assert _ids(rest.content) == [runs[1], older]
    assert "2 times" in rest.content.decode()


def test_empty_states(user, group) -> None:
    client = _client(user)
    body = client.get(_url(group)).content.decode()
    assert "No activity yet" in body and "will show up here" in body
    assert "data-activity-more" not in body
    logger.log("log", "x", entities=[group], user=user)
    filtered = client.get(_url(group), {"type": "error"}).content.decode()
    assert "No matching activity" in filtered and "Clear filters" in filtered


def test_who_may_see_the_panel(user, other_user, staff, group) -> None:
    logger.log("log", "about analysts", entities=[group])
    assert _client(user).get(_url(group)).status_code == 200
    assert _client(other_user).get(_url(group)).status_code == 403
    assert _client(staff).get(_url(group)).status_code == 200
    anonymous = Client().get(_url(group))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/activity/spaceship/1/", 404),
        ("/activity/group/abc/", 404),
        ("/activity/group/{pk}/?before=abc", 400),
        ("/activity/group/{pk}/?before=-1", 400),
        ("/activity/group/{pk}/?limit=100000", 400),
        ("/activity/group/{pk}/?type=bad%20name!", 400),
        ("/activity/group/{pk}/?type=never-recorded", 200),
        ("/activity/group/{pk}/?user=nobody", 200),
    ],
)
def test_bad_input_is_a_clear_4xx(staff, group, path, status) -> None:
    assert _client(staff).get(path.format(pk=group.pk)).status_code == status


@pytest.mark.parametrize("records", [5, 60])
def test_query_count_is_constant(
    user, other_user, group, records, django_assert_max_num_queries
) -> None:
    for n in range(records):
        logger.log(
            "query-edited",
            f"m{n}",
            entities=[group, ("user", other_user.pk, "reviewer")],
            user=user if n % 2 else other_user,
            changes={"name": {"old": f"a{n}", "new": f"b{n}"}},
        )
    client = _client(user)
    client.get(_url(group))  # warm the content-type cache
    # auth session + user, permission, the page's ids, its records, their links; the
    # filter choices were kept by the first view, under the newest record id the page
    # itself read.
    with django_assert_max_num_queries(6):
        response = client.get(_url(group))
    assert len(_ids(response.content)) == min(records, 25)
    # Items only: no choices; + type names, + the end of the filter's window.
    with django_assert_max_num_queries(7):
        client.get(_url(group), {"fragment": "items", "type": "query-edited", "before": 10**9})


def _render_tag(request, kind, object_id) -> str:
    template = Template("{% load activity_panel %}{% activity_panel kind object_id %}")
    return template.render(Context({"request": request, "kind": kind, "object_id": object_id}))


def test_template_tag_embeds_the_panel_for_those_who_may_view(user, other_user, group) -> None:
    record = logger.log("log", "hello", entities=[group], user=user)
    factory = RequestFactory()
    request = factory.get("/catalog/project/x/")
    request.user = user
    rendered = _render_tag(request, "group", group.pk)
    assert _ids(rendered) == [record]
    assert 'action="/catalog/project/x/"' in rendered  # no-JS filters reload the page
    assert f'data-fragment="/activity/group/{group.pk}/"' in rendered
    request.user = other_user
    assert "You may not view this activity." in _render_tag(request, "group", group.pk)
    assert "has no activity panel" in _render_tag(request, "spaceship", "1")


def test_template_tag_follows_the_page_parameters_and_ignores_bad_ones(user, group) -> None:
    ids = [logger.log("log", f"m{n}", {"n": n}, entities=[group], user=user) for n in range(3)]
    request = RequestFactory().get("/catalog/project/x/", {"before": ids[2]})
    request.user = user
    assert _ids(_render_tag(request, "group", group.pk)) == [ids[1], ids[0]]
    request = RequestFactory().get("/catalog/project/x/", {"before": "nonsense"})
    request.user = user
    rendered = _render_tag(request, "group", group.pk)
    assert _ids(rendered) == ids[::-1] and "ignored" in rendered


def test_a_sparse_filter_offers_to_search_further_back(user, staff, group, monkeypatch) -> None:
    """A filter by type or by user alone reads its own links and finds an old match at
    once; a user and a type together look through a window of the user's links and
    offer to search further back."""
    from audit import selectors

    monkeypatch.setattr(selectors, "FILTER_WINDOW", 2)
    match = logger.log("error", "old boom", entities=[group], user=user)
    staffs = logger.log("error", "staff's old boom", entities=[group], user=staff)
    for n in range(4):
        logger.log("log", f"m{n}", entities=[group], user=staff)
    client = _client(user)
    typed = client.get(_url(group), {"type": "error"}).content
    assert _ids(typed) == [staffs, match] and "Search older activity" not in typed.decode()
    hers = client.get(_url(group), {"user": user.username}).content
    assert _ids(hers) == [match] and "Search older activity" not in hers.decode()
    body = client.get(_url(group), {"user": staff.username, "type": "error"}).content
    assert _ids(body) == [] and "Search older activity" in body.decode()
    found, url = [], _more_fragment(body)
    while url:
        page = client.get(url)
        found += _ids(page.content)
        url = _more_fragment(page.content)
    assert found == [staffs]
