"""Bad input answers a clear 4xx that says what was wrong, never a 500.

Each test sends what once ended in a 500 (most of them on PostgreSQL, where psycopg
refuses a NUL in a parameter with ``ValueError``): a body that is not UTF-8, JSON
nested 100,000 deep, tampered cursors, NULs in paths, queries, headers and bodies,
times PostgreSQL cannot read. The good events of a batch are still stored. The HTML
pages' 400, 403 and 404 say why and link back to the start page; someone else's
session and someone else's name answer exactly what a missing one answers.
"""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.test import APIClient

from audit import logger
from audit.api.parsing import decode_body
from audit.models import AuditRecord, EventType
from audit.selectors import ActivityQuery, BadActivityQuery
from catalog.models import Project, Query

from .conftest import logged_in, post_events

pytestmark = pytest.mark.django_db

DEEP = 100_000


def _deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def _detail(response) -> str:
    return str(response.json())


# --- 1. a body that is not UTF-8 ------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"\xff\xfe", b'{"message": "caf\xe9"}', b'[{"message": "ok"}, {"message": "\xff"}]']
)
def test_a_body_that_is_not_utf8_is_a_400_that_says_so(token_client: APIClient, body) -> None:
    response = post_events(token_client, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The body is not valid JSON/UTF-8")
    assert AuditRecord.objects.count() == 0


def test_the_utf8_refusal_names_the_byte_and_where_it_is(token_client: APIClient) -> None:
    detail = post_events(token_client, b'{"message": "caf\xe9"}').json()["detail"]
    assert "byte 0xe9 at position 16 is not UTF-8" in detail


def test_bad_utf8_behind_a_too_deep_part_is_still_a_400(token_client: APIClient) -> None:
    body = b'[{"message": "ok"}, ' + b"[" * DEEP + b"]" * DEEP + b', {"message": "\xff"}]'
    response = post_events(token_client, body)
    assert response.status_code == 400
    assert "is not UTF-8" in response.json()["detail"]


# --- 2. JSON nested 100,000 deep ------------------------------------------------------


def test_a_body_nested_100000_deep_is_a_400(token_client: APIClient) -> None:
    response = post_events(token_client, b"[" * DEEP + b"]" * DEEP)
    assert response.status_code == 400
    assert "nests deeper than" in response.json()["detail"]
    assert "AUDIT_MAX_PARAMS_DEPTH" in response.json()["detail"]


def test_one_event_with_params_100000_deep_is_a_400(token_client: APIClient) -> None:
    response = post_events(token_client, b'{"params": ' + _deep_object(DEEP) + b"}")
    assert response.status_code == 400
    assert "nests deeper than" in response.json()["detail"]


@pytest.mark.parametrize("levels", [20, 500, 990, DEEP])
def test_a_batch_keeps_its_good_events_beside_one_nested_too_deep(
    token_client: APIClient, levels: int
) -> None:
    """20 levels decodes and is refused by validation; 500 and 990 decode but would
    blow the recursion limit of what comes after; 100,000 cannot be decoded at all."""
    body = (
        b'[{"message": "first", "params": {"note": "[{ not a bracket"}},'
        b'{"message": "deep", "params": ' + _deep_object(levels) + b"},"
        b'{"message": "last"}]'
    )
    response = post_events(token_client, body)
    assert response.status_code == 202, response.content
    result = response.json()
    assert len(result["accepted"]) == 2
    ((rejected),) = result["rejected"]
    assert rejected["index"] == 1
    assert "AUDIT_MAX_PARAMS_DEPTH" in rejected["errors"]["params"][0]
    stored = AuditRecord.objects.order_by("id")
    assert [r.message for r in stored] == ["first", "last"]
    assert stored[0].params == {"note": "[{ not a bracket"}


def test_a_deep_list_among_good_events_is_rejected_by_index(token_client: APIClient) -> None:
    body = b'[{"message": "ok"}, ' + b"[" * DEEP + b"]" * DEEP + b"]"
    result = post_events(token_client, body).json()
    assert len(result["accepted"]) == 1
    assert [r["index"] for r in result["rejected"]] == [1]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * DEEP, "never closed"),
        (b'[{"a": ' + b"[" * 2000 + b"}", "unexpected '}'"),
        (b"[" * 3000 + b"]" * 3001, "unexpected ']'"),
    ],
)
def test_broken_deep_json_is_a_400_that_says_where(token_client: APIClient, body, says) -> None:
    response = post_events(token_client, body)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]
    assert says in response.json()["detail"]


