"""The activity pages' reads and a tracked save's statement run as server-side prepared
statements on PostgreSQL (``audit.prepared``), do exactly what they do unprepared, and
leave every other statement bound on the client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from audit import clock, logger, staged
from audit.context import AuditContext, bind
from audit.models import AuditRecord
from audit.prepared import prepared_reads
from audit.recording import build_event, record_events
from catalog.models import Project, Query

from .conftest import logged_in

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)


def _prepared_texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [text for (text,) in cursor.fetchall()]


def _audit_texts() -> list[str]:
    """The audit app's prepared statements but the one that asks whether a change is
    staged (deferred tracking's ``settle``, prepared too when a page runs it)."""
    settling = f"SELECT {staged.NEWEST_STAGED}"
    return [t for t in _prepared_texts() if "audit_" in t and t.strip() != settling]


def _history(user: User, other: User, group: Group) -> None:
    """An error three days old (stored first: records are kept in time order), then six
    runs and six notes by two people."""
    event = build_event("error", "boom", entities=[("group", str(group.pk))])
    with clock.backdated(timezone.now() - timedelta(days=3)):
        record_events([event], ctx=AuditContext(user=user))
    for n in range(6):
        logger.log("query-start", f"run {n}", entities=[group], user=user)
        logger.log("log", f"note {n}", entities=[group], user=other)


CASES = [
    "",
    "limit=3",
    "type=query-start",
    "type=query-start&type=error",
    "type=never-recorded",
    "user=bob",
    "user=alice&type=error",
    "user=nobody",
    "limit=2&type=log",
    f"since={(timezone.now() - timedelta(days=1)).date().isoformat()}",
]


@postgres_only
def test_a_page_read_twice_runs_prepared_and_other_statements_do_not(staff, user, group):
    logger.log("log", "first", entities=[group], user=user)
    client = logged_in(staff)
    url = f"/api/audit/entities/group/{group.pk}/activity/"
    assert client.get(url).status_code == 200
    assert not any("audit_auditrecord" in text for text in _prepared_texts())
    assert client.get(url).status_code == 200  # the second run of the same text
    prepared = _audit_texts()
    # The page (its ids from the links, its records written as JSON): one statement,
    # bound on the server.
    assert len(prepared) == 1 and all("$1" in text for text in prepared), prepared
    assert "SELECT DISTINCT record_id FROM audit_entitylink" in prepared[0], prepared
    # Outside the block the connection is as Django made it: client-side binding,
    # nothing prepared however often a statement runs.
    raw = connection.connection
    assert raw.prepare_threshold is None and raw.cursor_factory.__name__ == "Cursor"
    for _ in range(3):
        list(Group.objects.filter(name="analysts"))
    assert not any("auth_group" in text for text in _prepared_texts())


@postgres_only
def test_a_panel_page_prepares_its_page_with_its_links(staff, user, group):
    logger.log("log", "first", entities=[group], user=user)
    client = logged_in(staff)
    for _ in range(2):
        assert client.get(f"/activity/group/{group.pk}/?fragment=items").status_code == 200
    texts = _prepared_texts()
    # The page's ids from the links, its records and their links: one statement.
    page = "WITH page(record_id) AS (SELECT DISTINCT record_id FROM audit_entitylink WHERE"
    (found,) = [text for text in texts if text.startswith(page)]
    assert "audit_auditrecord r" in found and "array_agg(l.object_id" in found, found
    assert not any("FROM audit_entitylink WHERE record_id = ANY($1" in t for t in texts), texts


@postgres_only
def test_switched_off_nothing_is_prepared(settings, staff, user, group):
    settings.AUDIT_PREPARED_STATEMENTS = 0
    logger.log("log", "first", entities=[group], user=user)
    client = logged_in(staff)
    for _ in range(3):
        assert client.get(f"/api/audit/entities/group/{group.pk}/activity/").status_code == 200
    assert _prepared_texts() == []


@postgres_only
def test_the_connection_is_restored_when_the_block_fails():
    raw_before = None
    with pytest.raises(RuntimeError), prepared_reads():
        raw_before = connection.connection
        assert raw_before.cursor_factory.__name__ == "ServerBindingCursor"
        with prepared_reads():  # nested: the outer block keeps the switch
            pass
        assert raw_before.cursor_factory.__name__ == "ServerBindingCursor"
        raise RuntimeError("a read failed")
    assert raw_before is not None
    assert raw_before.cursor_factory.__name__ == "Cursor"
    assert raw_before.prepare_threshold is None


@pytest.mark.parametrize("query", CASES)
def test_prepared_and_unprepared_pages_answer_the_same(
    settings: Any, staff, user, other_user, group, query
):
    _history(user, other_user, group)
    client = logged_in(staff)
    api = f"/api/audit/entities/group/{group.pk}/activity/?{query}"
    panel = f"/activity/group/{group.pk}/?{query}"
    answers = []
    for switch in (1, 0):
        settings.AUDIT_PREPARED_STATEMENTS = switch
        runs = [(client.get(api), client.get(panel)) for _ in range(3)]  # prepared by the 2nd
        for api_answer, panel_answer in runs:
            assert api_answer.status_code == 200, api_answer.content
            assert panel_answer.status_code == 200
        answers.append([(a.json(), _without_token(p.content.decode())) for a, p in runs])
    prepared, unprepared = answers
    assert prepared == unprepared
    matches = prepared[0][0]["results"]
    assert (matches == []) == (query in ("type=never-recorded", "user=nobody")), matches
    assert prepared[0] == prepared[2]


WALKS = [
    "limit=2",
    "limit=2&type=query-start&type=error",
    "limit=2&type=log",
    "limit=2&user=bob",
    "limit=2&user=alice&type=query-start",
]


@pytest.mark.parametrize("query", WALKS)
def test_following_next_reads_every_match_once_prepared_and_unprepared(
    settings: Any, staff, user, other_user, group, query
):
    """Every page's statements below a cursor: ``next`` followed to the end gives each
    matching record once, newest first, the same with and without prepared statements."""
    _history(user, other_user, group)
    params = dict(pair.split("=") for pair in query.split("&") if not pair.startswith("type"))
    types = [pair.split("=")[1] for pair in query.split("&") if pair.startswith("type")]
    expected = AuditRecord.objects.filter(links__object_id=str(group.pk)).distinct()
    if types:
        expected = expected.filter(type__name__in=types)
    if "user" in params:
        expected = expected.filter(user__username=params["user"])
    wanted = list(expected.order_by("-id").values_list("id", flat=True))
    assert len(wanted) >= 3  # more than one page
    client = logged_in(staff)
    walks = []
    for switch in (1, 0, 1):
        settings.AUDIT_PREPARED_STATEMENTS = switch
        url: str | None = f"/api/audit/entities/group/{group.pk}/activity/?{query}"
        seen: list[int] = []
        while url:
            body = client.get(url).json()
            seen += [record["id"] for record in body["results"]]
            url = body["next"]
        walks.append(seen)
    assert walks == [wanted, wanted, wanted]


@postgres_only
def test_an_entitys_pages_are_few_fixed_texts_whatever_the_values(staff, user, other_user, group):
    """The page's statements do not change with the entity, the cursor or the number of
    types asked: one text for a page (with a cursor, another), one for a page of some
    types (with a cursor, another), each reading the ids and the records at once."""
    _history(user, other_user, group)
    other = Group.objects.create(name="second group")
    for n in range(4):
        logger.log("query-start", f"run {n}", entities=[other], user=user)
    client = logged_in(staff)
    api = "/api/audit/entities/group/{}/activity/?{}"
    first = client.get(api.format(group.pk, "limit=2")).json()
    cursor = first["results"][-1]["id"]
    queries = [
        api.format(entity, query)
        for entity in (group.pk, other.pk)
        for query in (
            "limit=2",
            f"limit=2&before={cursor}",
            "type=query-start",
            "type=query-start&type=log&type=error",
            f"type=log&before={cursor}",
        )
    ]
    for _ in range(2):
        for url in queries:
            assert client.get(url).status_code == 200
    texts = _audit_texts()
    linked = [t for t in texts if "SELECT DISTINCT record_id FROM audit_entitylink" in t]
    assert len(linked) == 2, texts  # with a cursor and without
    assert len([t for t in texts if "unnest((SELECT $1::bigint[]))" in t]) == 2, texts  # the same
    assert all("json_agg(doc" in t for t in texts) and len(texts) == 4, texts


@postgres_only
def test_a_page_keeps_one_plan_whatever_its_values(staff, user, other_user, group):
    """Each page's statement is planned once per connection, for every value: a rare
    filter (an idle user, a type the entity never had) or a sparse entity must not look
    cheaper planned for its own values, or PostgreSQL plans the whole statement again on
    every request (``page_sql.PAGE_HEAD``). PostgreSQL plans the first five runs of a
    prepared statement for their values; after them, only the kept plan may serve."""
    from django.contrib.auth.models import User

    busy = Group.objects.create(name="busy")
    for n in range(300):
        logger.log("log", f"note {n}", entities=[busy], user=user)
    logger.log("log", "once", entities=[group], user=other_user)
    User.objects.create(username="idle")
    with connection.cursor() as cursor:  # the statistics a live database has
        cursor.execute("ANALYZE audit_entitylink; ANALYZE audit_auditrecord")
    client = logged_in(staff)
    shapes = [
        (busy.pk, ""),
        (group.pk, ""),
        (busy.pk, "user=idle"),
        (busy.pk, "user=alice"),
        (busy.pk, "type=error"),
        (busy.pk, "type=log"),
        (group.pk, "type=log&type=error"),
    ]
    for _ in range(8):  # every text runs prepared seven times at least
        for entity, query in shapes:
            for path in ("/api/audit/entities/group/{}/activity/?{}", "/activity/group/{}/?{}"):
                assert client.get(path.format(entity, query)).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%WITH page(record_id)%%'"
        )
        plans = cursor.fetchall()
    assert len(plans) >= 4, plans  # API and panel; entity's links, of a user, of types
    for text, generic, custom in plans:
        assert custom <= 5 and generic > 0, (custom, generic, text)


