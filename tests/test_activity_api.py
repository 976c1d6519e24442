"""``GET /api/audit/entities/KIND/ID/activity/``: an entity's history from the link
index, newest first, by keyset cursor, filtered, for those who may view the entity."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import msgspec
import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit import logger, selectors
from audit.api import records
from audit.api.records import record_data
from audit.api.serializers import RecordSerializer
from audit.models import AuditRecord
from audit.registry import get as get_kind

from .conftest import RECORD_KEYS, logged_in, post_events

pytestmark = pytest.mark.django_db


def _url(group: Group) -> str:
    return f"/api/audit/entities/group/{group.pk}/activity/"


def _messages(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["message"] for row in response.json()["results"]]


def test_newest_first_with_the_contract_shape(user, group) -> None:
    logger.log("log", "first", entities=[group], user=user)
    logger.log("log", "elsewhere", user=user)
    logger.log("entity-shared", "second", entities=[group], user=user)
    body = logged_in(user).get(_url(group)).json()
    assert set(body) == {"next", "results"} and body["next"] is None
    assert [r["message"] for r in body["results"]] == ["second", "first"]
    assert set(body["results"][0]) == RECORD_KEYS
    assert body["results"][0]["entities"] == [
        {"type": "group", "id": str(group.pk), "role": "", "name": "analysts"}
    ]


def test_a_record_linking_the_entity_twice_appears_once(user, group) -> None:
    logger.log("entity-shared", "twice", entities=[group, ("group", group.pk, "shared-with")])
    logger.log("log", "once", entities=[group])
    rows = logged_in(user).get(_url(group)).json()["results"]
    assert [r["message"] for r in rows] == ["once", "twice"]
    assert len(rows[1]["entities"]) == 2


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "query-start"}, ["run 2", "run 1"]),
        ({"type": "query-start,error"}, ["boom", "run 2", "run 1"]),
        ("type=error&type=log", ["boom", "bob's"]),
        ({"type": "never-recorded"}, []),
        ({"user": "bob"}, ["bob's"]),
        ({"user": "alice", "type": "error"}, ["boom"]),
        ({"user": "nobody"}, []),
        ({"user": "b%"}, []),  # a name is matched whole, never as a pattern
        ({"user": "BOB"}, []),  # and as it is spelled, as the user model stores it
    ],
)
def test_filters_by_type_and_user(staff, user, other_user, group, params, expected) -> None:
    logger.log("query-start", "run 1", entities=[group], user=user)
    logger.log("log", "bob's", entities=[group], user=other_user)
    logger.log("query-start", "run 2", entities=[group], user=user)
    logger.log("error", "boom", entities=[group], user=user)
    logger.log("query-start", "not this group", user=user)
    client = logged_in(staff)
    if isinstance(params, str):
        response = client.get(f"{_url(group)}?{params}")
    else:
        response = client.get(_url(group), params)
    assert _messages(response) == expected


def test_keyset_pages_walk_every_record_once_newest_first(user, group) -> None:
    ids = [logger.log("log", f"m{n}", entities=[group], user=user) for n in range(8)]
    logger.log("log", "other entity", user=user)
    client = logged_in(user)
    url: str | None = f"{_url(group)}?limit=3&type=log"
    pages: list[list[int]] = []
    while url:
        body = client.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body["next"]
        if url:  # the cursor is the last id of the page, filters are kept
            query = parse_qs(urlparse(url).query)
            assert query["before"] == [str(pages[-1][-1])]
            assert query["type"] == ["log"] and query["limit"] == ["3"]
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [pk for page in pages for pk in page] == sorted(ids, reverse=True)


def test_a_page_that_ends_exactly_has_no_next(user, group) -> None:
    for n in range(4):
        logger.log("log", f"m{n}", entities=[group], user=user)
    body = logged_in(user).get(_url(group), {"limit": 4}).json()
    assert len(body["results"]) == 4 and body["next"] is None


def test_who_may_read_it(user, other_user, staff, group) -> None:
    logger.log("log", "about analysts", entities=[group])
    assert logged_in(user).get(_url(group)).status_code == 200  # a member
    assert logged_in(other_user).get(_url(group)).status_code == 403  # not a member
    assert logged_in(staff).get(_url(group)).status_code == 200
    assert APIClient().get(_url(group)).status_code in (401, 403)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/audit/entities/spaceship/1/activity/", 404),
        ("/api/audit/entities/group/not-a-number/activity/", 404),
        ("/api/audit/entities/group/0/activity/", 404),
    ],
)
def test_unknown_kind_or_bad_id_is_404(staff, path, status) -> None:
    assert logged_in(staff).get(path).status_code == status


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"before": "abc"}, "before"),
        ({"before": "0"}, "before"),
        ({"before": "-5"}, "before"),
        ({"before": str(2**64)}, "before"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"type": "not a type!"}, "type"),
    ],
)
def test_unreadable_parameters_are_400_not_500(staff, group, params, field) -> None:
    response = logged_in(staff).get(_url(group), params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("records", [5, 60])
def test_query_count_does_not_grow_with_records(
    user, other_user, group, records, django_assert_max_num_queries
) -> None:
    # Each record links the group and a user and names its type, user and session.
    for n in range(records):
        logger.log("entity-shared", f"m{n}", entities=[group, other_user], user=user)
    client = logged_in(user)
    client.get(_url(group))  # warm the content-type cache
    # session + user (auth), the permission check, the page's ids, its records and their
    # links (on PostgreSQL the records bring their links: one statement fewer).
    with django_assert_max_num_queries(6):
        body = client.get(_url(group), {"limit": 50}).json()
    assert len(body["results"]) == min(records, 50)
    # + resolving the type filter, + the end of the filter's window on a short page.
    with django_assert_max_num_queries(7):
        client.get(_url(group), {"type": "entity-shared"})


def test_the_page_query_is_keyset_from_the_link_index(user, group) -> None:
    """The page is a range scan of links below the cursor joined to records by primary
    key: no OFFSET, no EXISTS over the records table."""
    for n in range(5):
        logger.log("log", f"m{n}", entities=[group], user=user)
    kind = get_kind("group")
    with CaptureQueriesContext(connection) as queries:
        first = selectors.entity_activity_page(kind, str(group.pk), limit=2)
        second = selectors.entity_activity_page(
            kind, str(group.pk), limit=2, before=first.next_cursor
        )
    assert [r.message for r in first.records] == ["m4", "m3"]
    assert [r.message for r in second.records] == ["m2", "m1"]
    assert second.next_cursor == second.records[-1].pk
    sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
    assert "OFFSET" not in sql and "EXISTS" not in sql
    # The second page's ids: the links below the cursor, newest first, one more than
    # the page (whether there is a next one), read from the link index in order; on
    # PostgreSQL inside the statement that reads the records.
    keyset = r"FROM AUDIT_ENTITYLINK WHERE .* RECORD_ID < \d+ ORDER BY RECORD_ID DESC LIMIT 3(\)|$)"
    assert any(re.search(keyset, q["sql"].upper()) for q in queries.captured_queries), sql


def test_the_fast_record_shape_is_the_serializers(user, other_user, group) -> None:
    """The view builds records without DRF's field walk; they must read exactly as
    ``RecordSerializer`` reads them (client time, no user, a user gone, changes)."""
    logger.log("log", "system", {"a": [1, {"b": None}]}, entities=[group])
    logger.log(
        "query-edited",
        "edit",
        entities=[group, ("user", other_user.pk, "reviewer")],
        user=user,
        changes={"sql": {"old": "a", "new": "b"}},
    )
    logger.log("log", "by a user deleted later", entities=[group], user=other_user)
    other_user.delete()  # the record stays; its user is gone
    client_event = {
        "type": "log",
        "message": "from the browser",
        "timestamp": (timezone.now() - timedelta(days=30)).isoformat(),
        "entities": [{"type": "group", "id": group.pk}],
    }
    on_the_second = {  # no fraction of a second: written without one
        **client_event,
        "timestamp": (timezone.now() - timedelta(days=2)).replace(microsecond=0).isoformat(),
    }
    client = logged_in(user)
    assert post_events(client, [client_event, on_the_second]).status_code == 202
    page = selectors.entity_activity_page(get_kind("group"), str(group.pk))
    assert len(page.records) == 5
    expected = RecordSerializer(
        selectors.with_related(
            AuditRecord.objects.filter(pk__in=[r.pk for r in page.records])
        ).order_by("-id"),
        many=True,
    ).data
    assert record_data(page.records) == expected
    assert client.get(_url(group)).json()["results"] == expected


def _walk(client: APIClient, url: str | None) -> tuple[list[int], int]:
    """Every record id a filtered history shows, following ``next``; and the pages."""
    found, pages = [], 0
    while url:
        body = client.get(url).json()
        found += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    return found, pages


def test_a_type_filter_is_exact_however_rare(user, group, monkeypatch) -> None:
    """Links keep their record's type: a filter by type reads the entity's links of that
    type from their index, so two errors among many other records come on one page with
    no cursor (no window to search through), pages of one walk them in order, a record
    that links the entity twice shows once, and a type with no record says so at once."""
    monkeypatch.setattr(selectors, "FILTER_WINDOW", 4)
    errors = []
    for n in range(11):
        if n in (1, 6):
            errors.append(logger.log("error", f"boom {n}", entities=[group], user=user))
        else:
            logger.log("log", f"m{n}", entities=[group], user=user)
    twice = logger.log(
        "entity-shared", "twice", entities=[group, ("group", group.pk, "shared-with")]
    )
    client = logged_in(user)
    assert _walk(client, f"{_url(group)}?type=error") == (errors[::-1], 1)
    assert _walk(client, f"{_url(group)}?type=error&limit=1") == (errors[::-1], 2)
    both = f"{_url(group)}?type=error,entity-shared&limit=2"
    assert _walk(client, both) == ([twice, *errors[::-1]], 2)
    none = client.get(_url(group), {"type": "comment-posted"}).json()
    assert none == {"next": None, "results": []}


def test_a_user_filter_is_exact_and_with_types_searches_a_bounded_window(
    user, staff, group, monkeypatch
) -> None:
    """A filter by user alone reads the user's links to the entity from their own index:
    every match comes in order however many others acted there, with no short page.
    With a type too, a page looks through ``FILTER_WINDOW`` of the user's links and,
    short of matches, gives the cursor where it stopped; following ``next`` finds every
    match, in order, once."""
    monkeypatch.setattr(selectors, "FILTER_WINDOW", 4)
    mine, my_errors = [], []
    for n in range(11):
        who = user if n in (1, 3, 5, 6, 8, 9) else staff
        kind = "error" if n % 2 else "log"
        made = logger.log(kind, f"m{n}", entities=[group], user=who)
        if who == user:
            mine.append(made)
            if kind == "error":
                my_errors.append(made)
    client = logged_in(staff)
    assert _walk(client, f"{_url(group)}?user={user.username}") == (mine[::-1], 1)
    assert _walk(client, f"{_url(group)}?user={user.username}&limit=2") == (mine[::-1], 3)
    # Her links are 1, 3, 5, 6, 8, 9: a window of four (9, 8, 6, 5), then the rest.
    typed = f"{_url(group)}?type=error&user={user.username}"
    assert _walk(client, typed) == (my_errors[::-1], 2)


def test_the_browsable_api_shows_the_same_page(user, group) -> None:
    logger.log("log", "seen in a browser", entities=[group], user=user)
    client = logged_in(user)
    as_json = client.get(_url(group)).json()
    page = client.get(_url(group), HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "seen in a browser" in page.content.decode()
    assert as_json["results"][0]["message"] == "seen in a browser"


def test_times_are_shown_in_the_current_time_zone_as_the_serializer_does(user, group) -> None:
    from django.utils import timezone

    logger.log("log", "in Berlin", entities=[group], user=user)
    with timezone.override("Europe/Berlin"):
        page = selectors.entity_activity_page(get_kind("group"), str(group.pk))
        (expected,) = RecordSerializer(
            selectors.with_related(AuditRecord.objects.filter(pk=page.records[0].pk)),
            many=True,
        ).data
        (fast,) = records.page_rows(AuditRecord.objects.filter(pk=page.records[0].pk), None)
        (shown,) = logged_in(user).get(_url(group)).json()["results"]
    encoded = msgspec.json.decode(msgspec.json.encode(fast.data))
    assert encoded["timestamp"] == expected["timestamp"] == shown["timestamp"]
    assert expected["timestamp"].endswith(("+01:00", "+02:00"))
    assert shown == expected


STORED_TIMES = [
    "2026-05-06 07:08:09+00",  # no fraction of a second
    "2026-01-01 00:00:00.000001+00",
    "2026-03-29 01:30:00.25+02",
    "0099-03-04 05:06:07.5+00",  # a year of fewer than four digits
    "0001-01-01 00:00:00+00",  # the first moment Python holds
    "9999-12-31 23:59:59.999999+00",  # the last
    "0001-12-31 10:00:00+00 BC",  # those it cannot hold, as an older version stored them
    "10000-01-01 00:00:00+00",
    "infinity",
    "-infinity",
    None,
]


@pytest.mark.postgres
@pytest.mark.parametrize("stored", STORED_TIMES)
def test_a_page_written_by_the_database_shows_times_as_drf_shows_them(stored) -> None:
    """The entity's page writes its times in SQL (``records._utc_text``): each must read
    as DRF writes the time Django loads (``audit.time_loader``'s stand-in for a time
    Python cannot hold)."""
    from rest_framework.fields import DateTimeField

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {records._utc_text('v')}, v FROM (VALUES (%s::timestamptz)) AS t(v)",
            [stored],
        )
        written, loaded = cursor.fetchone()
    assert written == (None if loaded is None else DateTimeField().to_representation(loaded))


def test_without_time_zones_the_page_shows_times_as_the_serializer_does(
    settings, user, group
) -> None:
    """With ``USE_TZ`` off, DRF writes naive times; the page's come from Python then, not
    from the database's UTC text (``records._in_utc``)."""
    logger.log("log", "naive", entities=[group], user=user)
    settings.USE_TZ = False
    client = logged_in(user)
    (shown,) = client.get(_url(group)).json()["results"]
    (expected,) = RecordSerializer(
        selectors.with_related(AuditRecord.objects.filter(pk=shown["id"])), many=True
    ).data
    assert shown == expected
    assert not shown["timestamp"].endswith(("Z", "+00:00"))
