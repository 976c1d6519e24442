"""POST /api/audit/events/: the ingest contract of DESIGN.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from audit.models import AuditRecord, EntityLink, EventType

from .conftest import post_events

pytestmark = pytest.mark.django_db


def test_one_event_is_stored_with_defaults(token_client: APIClient, user) -> None:
    response = post_events(token_client, {"message": "HELLO WORLD", "params": {"foo": "bar"}})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body == {"accepted": body["accepted"], "duplicates": 0, "disabled": 0, "rejected": []}
    record = AuditRecord.objects.get(pk=body["accepted"][0])
    assert record.type.name == "log"
    assert record.level == "info"
    assert record.message == "HELLO WORLD"
    assert record.params == {"foo": "bar"}
    assert record.user_id == user.pk
    assert record.source == "client"
    assert record.session.user_id == user.pk


def test_batch_keeps_good_events_and_reports_bad_ones_by_index(token_client: APIClient) -> None:
    batch = [
        {"type": "query-start", "message": "ok 0"},
        {"type": 12},
        {"message": "ok 2", "level": "loud"},
        "not an object",
        {"message": "ok 4", "params": []},
        {"message": "ok 5", "unexpected": 1},
        {"type": "log", "message": "ok 6", "level": "debug"},
    ]
    response = post_events(token_client, batch)
    assert response.status_code == 202
    body = response.json()
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4, 5]
    assert "type" in body["rejected"][0]["errors"]
    assert "level" in body["rejected"][1]["errors"]
    assert "non_field_errors" in body["rejected"][2]["errors"]
    assert "params" in body["rejected"][3]["errors"]
    assert "unexpected" in str(body["rejected"][4]["errors"])
    stored = AuditRecord.objects.filter(pk__in=body["accepted"]).order_by("id")
    assert [r.message for r in stored] == ["ok 0", "ok 6"]
    assert [r.level for r in stored] == ["usage", "debug"]


def test_same_id_is_stored_once_and_reported_as_duplicate(token_client: APIClient) -> None:
    key = str(uuid.uuid4())
    first = post_events(token_client, [{"id": key, "message": "a"}, {"id": key, "message": "a"}])
    assert first.json()["duplicates"] == 1
    assert len(first.json()["accepted"]) == 1
    second = post_events(token_client, {"id": key, "message": "a"})
    assert second.json() == {"accepted": [], "duplicates": 1, "disabled": 0, "rejected": []}
    assert AuditRecord.objects.filter(uuid=key).count() == 1


def test_bad_id_is_rejected_per_event(token_client: APIClient) -> None:
    response = post_events(token_client, [{"id": "nope"}, {"message": "kept"}])
    body = response.json()
    assert body["rejected"][0]["index"] == 0 and "id" in body["rejected"][0]["errors"]
    assert len(body["accepted"]) == 1


def test_custom_type_is_registered_on_first_use(token_client: APIClient) -> None:
    response = post_events(token_client, {"message": "HELLO WORLD", "type": "my_log"})
    assert response.status_code == 202
    assert AuditRecord.objects.get(pk=response.json()["accepted"][0]).type.name == "my_log"
    assert EventType.objects.get(name="my_log").built_in is False


@override_settings(AUDIT_MAX_CUSTOM_TYPES=0)
def test_new_type_over_the_cap_is_rejected_per_event(token_client: APIClient) -> None:
    body = post_events(token_client, [{"type": "brand-new"}, {"type": "log"}]).json()
    assert body["rejected"][0]["index"] == 0
    assert "AUDIT_MAX_CUSTOM_TYPES" in body["rejected"][0]["errors"]["type"][0]
    assert len(body["accepted"]) == 1


def test_client_time_is_kept_beside_server_time(token_client: APIClient) -> None:
    body = post_events(token_client, {"timestamp": "2026-01-02T03:04:05.678Z"}).json()
    record = AuditRecord.objects.get(pk=body["accepted"][0])
    assert record.client_time == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert record.created_at > record.client_time


def test_naive_client_time_is_taken_as_utc(token_client: APIClient) -> None:
    body = post_events(token_client, {"timestamp": "2026-01-02T03:04:05"}).json()
    record = AuditRecord.objects.get(pk=body["accepted"][0])
    assert record.client_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


JS_TRACE = """TypeError: x is undefined
    at render (https://app.example.com/static/app.js?v=12:10:5)
    at Viewer.draw (https://app.example.com/static/viewer.js:200:17)"""


def test_error_gets_a_fingerprint_that_ignores_line_numbers(token_client: APIClient) -> None:
    moved = JS_TRACE.replace(":10:5", ":99:1").replace("v=12", "v=13")
    other = JS_TRACE.replace("render", "paint")
    body = post_events(
        token_client,
        [
            {"type": "error", "message": "a", "stackTrace": JS_TRACE},
            {"type": "error", "message": "b", "params": {"stackTrace": moved}},
            {"type": "error", "message": "c", "stackTrace": other},
        ],
    ).json()
    a, b, c = (AuditRecord.objects.get(pk=pk) for pk in body["accepted"])
    assert a.fingerprint and len(a.fingerprint) == 40
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert b.stack_trace == moved


def test_entities_are_linked_with_names(service_client: APIClient, user, other_user) -> None:
    body = post_events(
        service_client,
        {
            "type": "user-invited",
            "entities": [{"type": "user", "id": other_user.pk, "role": "invitee"}],
        },
    ).json()
    link = EntityLink.objects.get(record_id=body["accepted"][0])
    assert (link.object_id, link.role, link.name) == (str(other_user.pk), "invitee", "bob")
    assert link.created_at == AuditRecord.objects.get(pk=link.record_id).created_at


def test_unknown_entity_kind_is_rejected_per_event(token_client: APIClient) -> None:
    body = post_events(
        token_client,
        [
            {"entities": [{"type": "spaceship", "id": 1}]},
            {"entities": [{"type": "user", "id": "x"}]},
            {"message": "kept"},
        ],
    ).json()
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert "unknown entity kind 'spaceship'" in body["rejected"][0]["errors"]["entities"][0]
    assert "not a valid user id" in body["rejected"][1]["errors"]["entities"][0]
    assert len(body["accepted"]) == 1


@pytest.mark.parametrize(
    ("setting", "event", "field"),
    [
        ("AUDIT_MAX_MESSAGE_LENGTH", {"message": "x" * 11}, "message"),
        ("AUDIT_MAX_STACK_TRACE_LENGTH", {"type": "error", "stackTrace": "x" * 11}, "stackTrace"),
        ("AUDIT_MAX_PARAMS_BYTES", {"params": {"k": "x" * 20}}, "params"),
        (
            "AUDIT_MAX_ENTITIES_PER_EVENT",
            {"entities": [{"type": "user", "id": 1}] * 11},
            "entities",
        ),
    ],
)
def test_each_event_limit_names_itself(token_client: APIClient, setting, event, field) -> None:
    with override_settings(**{setting: 10}):
        body = post_events(token_client, [event, {"message": "ok"}]).json()
    assert body["rejected"][0]["index"] == 0
    assert setting in body["rejected"][0]["errors"][field][0]
    assert len(body["accepted"]) == 1


@override_settings(AUDIT_MAX_PARAMS_DEPTH=3)
def test_params_nested_too_deep_are_rejected(token_client: APIClient) -> None:
    ok = {"a": {"b": {"c": 1}}}
    deep = {"a": {"b": {"c": {"d": 1}}}}
    body = post_events(token_client, [{"params": deep}, {"params": ok}]).json()
    assert "AUDIT_MAX_PARAMS_DEPTH" in body["rejected"][0]["errors"]["params"][0]
    assert len(body["accepted"]) == 1


@override_settings(AUDIT_MAX_BATCH=3)
def test_batch_over_the_limit_is_refused_whole(token_client: APIClient) -> None:
    response = post_events(token_client, [{}] * 4)
    assert response.status_code == 413
    assert "AUDIT_MAX_BATCH" in response.json()["detail"]
    assert AuditRecord.objects.count() == 0


@override_settings(AUDIT_MAX_BODY_BYTES=100)
def test_body_over_the_limit_is_refused_whole(token_client: APIClient) -> None:
    response = post_events(token_client, {"message": "x" * 200})
    assert response.status_code == 413
    assert "AUDIT_MAX_BODY_BYTES" in response.json()["detail"]
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[]", "empty"),
        (b"42", "one event object or a JSON array"),
    ],
)
def test_bodies_that_are_not_events_get_a_clear_400(token_client: APIClient, body, words) -> None:
    response = post_events(token_client, body)
    assert response.status_code == 400
    assert words in response.json()["detail"]