def test_the_cut_leaves_strings_and_shallow_events_exactly_as_sent() -> None:
    body = b'[{"message": "\\"[[[{{", "params": {"x": [1, {"y": "]}"}]}}, 7]'
    assert decode_body(body) == [{"message": '"[[[{{', "params": {"x": [1, {"y": "]}"}]}}, 7]


@override_settings(AUDIT_MAX_PARAMS_DEPTH=300)
def test_a_depth_limit_past_what_is_read_refuses_too_deep_bodies_whole(
    token_client: APIClient,
) -> None:
    """Cut at 256 levels, an event with params 300 deep would look valid: refuse it."""
    body = b'[{"message": "ok"}, {"params": ' + _deep_object(DEEP) + b"}]"
    response = post_events(token_client, body)
    assert response.status_code == 400
    assert "nests deeper than" in response.json()["detail"]


# --- 3. tampered cursors --------------------------------------------------------------


def _cursor(querystring: str) -> str:
    return base64.b64encode(querystring.encode()).decode()


TAMPERED = [
    _cursor("p=abc"),
    _cursor("p=1e5"),
    _cursor("p=' OR 1=1--"),
    _cursor("p=\x00"),
    _cursor("p=12\x00"),
    _cursor("o=1&p=\x00"),
    _cursor("p=99999999999999999999999"),
    _cursor("o=-1&p=5"),
    _cursor("r=yes&p=5"),
    _cursor("p=5&p=6"),
    _cursor("x=1"),
    _cursor("garbage"),
    "garbage!!",
    "%%%",
    "bm90IGJhc2U2NA",  # unpadded
    base64.b64encode(b"p=\xff").decode(),
]


@pytest.mark.parametrize("path", ["/api/audit/events/", "/api/audit/sessions/"])
@pytest.mark.parametrize("cursor", TAMPERED)
def test_a_tampered_cursor_is_a_400_that_says_the_cursor_is_invalid(
    token_client: APIClient, user, path, cursor
) -> None:
    logger.log("log", "one", user=user)
    response = token_client.get(path, {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert response.json()["cursor"][0].startswith("Invalid cursor")


def test_the_cursors_the_api_makes_still_page(token_client: APIClient, user) -> None:
    for n in range(5):
        logger.log("log", f"m{n}", user=user)
    seen, url = [], "/api/audit/events/?limit=2"
    while url:
        page = token_client.get(url)
        assert page.status_code == 200
        seen += [r["message"] for r in page.json()["results"]]
        url = page.json()["next"]
        previous = page.json()["previous"]
        if previous:
            assert token_client.get(previous).status_code == 200
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("p=abc"),
        _cursor("p=\x00"),
        _cursor("p=0001-01-01 00:00:00+05:00"),
        _cursor("p=2026-13-01 00:00:00+00:00"),
    ],
)
def test_a_tampered_catalog_cursor_is_a_400(token_client: APIClient, user, cursor) -> None:
    Project.objects.create(name="P", owner=user)
    response = token_client.get("/api/catalog/projects/", {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert response.json()["cursor"][0].startswith("Invalid cursor")


def test_catalog_cursors_the_api_makes_still_page(token_client: APIClient, user) -> None:
    for n in range(3):
        Project.objects.create(name=f"P{n}", owner=user)
    first = token_client.get("/api/catalog/projects/", {"limit": 2}).json()
    second = token_client.get(first["next"])
    assert second.status_code == 200
    assert len(first["results"]) + len(second.json()["results"]) == 3


# --- 4. NUL in paths, queries, headers and cookies ------------------------------------


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "root-password")


def test_nul_in_the_activity_api_query_is_a_json_400(token_client: APIClient, group) -> None:
    for query in ("user=%00", "type=a%00", "user=%00&type=log", "before=1%00"):
        response = token_client.get(f"/api/audit/entities/group/{group.pk}/activity/?{query}")
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/audit/events/?user=%00",
        "/api/audit/events/?search=%00",
        "/api/audit/sessions/?cursor=%00",
        "/api/catalog/projects/?owner=%00",
        "/api/audit/event-types/%00/",
        "/api/catalog/projects/%00/",
    ],
)
def test_nul_anywhere_in_an_api_address_is_a_json_400(token_client: APIClient, path) -> None:
    response = token_client.get(path)
    assert response.status_code == 400
    assert "NUL character" in response.json()["detail"]