def _without_token(html: str) -> str:
    """The panel's HTML without its CSRF token, which differs per response."""
    import re

    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


# --- a tracked save ------------------------------------------------------------------


def _saved_statements() -> list[str]:
    return [text for text in _prepared_texts() if text.startswith("WITH audit_saved AS")]


@postgres_only
def test_a_tracked_save_runs_prepared_from_its_second_time(user):
    sales = Project.objects.create(name="Sales", owner=user)
    query = Query.objects.create(name="Q", owner=user, project=sales)
    with bind(AuditContext(user=user)):
        query.name = "Q2"
        query.save()
        assert _saved_statements() == []
        query.name = "Q3"
        query.save()  # the same text, other values
    (text,) = _saved_statements()
    assert text.startswith('WITH audit_saved AS (UPDATE "catalog_query"') and "$1" in text
    edits = list(AuditRecord.objects.filter(type__name="query-edited").order_by("id"))
    assert [record.changes["name"] for record in edits] == [
        {"old": "Q", "new": "Q2"},
        {"old": "Q2", "new": "Q3"},
    ]
    assert all(record.user_id == user.pk and record.session_id for record in edits)
    assert {link.role: link.name for link in edits[1].links.all()} == {
        "": "Q3",
        "project": "Sales",
    }


@postgres_only
def test_only_the_saves_own_statement_is_bound_on_the_server(user):
    """Receivers run statements before and after the tracked UPDATE that PostgreSQL
    would refuse with a bound parameter (``SET`` takes none): they keep Django's
    client-side binding, and the save still rides in one prepared statement."""
    seen: list[str] = []

    def set_name(sender: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL application_name = %s", ["tracked-save"])
            seen.append(type(cursor.cursor).__name__)

    pre_save.connect(set_name, sender=Query, dispatch_uid="test-prepared-pre")
    post_save.connect(set_name, sender=Query, dispatch_uid="test-prepared-post")
    try:
        query = Query.objects.create(name="Q", owner=user)
        for name in ("Q2", "Q3", "Q4"):
            query.name = name
            query.save()
    finally:
        pre_save.disconnect(dispatch_uid="test-prepared-pre", sender=Query)
        post_save.disconnect(dispatch_uid="test-prepared-post", sender=Query)
    assert set(seen) == {"Cursor"} and len(seen) == 8
    assert len(_saved_statements()) == 1
    assert AuditRecord.objects.filter(type__name="query-edited").count() == 3


@postgres_only
def test_a_failing_prepared_save_raises_and_records_nothing(user):
    query = Query.objects.create(name="Q", owner=user)
    for name in ("Q2", "Q3"):
        query.name = name
        query.save()
    assert len(_saved_statements()) == 1
    query.name = None  # NOT NULL: the prepared UPDATE fails
    with pytest.raises(IntegrityError), transaction.atomic():
        query.save()
    query.refresh_from_db()
    query.name = "Q4"
    query.save()  # the connection and the prepared statement still serve
    names = [
        record.changes["name"]["new"]
        for record in AuditRecord.objects.filter(type__name="query-edited").order_by("id")
    ]
    assert names == ["Q2", "Q3", "Q4"]


@postgres_only
def test_a_tracked_save_switched_off_is_not_prepared(settings, user):
    settings.AUDIT_PREPARED_STATEMENTS = 0
    query = Query.objects.create(name="Q", owner=user)
    for name in ("Q2", "Q3", "Q4"):
        query.name = name
        query.save()
    assert _saved_statements() == []
    assert AuditRecord.objects.filter(type__name="query-edited").count() == 3


@postgres_only
def test_a_users_activity_and_a_sessions_timeline_run_prepared(staff, user, group):
    for n in range(3):
        logger.log("log", f"note {n}", entities=[group], user=user)
    session = AuditRecord.objects.filter(user=user).first().session
    client = logged_in(staff)
    for _ in range(2):
        assert client.get(f"/activity/users/{user.username}/").status_code == 200
    texts = _prepared_texts()
    assert any('"audit_auditrecord"."user_id" = $' in text for text in texts), texts
    for _ in range(2):
        assert client.get(f"/activity/sessions/{session.uuid}/").status_code == 200
    texts = _prepared_texts()
    assert any('"audit_auditrecord"."session_id" = $' in text for text in texts), texts
