"""Filters that live in the address: ``type``, ``user``, ``since`` and ``until`` read
the same way by the panel fragment, the entity page that embeds it and the user page,
so a filtered view can be bookmarked and sent; a bad date is a 400 that names it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client

from audit import clock
from audit.context import AuditContext
from audit.recording import build_event, record_events
from catalog.models import Query
from tests.catalog_helpers import (  # noqa: F401 (fixtures are used by name)
    connection,
    owner,
    project,
    team,
)

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
MAY = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ids(content: bytes) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-record="(\d+)"', content.decode())]


def _record(user, type_name: str, at: datetime, entities=()) -> int:
    event = build_event(type_name, f"{type_name} at {at:%Y-%m-%d}", entities=entities)
    with clock.backdated(at):
        return record_events([event], ctx=AuditContext(user=user)).accepted[0]


QUERY_PK = uuid.UUID("0b7e2f0c-5d1a-4c2e-9a53-2f4f0d3c1a77")


@pytest.fixture
def spring(owner) -> dict[str, list[int]]:
    """Three records of the query in spring, stored before anything of today: records
    are kept in time order, so the past goes in first (the query's key is known ahead)."""
    about = [("query", str(QUERY_PK))]
    return {
        "march-log": [_record(owner, "log", MARCH, about)],
        "april-error": [_record(owner, "error", APRIL, about)],
        "may-log": [_record(owner, "log", MAY, about)],
    }


@pytest.fixture
def query(spring, owner, project, connection) -> Query:
    """The catalog helpers' query, under the key the spring records link to."""
    return Query.objects.create(
        pk=QUERY_PK,
        name="Top customers",
        owner=owner,
        project=project,
        connection=connection,
        text="SELECT name, revenue FROM customers ORDER BY revenue DESC",
    )


@pytest.fixture
def history(owner, query: Query, spring: dict[str, list[int]]) -> dict[str, list[int]]:
    """The spring records, and what creating the query recorded today (the newest)."""
    shown = _ids(_client(owner).get(f"/activity/query/{query.pk}/").content)
    older = {pk for pks in spring.values() for pk in pks}
    return {"created": [pk for pk in shown if pk not in older], **spring}


def _expected(history: dict[str, list[int]], names: list[str]) -> list[int]:
    return [pk for name in names for pk in history[name]]


CASES = [
    ("", ["created", "may-log", "april-error", "march-log"]),
    ("type=log", ["may-log", "march-log"]),
    ("user=alice&until=2026-06-01", ["may-log", "april-error", "march-log"]),
    ("user=nobody", []),
    ("since=2026-04-01", ["created", "may-log", "april-error"]),
    ("until=2026-04-10", ["april-error", "march-log"]),  # a date: that whole day is in
    ("since=2026-04-01&until=2026-04-30", ["april-error"]),
    ("since=2026-04-10T12:00:00Z&until=2026-05-10T11:59", ["april-error"]),
    ("type=log&since=2026-04-01", ["may-log"]),
]


@pytest.mark.parametrize(("params", "expected"), CASES)
def test_panel_fragment_follows_the_address(owner, query, history, params, expected) -> None:
    response = _client(owner).get(f"/activity/query/{query.pk}/?{params}")
    assert response.status_code == 200
    assert _ids(response.content) == _expected(history, expected)


@pytest.mark.parametrize(("params", "expected"), CASES)
def test_entity_page_passes_the_address_to_its_panel(
    owner, query, history, params, expected
) -> None:
    response = _client(owner).get(f"/catalog/query/{query.pk}/?{params}")
    assert response.status_code == 200
    assert _ids(response.content) == _expected(history, expected)


def test_filters_show_in_the_form_and_in_load_more(owner, query, history) -> None:
    client = _client(owner)
    body = client.get(
        f"/catalog/query/{query.pk}/", {"type": "log", "since": "2026-03-01", "limit": 1}
    ).content.decode()
    assert 'name="since" value="2026-03-01"' in body
    assert '<option value="log" selected>' in body
    more = re.search(r'data-activity-more data-fragment="([^"]+)"', body).group(1)
    assert "since=2026-03-01" in more and "type=log" in more


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("type=log", ["may-log", "march-log"]),
        ("since=2026-04-01", ["may-log", "april-error"]),
        ("until=2026-04-30", ["april-error", "march-log"]),
        ("type=log&until=2026-04-30", ["march-log"]),
    ],
)
def test_user_page_has_the_same_filters(owner, query, history, params, expected) -> None:
    response = _client(owner).get(f"/activity/users/alice/?{params}")
    assert response.status_code == 200
    assert _ids(response.content) == _expected(history, expected)
    body = response.content.decode()
    assert 'name="since"' in body and 'name="until"' in body