def test_anonymous_posts_are_refused(db) -> None:
    response = post_events(APIClient(), {"message": "x"})
    assert response.status_code in (401, 403)
    assert AuditRecord.objects.count() == 0


def test_bad_token_is_refused(db) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert post_events(client, {"message": "x"}).status_code == 401


def test_session_auth_needs_csrf(user) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    refused = post_events(client, {"message": "x"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.get("/api/audit/config/")  # sets the CSRF cookie like a page load would
    token = client.cookies["csrftoken"].value
    accepted = post_events(client, {"message": "x"}, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 202


def test_token_auth_needs_no_csrf(token) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert post_events(client, {"message": "x"}).status_code == 202


def test_globally_disabled_type_is_dropped_and_counted(token_client: APIClient) -> None:
    EventType.objects.filter(name="viewer-rendered").update(enabled=False)
    body = post_events(token_client, [{"type": "viewer-rendered"}, {"type": "log"}]).json()
    assert body["disabled"] == 1 and len(body["accepted"]) == 1
    assert not AuditRecord.objects.filter(type__name="viewer-rendered").exists()


def test_type_disabled_for_the_users_group_is_dropped(token_client: APIClient, group) -> None:
    EventType.objects.get(name="dialog-ok").disabled_for.add(group)
    body = post_events(token_client, [{"type": "dialog-ok"}, {"type": "log"}]).json()
    assert body["disabled"] == 1 and len(body["accepted"]) == 1


def test_request_id_is_stored_and_echoed(token_client: APIClient) -> None:
    response = post_events(token_client, {"message": "x"}, HTTP_X_REQUEST_ID="req-123")
    assert response["X-Request-ID"] == "req-123"
    assert AuditRecord.objects.get().request_id == "req-123"


def test_nul_characters_are_refused_per_event_not_per_batch(token_client: APIClient) -> None:
    body = post_events(
        token_client,
        [
            {"message": "a\u0000b"},
            {"params": {"k": "x\u0000"}},
            {"type": "error", "stackTrace": "\u0000"},
            {"message": "kept"},
        ],
    ).json()
    assert [r["index"] for r in body["rejected"]] == [0, 1, 2]
    assert "NUL" in body["rejected"][1]["errors"]["params"][0]
    assert len(body["accepted"]) == 1


def test_the_text_backslash_u0000_is_not_taken_for_a_nul(token_client: APIClient) -> None:
    # A value may hold the six characters of the escape as text (a path, a pattern):
    # encoded, its backslash is escaped, and only an odd run of backslashes is a NUL.
    kept = {"path": "C:\\u0000", "pattern": "\\\\u0000", "key\\u0000": 1}
    body = post_events(token_client, [{"params": kept}, {"params": {"k": "\\\u0000"}}]).json()
    assert [r["index"] for r in body["rejected"]] == [1]
    assert "NUL" in body["rejected"][0]["errors"]["params"][0]
    assert AuditRecord.objects.get().params == kept


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        (b'{"params": {"x": 1e400}}', "params", "number out of range"),
        (b'{"params": {"x": [-Infinity]}}', "params", "number out of range"),
        (b'{"params": {"x": ' + b"9" * 4301 + b"}}", "params", "number out of range"),
        (b'{"message": "\\ud800"}', "message", "lone surrogate"),
        (b'{"params": {"\\udc00 key": 1}}', "params", "lone surrogate"),
        (b'{"oops": NaN}', "non_field_errors", "number out of range"),
    ],
)
def test_a_value_the_decoder_refuses_costs_only_its_own_event(
    token_client: APIClient, bad: bytes, field: str, words: str
) -> None:
    """msgspec refuses the whole body for one such value; the batch is then read event
    by event, and only that event is refused."""
    good = b'{"message": "kept", "params": {"big": -' + b"9" * 40 + b', "pair": "\\ud83d\\ude00"}}'
    response = post_events(token_client, b"[" + good + b", " + bad + b"]")
    assert response.status_code == 202, response.content
    body = response.json()
    assert len(body["accepted"]) == 1
    ((rejected),) = body["rejected"]
    assert rejected["index"] == 1 and words in rejected["errors"][field][0]
    assert AuditRecord.objects.get().params == {"big": -int("9" * 40), "pair": "😀"}


def test_a_refused_value_in_an_event_nested_too_deep_costs_only_that_event(
    token_client: APIClient,
) -> None:
    deep = b"[" * 3000 + b"]" * 3000
    bad = b'{"params": {"x": 1e400, "deep": ' + deep + b"}}"
    response = post_events(token_client, b'[{"message": "kept"}, ' + bad + b"]")
    assert response.status_code == 202, response.content
    assert [r["index"] for r in response.json()["rejected"]] == [1]
    assert AuditRecord.objects.get().message == "kept"


def test_a_body_that_is_not_json_is_still_refused_whole(token_client: APIClient) -> None:
    for body in (b'[{"message": "kept"}, {"params": ]', b'{"params": {"x": 1e400}}'):
        response = post_events(token_client, body)
        assert response.status_code == 400
        assert "not valid JSON" in response.json()["detail"]
    assert not AuditRecord.objects.exists()


def test_rejection_messages_read_cleanly(token_client: APIClient) -> None:
    body = post_events(
        token_client, [{"type": 42}, {"entities": [{"type": "user", "id": [1]}]}]
    ).json()
    assert body["rejected"][0]["errors"] == {"type": ["Expected `str`, got `int`"]}
    assert body["rejected"][1]["errors"] == {
        "entities": ["Expected `int | str`, got `array` (at [0].id)"]
    }
