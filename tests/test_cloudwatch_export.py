"""End to end against moto's server on 127.0.0.1: real HTTP, real boto3, dummy keys."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

import audit
from audit import clock
from audit.models import AuditRecord
from audit.recording import build_event, record_events
from catalog.models import Project
from cloudwatch_export import connection, export
from cloudwatch_export.batcher import millis
from cloudwatch_export.models import ExportSettings, OutboxEntry, StreamStatus

from .cloudwatch_helpers import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    Flaky,
    configure,
    create_stream,
    events_in,
    logs_client,
    moto_url,
    read_timeout,
    record_ids,
    run_configure,
    streams_of,
    unique_group,
)
from .conftest import post_events


def api_records(client: APIClient, **filters: Any) -> dict[int, dict[str, Any]]:
    body = client.get("/api/audit/events/", filters).json()
    return {record["id"]: record for record in body["results"]}


def test_mapped_types_arrive_in_their_streams_as_the_read_api_shows_them(
    user: User, staff: User, token_client: APIClient
) -> None:
    settings = configure(
        {"log": "datagrok_log", "error": "datagrok_errors", "project-created": "datagrok_changes"}
    )
    client_time = (timezone.now() - timedelta(days=2)).replace(microsecond=678000)
    assert not logs_client().describe_log_groups(logGroupNamePrefix=settings.log_group)["logGroups"]
    answer = post_events(
        token_client,
        [
            {
                "type": "log",
                "message": "opened ünïcode ✓",
                "params": {"a": 1, "nested": {"b": [1, 2.5, None, True]}},
                "entities": [{"type": "user", "id": user.pk, "role": "subject"}],
                "timestamp": client_time.strftime("%Y-%m-%dT%H:%M:%S.678Z"),
            },
            {"type": "error", "message": "boom", "stackTrace": "Error\n at f (a.js:1:2)"},
            {"type": "query-run", "message": "not mapped"},
        ],
    )
    assert answer.status_code == 202
    gone = User.objects.create_user("gone", "g@example.com", "pw")
    audit.log("log", "by a user deleted since", user=gone)
    gone_id = gone.pk
    gone.delete()
    Project.objects.create(name="Sales", owner=user, description="Q3")

    report = export.drain()

    assert report.error == "" and report.sent == 4
    assert {"datagrok_log", "datagrok_errors", "datagrok_changes"} == streams_of(settings.log_group)
    staff_client = APIClient()
    staff_client.force_login(staff)
    shown = api_records(staff_client)
    delivered = {
        stream: events_in(settings.log_group, stream)
        for stream in ("datagrok_log", "datagrok_errors", "datagrok_changes")
    }
    for stream, events in delivered.items():
        for event in events:
            message = json.loads(event["message"])
            assert message == shown[message["id"]], stream
            record = AuditRecord.objects.get(pk=message["id"])
            assert event["timestamp"] == millis(record.created_at)
    types = {
        stream: [json.loads(e["message"])["type"] for e in events]
        for stream, events in delivered.items()
    }
    assert types == {
        "datagrok_log": ["log", "log"],
        "datagrok_errors": ["error"],
        "datagrok_changes": ["project-created"],
    }
    logged = [json.loads(e["message"]) for e in delivered["datagrok_log"]]
    assert logged[0]["client_timestamp"] == client_time.strftime("%Y-%m-%dT%H:%M:%S.678000Z")
    assert logged[0]["entities"] == [
        {"type": "user", "id": str(user.pk), "role": "subject", "name": "alice"}
    ]
    assert logged[1]["user"] == f"deleted user #{gone_id}"
    changes = json.loads(delivered["datagrok_changes"][0]["message"])
    assert changes["changes"]["name"] == {"new": "Sales"}
    assert OutboxEntry.objects.count() == 0
    assert export.drain().sent == 0  # nothing twice


@pytest.mark.parametrize("message_format", ["json", "text"])
def test_errors_reach_their_stream_with_stack_trace_and_fingerprint(
    user: User, message_format: str
) -> None:
    """The specification's ``error => datagrok_errors`` stream carries the stacks."""
    settings = configure({"error": "datagrok_errors"}, message_format=message_format)
    trace = "TypeError: boom\n    at run (app.js:12:3)"
    record_id = audit.log("error", "boom", stack_trace=trace, user=user)
    assert export.drain().sent == 1
    (event,) = events_in(settings.log_group, "datagrok_errors")
    record = AuditRecord.objects.get(pk=record_id)
    if message_format == "json":
        message = json.loads(event["message"])
        assert message["stack_trace"] == trace and message["fingerprint"] == record.fingerprint
    else:
        assert f" fingerprint={record.fingerprint} " in event["message"]
        assert event["message"].endswith("stack_trace=TypeError: boom\\n    at run (app.js:12:3)")


def test_text_format_is_one_line_starting_with_time_type_user_and_id(user: User) -> None:
    settings = configure({"log": "plain"}, message_format="text")
    record_id = audit.log("log", "two\nlines", {"k": "v"}, user=user)
    assert export.drain().sent == 1
    (event,) = events_in(settings.log_group, "plain")
    record = AuditRecord.objects.get(pk=record_id)
    stamp = record.created_at.isoformat().replace("+00:00", "Z")
    assert event["message"].startswith(f"{stamp} log alice #{record_id} [info] two\\nlines")
    assert "\n" not in event["message"]
    params = re.search(r" params=(\{.*\}) session=", event["message"])
    assert params is not None and json.loads(params.group(1)) == {"k": "v"}
    assert f"session={record.session.uuid}" in event["message"]