def test_nul_in_pages_is_an_html_400_that_says_so(user, superuser, group) -> None:
    mine = Client()
    mine.force_login(user)
    admin = Client()
    admin.force_login(superuser)
    for client, path in [
        (mine, f"/activity/group/{group.pk}/?user=%00"),
        (mine, "/activity/users/%00/"),
        (admin, "/activity/users/%00/"),
        (admin, "/admin/audit/eventtype/switches/?q=%00"),
        (admin, "/admin/audit/auditrecord/?q=%00"),
        (mine, "/static/audit/%00app.css"),
        (Client(), "/login/?next=%00"),
    ]:
        response = client.get(path)
        assert response.status_code == 400, path
        body = response.content.decode()
        assert "contains a NUL character" in body, path
        assert 'class="topbar"' in body  # the site's layout, not Django's bare page


def test_nul_in_a_header_or_a_cookie_is_a_400(token, user) -> None:
    client = Client()
    client.force_login(user)
    response = client.get("/", HTTP_USER_AGENT="agent\x00")
    assert response.status_code == 400
    assert "User-Agent header contains a NUL" in response.content.decode()
    api = APIClient(HTTP_X_AUDIT_SESSION="\x00")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/audit/config/").status_code == 400
    nul_token = APIClient(HTTP_AUTHORIZATION="Token \x00")
    assert nul_token.get("/api/audit/events/").status_code == 400
    cookie = Client()
    cookie.cookies["sessionid"] = "abcdefgh\x00"
    assert cookie.get("/").status_code == 400


def test_the_activity_query_refuses_nul_by_itself() -> None:
    """The parsers do not lean on the middleware: a NUL never reaches a lookup."""
    for params, field in [({"user": "a\x00"}, "user"), ({"type": "log\x00"}, "type")]:
        with pytest.raises(BadActivityQuery) as caught:
            ActivityQuery.parse(params)
        assert "NUL" in caught.value.errors[field][0]
    assert ActivityQuery.parse({"user": "alice", "type": "log"}).user == "alice"


