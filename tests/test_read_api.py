"""Reading records and sessions: filters, cursor pages, and who may see what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit import logger
from audit.models import AuditRecord

from .conftest import RECORD_KEYS, logged_in

pytestmark = pytest.mark.django_db


def test_a_record_reads_as_the_contract_says(user, other_user) -> None:
    logger.log("user-invited", "invited bob", {"via": "email"}, entities=[other_user], user=user)
    body = logged_in(user).get("/api/audit/events/").json()
    assert set(body) >= {"next", "results"}
    (record,) = body["results"]
    assert set(record) == RECORD_KEYS
    assert record["type"] == "user-invited"
    assert record["user"] == "alice"
    assert record["source"] == "server"
    assert record["entities"] == [
        {"type": "user", "id": str(other_user.pk), "role": "", "name": "bob"}
    ]


def test_users_read_only_their_own_records_and_staff_read_all(user, other_user, staff) -> None:
    logger.log("log", "mine", user=user)
    logger.log("log", "theirs", user=other_user)
    logger.log("log", "system")
    mine = logged_in(user).get("/api/audit/events/").json()["results"]
    assert [r["message"] for r in mine] == ["mine"]
    everything = logged_in(staff).get("/api/audit/events/").json()["results"]
    assert [r["message"] for r in everything] == ["system", "theirs", "mine"]


def test_anonymous_reads_are_refused(db) -> None:
    assert APIClient().get("/api/audit/events/").status_code == 401
    assert APIClient().get("/api/audit/sessions/").status_code == 401
    assert APIClient().get("/api/audit/config/").status_code == 401


def test_entity_filter_shows_the_activity_of_an_entity_the_user_may_view(
    user, other_user, group
) -> None:
    # alice may view the group she is in; bob's record about it shows to her there.
    logger.log("entity-shared", "shared with analysts", entities=[group], user=other_user)
    logger.log("log", "unrelated", user=other_user)
    client = logged_in(user)
    rows = client.get("/api/audit/events/", {"entity": f"group:{group.pk}"}).json()["results"]
    assert [r["message"] for r in rows] == ["shared with analysts"]
    activity = client.get(f"/api/audit/entities/group/{group.pk}/activity/").json()["results"]
    assert [r["message"] for r in activity] == ["shared with analysts"]


def test_activity_of_an_entity_the_user_may_not_view_is_forbidden(user, other_user) -> None:
    from django.contrib.auth.models import Group

    secret = Group.objects.create(name="secret")
    logger.log("entity-shared", "x", entities=[secret], user=other_user)
    client = logged_in(user)
    assert client.get("/api/audit/events/", {"entity": f"group:{secret.pk}"}).status_code == 403
    assert client.get(f"/api/audit/entities/group/{secret.pk}/activity/").status_code == 403
    assert client.get("/api/audit/entities/spaceship/1/activity/").status_code == 404
    assert client.get("/api/audit/events/", {"entity": "spaceship:1"}).status_code == 400


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "query-start"}, ["run"]),
        ({"type": "query-start,error"}, ["boom", "run"]),
        ({"level": "error"}, ["boom"]),
        ({"search": "BOO"}, ["boom"]),
        ({"user": "bob"}, ["bob's"]),
        ({"source": "server"}, ["bob's", "boom", "run"]),
    ],
)
def test_filters(staff, user, other_user, params, expected) -> None:
    logger.log("query-start", "run", user=user)
    logger.log("error", "boom", user=user, stack_trace="Error\n at f (a.js:1:1)")
    logger.log("log", "bob's", user=other_user)
    rows = logged_in(staff).get("/api/audit/events/", params).json()["results"]
    assert [r["message"] for r in rows] == expected


def test_time_and_session_filters(staff, user) -> None:
    first = AuditRecord.objects.get(pk=logger.log("log", "a", user=user))
    later = first.created_at + timedelta(microseconds=1)
    client = logged_in(staff)
    assert client.get("/api/audit/events/", {"since": later.isoformat()}).json()["results"] == []
    rows = client.get("/api/audit/events/", {"until": later.isoformat()}).json()["results"]
    assert [r["id"] for r in rows] == [first.pk]
    rows = client.get("/api/audit/events/", {"session": str(first.session.uuid)}).json()["results"]
    assert [r["id"] for r in rows] == [first.pk]
    bad = client.get("/api/audit/events/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()


def test_cursor_pages_walk_newest_first_without_gaps(staff) -> None:
    ids = [logger.log("log", f"m{n}") for n in range(7)]
    client = logged_in(staff)
    url, seen = "/api/audit/events/?limit=3", []
    while url:
        page = client.get(url).json()
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert seen == sorted(ids, reverse=True)


def test_list_query_count_does_not_grow_with_records(
    staff, user, other_user, group, django_assert_max_num_queries
) -> None:
    for n in range(30):
        logger.log("entity-shared", f"m{n}", entities=[group, other_user], user=user)
    client = logged_in(staff)
    with django_assert_max_num_queries(8):
        assert len(client.get("/api/audit/events/").json()["results"]) == 30


def test_sessions_list_and_detail(user, other_user, staff) -> None:
    mine = AuditRecord.objects.get(pk=logger.log("log", "a", user=user)).session
    theirs = AuditRecord.objects.get(pk=logger.log("log", "b", user=other_user)).session
    client = logged_in(user)
    listed = [s["uuid"] for s in client.get("/api/audit/sessions/").json()["results"]]
    assert str(mine.uuid) in listed and str(theirs.uuid) not in listed
    detail = client.get(f"/api/audit/sessions/{mine.uuid}/").json()
    assert detail["records"] == 1 and detail["user"] == "alice" and detail["kind"] == "server"
    assert client.get(f"/api/audit/sessions/{theirs.uuid}/").status_code == 404
    assert logged_in(staff).get(f"/api/audit/sessions/{theirs.uuid}/").status_code == 200


def test_openapi_document_and_docs_page(user) -> None:
    client = logged_in(user)
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/audit/events/", "/api/audit/config/", "/api/audit/sessions/"} <= set(paths)
    assert "post" in paths["/api/audit/events/"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_config_reports_disabled_types_for_the_user(user, group) -> None:
    from audit.models import EventType

    EventType.objects.get(name="dialog-ok").disabled_for.add(group)
    EventType.objects.filter(name="tutorial-completed").update(enabled=False)
    body = logged_in(user).get("/api/audit/config/").json()
    assert body["disabled_types"] == ["dialog-ok", "tutorial-completed"]
    assert body["limits"]["max_batch"] >= 1


def test_records_older_than_now_can_be_read_by_time(staff) -> None:
    logger.log("log", "now")
    future = (timezone.now() + timedelta(days=1)).isoformat()
    rows = logged_in(staff).get("/api/audit/events/", {"until": future}).json()["results"]
    assert [r["message"] for r in rows] == ["now"]


def test_errors_read_with_their_stack_trace_and_fingerprint(user, group) -> None:
    """An error's stack trace leaves the admin: the events list and the activity API show
    it with the fingerprint that groups its repeats."""
    client = logged_in(user)
    trace = "TypeError: x is undefined\n    at f (https://app.example.com/a.js?v=3:10:5)"
    body = {
        "type": "error",
        "message": "x is undefined",
        "stackTrace": trace,
        "entities": [{"type": "group", "id": group.pk}],
    }
    assert client.post("/api/audit/events/", body, format="json").status_code == 202
    (listed,) = client.get("/api/audit/events/", {"type": "error"}).json()["results"]
    assert listed["stack_trace"] == trace
    assert len(listed["fingerprint"]) == 40
    activity = client.get(f"/api/audit/entities/group/{group.pk}/activity/").json()["results"]
    assert activity[0]["stack_trace"] == trace
    assert activity[0]["fingerprint"] == listed["fingerprint"]
    client.post("/api/audit/events/", {"message": "not an error"}, format="json")
    plain = client.get("/api/audit/events/", {"type": "log"}).json()["results"][0]
    assert (plain["stack_trace"], plain["fingerprint"]) == ("", "")


def test_every_documented_filter_is_validated(staff) -> None:
    client = logged_in(staff)
    for params, name in [
        ({"level": "loud"}, "level"),
        ({"type": "not a type!"}, "type"),
        ({"source": "elsewhere"}, "source"),
        ({"since": "yesterday"}, "since"),
    ]:
        answer = client.get("/api/audit/events/", params)
        assert answer.status_code == 400, params
        assert name in answer.json()
    for params, name in [({"kind": "teleport"}, "kind"), ({"until": "soon"}, "until")]:
        answer = client.get("/api/audit/sessions/", params)
        assert answer.status_code == 400, params
        assert name in answer.json()


def test_sessions_filter_by_user_kind_and_time(user, other_user, staff) -> None:
    from audit import sessions as audit_sessions

    mine = audit_sessions.open_session(user, "browser")
    theirs = audit_sessions.open_session(other_user, "api")
    client = logged_in(staff)

    def uuids(**params) -> set[str]:
        return {s["uuid"] for s in client.get("/api/audit/sessions/", params).json()["results"]}

    assert uuids(user="alice") == {str(mine.uuid)}
    assert uuids(user=str(other_user.pk)) == {str(theirs.uuid)}
    assert str(theirs.uuid) in uuids(kind="api") and str(mine.uuid) not in uuids(kind="api")
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert uuids(since=later) == set()
    assert {str(mine.uuid), str(theirs.uuid)} <= uuids(until=later)


def test_the_openapi_document_describes_the_list_and_types_json_as_objects() -> None:
    import yaml

    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    listing = schema["paths"]["/api/audit/events/"]["get"]["description"]
    assert listing.startswith("The records you may read") and "Post" not in listing
    record = schema["components"]["schemas"]["Record"]["properties"]
    assert record["params"]["type"] == "object" and record["changes"]["type"] == "object"
    assert {"stack_trace", "fingerprint"} <= set(record)