def test_records_outside_the_window_are_set_aside_then_retried_or_discarded(db: Any) -> None:
    with clock.backdated(timezone.now() - timedelta(days=15)):  # exported since then
        settings = configure({"log": "app"})
        record_events([build_event("log", "ancient")])
    audit.log("log", "fresh")
    report = export.drain()
    assert report.sent == 1 and report.set_aside == 1
    entry = OutboxEntry.objects.get()
    assert "older than 14 days" in entry.set_aside_reason and entry.set_aside_at
    assert len(events_in(settings.log_group, "app")) == 1
    assert export.drain().sent == 0  # set-aside rows are not claimed


def test_a_records_purged_before_export_is_dropped_from_the_outbox(db: Any) -> None:
    from audit import clock
    from audit.purge import purge_older_than

    with clock.backdated(timezone.now() - timedelta(days=3)):  # the purge keeps a day
        configure({"log": "app"})
        audit.log("log", "purged soon")
    purge_older_than(timezone.now() - timedelta(days=2))
    report = export.drain()
    # Only the seal the purge made first leaves (to its witness stream).
    assert report.streams["app"].sent == 0 and report.streams["app"].dropped == 1
    assert not OutboxEntry.objects.exists()


def test_the_export_command_drains_once_and_reports(db: Any) -> None:
    settings = configure({"log": "cmd_log", "error": "cmd_errors"})
    for i in range(3):
        audit.log("log", f"m{i}")
    audit.log("error", "e")
    out = io.StringIO()
    call_command("cloudwatch_export", "--once", stdout=out)
    text = out.getvalue()
    assert "cmd_log: sent 3 in 1 batch" in text and "cmd_errors: sent 1 in 1 batch" in text
    assert "Sent 4 records" in text
    assert len(events_in(settings.log_group, "cmd_log")) == 3
    status = StreamStatus.objects.get(stream="cmd_log")
    assert status.sent_total == 3 and status.last_success_at is not None


def test_the_export_command_reports_retries_and_resends(
    db: Any, monkeypatch: Any, settings: Any
) -> None:
    """A drain that got everything through after a timeout does not look clean."""
    settings.CLOUDWATCH_EXPORT_SEND_BACKOFF_SECONDS = 0.01
    group = configure({"log": "cmd_retry"}).log_group
    create_stream(group, "cmd_retry")
    for i in range(3):
        audit.log("log", f"m{i}")
    real_client = connection.client
    monkeypatch.setattr(
        connection, "client", lambda s: Flaky(real_client(s), read_timeout(), deliver_first=True)
    )
    out = io.StringIO()
    call_command("cloudwatch_export", "--once", stdout=out)
    text = out.getvalue()
    assert (
        "cmd_retry: sent 3 in 1 batch, 1 retry (1 timeout), resent 3 (possible duplicates)" in text
    )
    assert "Retried: 1 retry (1 timeout), 3 records resent (possible duplicates): " in text
    assert "cmd_retry: ReadTimeoutError: " in text and "did not answer in time" in text
    assert len(events_in(group, "cmd_retry")) == 6  # the lost answer's copy, and the retry's
    assert StreamStatus.objects.get(stream="cmd_retry").resent_total == 3


def test_a_test_key_configured_from_the_shell_ships_to_moto(db: Any) -> None:
    """What a LocalStack or moto user types, start to end: key ``test``, secret from stdin."""
    group = unique_group()
    out = run_configure(
        "--log-group", group, "--region", REGION, "--access-key", "test", "--secret-key", "-",
        "--endpoint-url", moto_url(), "--map", "log=local_log", "--enable", stdin="test\n",
    )  # fmt: skip
    assert "enabled" in out and "access key …, secret key set" in out
    assert connection.client(ExportSettings.load())._request_signer._credentials.access_key == (
        "test"
    )
    record_id = audit.log("log", "to moto with a test key")
    out = io.StringIO()
    call_command("cloudwatch_export", "--once", stdout=out)
    assert "local_log: sent 1 in 1 batch" in out.getvalue()
    assert record_ids(events_in(group, "local_log")) == [record_id]
    assert not OutboxEntry.objects.exists()


def test_nothing_is_sent_while_disabled(db: Any) -> None:
    configure({"log": "app"})
    audit.log("log", "queued")
    configure({"log": "app"}, enabled=False)
    out = io.StringIO()
    call_command("cloudwatch_export", "--once", stdout=out)
    assert "Nothing sent: the export is disabled." in out.getvalue()
    assert OutboxEntry.objects.count() == 1


def test_the_endpoint_variable_of_boto3_is_honoured(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", moto_url())
    settings = configure({"log": "via_env"}, url="")
    audit.log("log", "x")
    assert export.drain().sent == 1
    assert len(events_in(settings.log_group, "via_env")) == 1


def test_without_keys_the_default_credential_chain_is_used(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    settings = configure({"log": "chain"})
    from cloudwatch_export import export_settings

    export_settings.apply(export_settings.Changes(clear_keys=True))
    settings.refresh_from_db()
    assert settings.access_key == "" and not settings.has_secret_key
    audit.log("log", "x")
    assert export.drain().sent == 1
    assert record_ids(events_in(settings.log_group, "chain"))


@pytest.mark.parametrize("message_format", ["json", "text"])
def test_many_records_across_streams_each_arrive_once(db: Any, message_format: str) -> None:
    settings = configure({"log": "bulk_a", "info": "bulk_b"}, message_format=message_format)
    record_events([build_event("log" if i % 3 else "info", f"n{i}") for i in range(300)])
    report = export.drain()
    assert report.sent == 300
    a, b = events_in(settings.log_group, "bulk_a"), events_in(settings.log_group, "bulk_b")
    assert len(a) == 200 and len(b) == 100
    if message_format == "json":
        assert len(set(record_ids(a + b))) == 300