def test_numbers_that_are_not_ascii_digits_are_a_400_or_match_nothing(
    token_client: APIClient, user, group
) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` fails: that was a 500."""
    activity = f"/api/audit/entities/group/{group.pk}/activity/"
    assert token_client.get(activity, {"before": "²"}).status_code == 400
    assert token_client.get(activity, {"limit": "99999999999999999999999"}).status_code == 400
    assert token_client.get(activity, {"user": "²"}).status_code == 200
    listed = token_client.get("/api/audit/events/", {"user": "²"})
    assert listed.status_code == 200 and listed.json()["results"] == []
    huge = token_client.get("/api/audit/events/", {"user": "9" * 30})
    assert huge.status_code == 200 and huge.json()["results"] == []
    session = AuditRecord.objects.get(pk=logger.log("log", "x", user=user)).session
    page = logged_in(user).get(f"/activity/sessions/{session.uuid}/", {"after": "²"})
    assert page.status_code == 400


@pytest.mark.parametrize(
    "since", ["0958-01-05T05:03:04.9-21:55", "2026-01-01T00:00:00+23:59", "0001-01-01T00:00+05:00"]
)
def test_times_postgresql_cannot_read_are_read_in_utc_or_refused(
    token_client: APIClient, since
) -> None:
    """Found by schemathesis: an offset past ±15:59 was a 500 on PostgreSQL."""
    response = token_client.get("/api/audit/events/", {"since": since, "until": since})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert "out of range" in _detail(response)


def test_nul_in_catalog_bodies_is_a_400_that_names_the_field(token_client: APIClient, user) -> None:
    for body, field in [
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "description": "\x00"}, "description"),
    ]:
        response = token_client.post("/api/catalog/projects/", body, format="json")
        assert response.status_code == 400
        assert field in response.json()
    project = Project.objects.create(name="P", owner=user)
    query = {"name": "Q", "project": str(project.pk), "text": "SELECT 1", "parameters": {}}
    for change in [
        {"text": "SELECT\x00"},
        {"parameters": {"k\x00": 1}},
        {"parameters": {"k": "\x00"}},
    ]:
        response = token_client.post("/api/catalog/queries/", {**query, **change}, format="json")
        assert response.status_code == 400, response.content
        assert set(response.json()) == set(change)
    comment = token_client.post(
        f"/api/catalog/projects/{project.pk}/comments/", {"text": "hi\x00"}, format="json"
    )
    assert comment.status_code == 400
    share = token_client.post(
        f"/api/catalog/projects/{project.pk}/share/", {"users": ["bo\x00b"]}, format="json"
    )
    assert share.status_code == 400


def test_catalog_json_postgresql_or_the_encoder_cannot_take_is_a_400(
    token_client: APIClient, user
) -> None:
    """Lone surrogates (jsonb refuses them) and nesting past what the parser or the
    response's encoder reach without recursing too deep were 500s."""
    project = Project.objects.create(name="P", owner=user)
    query = f'{{"name": "Q", "project": "{project.pk}", "text": "SELECT 1", "parameters": '
    for parameters, field in [
        ('{"a": "\\udfff"}', "parameters"),
        ('{"\\ud800": 1}', "parameters"),
        ('{"a": "\\ud83d\\ude00"}', None),  # a pair: an emoji, kept
        ('{"a": ' + "[" * 64 + "]" * 64 + "}", "parameters"),
        ('{"a": ' + "[" * 62 + "]" * 62 + "}", None),
        ('{"a": ' + "[" * 3000 + "]" * 3000 + "}", "detail"),
    ]:
        response = token_client.post(
            "/api/catalog/queries/", query + parameters + "}", content_type="application/json"
        )
        if field is None:
            assert response.status_code == 201, response.content
        else:
            assert response.status_code == 400, response.content
            assert field in response.json()
    assert Query.objects.get(parameters__a="😀")


def test_a_lone_surrogate_quoted_back_in_an_error_is_a_400(staff_client: APIClient) -> None:
    """DRF quotes a bad choice back; as UTF-8 a lone surrogate cannot be written."""
    response = staff_client.patch(
        "/api/audit/event-types/dialog-ok/",
        b'{"level": "\\ud800"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "level" in response.json()


def test_a_switchs_groups_are_a_short_list_of_distinct_names(
    staff_client: APIClient, group
) -> None:
    """An object was read as its keys (``{}`` cleared every group), and any number of
    names, repeated or not, was looked up one by one."""
    path = "/api/audit/event-types/dialog-ok/"
    staff_client.patch(path, {"disabled_for_groups": [group.name]}, format="json")
    for value, words in [
        ({}, "must be a list"),
        ({group.name: 1}, "must be a list"),
        (group.name, "must be a list"),
        ([group.name, group.name], "more than once"),
        ([f"g{n}" for n in range(501)], "at most 500"),
    ]:
        response = staff_client.patch(path, {"disabled_for_groups": value}, format="json")
        assert response.status_code == 400, value
        assert words in response.json()["disabled_for_groups"][0]
    kept = EventType.objects.get(name="dialog-ok").disabled_for.values_list("name", flat=True)
    assert list(kept) == [group.name]


def test_nul_in_a_switch_group_name_is_a_400_and_changes_nothing(
    staff_client: APIClient, group
) -> None:
    """A group name is looked up in the database; a NUL in it must not reach PostgreSQL."""
    path = "/api/audit/event-types/dialog-ok/"
    response = staff_client.patch(
        path,
        {"enabled": False, "disabled_for_groups": [group.name, "a\x00b"]},
        format="json",
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["disabled_for_groups"][0]
    after = staff_client.get(path).json()
    assert after["enabled"] is True
    assert after["disabled_for_groups"] == []


# --- 5. the HTML pages' 400, 403 and 404 ----------------------------------------------


def _reason(response) -> str:
    found = re.search(r'<p class="error-reason">(.*?)</p>', response.content.decode(), re.S)
    assert found, response.content
    return found.group(1)


def test_a_400_page_says_what_was_wrong_and_links_to_the_start_page(user, group) -> None:
    client = logged_in(user)
    response = client.get(f"/activity/group/{group.pk}/", {"before": "abc"})
    assert response.status_code == 400
    assert "before: must be a whole number" in _reason(response)
    body = response.content.decode()
    assert '<a class="button primary" href="/">' in body
    assert "Bad request" in body and 'class="topbar"' in body


def test_the_reason_on_an_error_page_is_escaped(user, group) -> None:
    response = logged_in(user).get(f"/activity/group/{group.pk}/", {"type": "<script>x"})
    assert response.status_code == 400
    assert "&lt;script&gt;x" in _reason(response)
    assert "<script>x" not in response.content.decode()


def test_a_403_page_says_why(user, other_user) -> None:
    response = logged_in(user).get("/activity/users/bob/")
    assert response.status_code == 403
    assert _reason(response) == "You may only view your own activity."
    assert 'href="/"' in response.content.decode()


def test_a_404_page_says_what_is_missing(staff) -> None:
    client = logged_in(staff)
    assert _reason(client.get("/activity/users/nobody/")) == "No such user."
    unknown = client.get("/no/such/page/")
    assert unknown.status_code == 404
    assert _reason(unknown) == "There is no page at this address."
    assert "tried" not in unknown.content.decode()  # not the resolver's internals


def test_api_errors_stay_json(token_client: APIClient) -> None:
    unknown = token_client.get("/api/audit/nothing-here/")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "There is no page at this address."}
    bad = token_client.get("/api/audit/entities/nope/1/activity/")
    assert bad.status_code == 404 and "Unknown entity kind" in bad.json()["detail"]


# --- 6. no existence oracle -----------------------------------------------------------


def test_someone_elses_session_is_the_same_404_as_a_missing_one(user, other_user, staff) -> None:
    session = AuditRecord.objects.get(pk=logger.log("log", "x", user=user)).session
    theirs = logged_in(other_user).get(f"/activity/sessions/{session.uuid}/")
    missing = logged_in(other_user).get("/activity/sessions/00000000-0000-4000-8000-000000000000/")
    assert theirs.status_code == missing.status_code == 404
    assert _reason(theirs) == _reason(missing)
    assert logged_in(staff).get(f"/activity/sessions/{session.uuid}/").status_code == 200
    assert logged_in(user).get(f"/activity/sessions/{session.uuid}/").status_code == 200


def test_someone_elses_name_is_the_same_403_as_an_unknown_one(user, other_user, staff) -> None:
    client = logged_in(user)
    theirs, unknown = client.get("/activity/users/bob/"), client.get("/activity/users/nobody/")
    assert theirs.status_code == unknown.status_code == 403
    assert _reason(theirs) == _reason(unknown) == "You may only view your own activity."
    assert logged_in(staff).get("/activity/users/bob/").status_code == 200
    assert logged_in(staff).get("/activity/users/nobody/").status_code == 404