@pytest.mark.parametrize("path", ["/activity/query/{pk}/", "/activity/users/alice/"])
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ("since=notadate", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-05-01&until=2026-04-01", "until"),
    ],
)
def test_a_bad_date_is_a_400_that_names_it(owner, query, path, params, named) -> None:
    response = _client(owner).get(path.format(pk=query.pk) + "?" + params)
    assert response.status_code == 400
    body = response.content.decode()
    assert f"{named}: " in body and "Bad request" in body


def test_the_entity_page_ignores_a_bad_date_but_says_so(owner, query, history) -> None:
    response = _client(owner).get(f"/catalog/query/{query.pk}/?since=notadate")
    assert response.status_code == 200
    assert "Filters in the address ignored." in response.content.decode()


def test_activity_query_reads_the_range_and_keeps_its_text() -> None:
    from audit.selectors import ActivityQuery, BadActivityQuery

    query = ActivityQuery.parse({"since": "2026-04-01", "until": "2026-04-30"})
    assert (query.since, query.until) == ("2026-04-01", "2026-04-30")
    assert query.starts == datetime(2026, 4, 1, tzinfo=UTC)
    assert query.ends == datetime(2026, 5, 1, tzinfo=UTC)  # the whole last day is in
    assert query.filtered
    exact = ActivityQuery.parse({"until": "2026-04-30T08:15:00+02:00"})
    assert exact.ends == datetime(2026, 4, 30, 6, 15, tzinfo=UTC) and exact.starts is None
    assert not ActivityQuery.parse({}).filtered  # unchanged without a range
    for bad in ("notadate", "2026-02-30", "2026-04-01\x00", "9" * 50):
        with pytest.raises(BadActivityQuery) as caught:
            ActivityQuery.parse({"since": bad})
        assert list(caught.value.errors) == ["since"]


def test_an_offset_python_reads_and_postgresql_cannot_hold_is_read_in_utc(
    owner, query, history, settings, admin_client
) -> None:
    """``+16:00`` is past PostgreSQL's offsets (to 15:59): bound on the client side (no
    prepared statements, as behind a pooler) it used to be a 500."""
    from audit.selectors import ActivityQuery

    settings.AUDIT_PREPARED_STATEMENTS = 0
    far = ActivityQuery.parse(
        {"since": "2026-04-02T02:00:00+16:00", "until": "2026-04-30T00:00-23:59"}
    )
    assert far.starts == datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    assert far.ends == datetime(2026, 4, 30, 23, 59, tzinfo=UTC)
    for bound in ("since", "until"):
        moment = {bound: "2026-04-02T02:00:00+16:00"}
        utc = {bound: "2026-04-01T10:00:00Z"}
        panel = f"/activity/query/{query.pk}/"
        api = f"/api/audit/entities/query/{query.pk}/activity/"
        assert _client(owner).get(panel, moment).status_code == 200
        assert _ids(_client(owner).get(panel, moment).content) == _ids(
            _client(owner).get(panel, utc).content
        )
        assert _client(owner).get(api, moment).json() == _client(owner).get(api, utc).json()
        assert admin_client.get("/admin/audit/auditrecord/", moment).status_code == 200


def test_a_range_with_a_time_stays_in_the_form(owner, query, history) -> None:
    """A date field cannot hold a time: such a bound is shown as text, so the next
    filter change (which sends the form) keeps it."""
    body = (
        _client(owner)
        .get(f"/activity/query/{query.pk}/", {"since": "2026-04-10T12:00", "until": "2026-05-01"})
        .content.decode()
    )
    assert '<input type="text" name="since" value="2026-04-10T12:00"' in body
    assert '<input type="date" name="until" value="2026-05-01"' in body
