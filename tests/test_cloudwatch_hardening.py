"""The CloudWatch export against forgery and bad input: a forged later seal message
does not pass for the witness, only trail-sealed records go to and count in the seal
stream, a view-only admin sees masked keys, a waiting outbox row cannot be deleted,
settings boto3 would refuse are refused (and a drain reports them), and the commands
turn an unreachable witness or a bad interval into a clear error."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

import audit
from audit import seals
from audit.models import AuditRecord, EventType, IntegrityState, Seal
from cloudwatch_export import export, witness
from cloudwatch_export.models import ExportSettings, OutboxEntry, StreamMapping, StreamStatus
from cloudwatch_export.validation import validate_endpoint_url, validate_region
from tests.integrity_helpers import run_verify

from .cloudwatch_helpers import (
    ACCESS_KEY,
    SECRET_KEY,
    configure,
    connect_refused,
    events_in,
    free_port,
    run_configure,
    settings_form,
)
from .pg_roles import superuser_cursor

pytestmark = pytest.mark.django_db

CHANGE = "/admin/cloudwatch_export/exportsettings/1/change/"


def _as_owner(*statements: tuple[str, list[Any]]) -> None:
    """What the database's owner can do behind the application's back."""
    if connection.vendor == "postgresql":
        with superuser_cursor() as cursor:
            for statement in statements:
                cursor.execute(*statement)
    else:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(*statement)


@pytest.fixture
def admin_client(db: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


# --- 1. the witness: first digest counts, two digests are tampering, trail-sealed only


@pytest.mark.django_db(transaction=True)  # the superuser may have a connection of its own
def test_a_forged_later_seal_message_does_not_hide_a_recomputed_seal(user) -> None:
    settings = configure({"log": "app"})
    for n in range(3):
        audit.log("log", f"r{n}", user=user)
    seals.seal()
    assert export.drain().sent >= 4
    seal = Seal.objects.get()
    assert run_verify("--witness", "cloudwatch")[0] == 0

    # The owner changes a record and recomputes its seal in place (same block) ...
    record = AuditRecord.objects.filter(type__name="log").earliest("id")
    _as_owner(("UPDATE audit_auditrecord SET message = 'forged' WHERE id = %s", [record.pk]))
    rows = seals.records_between(seal.first_record_id, seal.last_record_id, seal.form)
    hashes = [row[1] for row in rows]
    forged = seals.digest(seal.previous, hashes)
    _as_owner(
        (
            "UPDATE audit_seal SET digest = %s, record_hashes = %s WHERE id = %s",
            [forged, b"".join(h[:8] for h in hashes), seal.pk],
        )
    )
    # ... and ships a trail-sealed record of its own with the recomputed digest.
    audit.log(
        "trail-sealed",
        "Sealed",
        {
            "first": seal.first_record_id,
            "last": seal.last_record_id,
            "records": seal.records,
            "digest": forged,
            "previous": seal.previous,
        },
    )
    export.drain()
    assert len(events_in(settings.log_group, "audit-seals")) == 2

    code, text = run_verify("--witness", "cloudwatch")
    assert code == 1, text
    block = f"#{seal.first_record_id}-#{seal.last_record_id}"
    assert f"different digests for the seal of records {block}" in text
    assert "tampering" in text
    # The first message received (the genuine digest) is what the seal is held to.
    assert f"seal #{seal.pk} (records {block}) differs from the digest" in text


def _json_message(type_name: str, params: dict[str, Any]) -> str:
    return json.dumps({"id": 9, "type": type_name, "params": params})


def _text_message(type_name: str, params: dict[str, Any]) -> str:
    return f"2026-01-01T00:00:00Z {type_name} alice #9 [info] hi params={json.dumps(params)}"


@pytest.mark.parametrize("render", [_json_message, _text_message])
def test_only_trail_sealed_messages_of_the_seal_stream_count_as_witnessed(render) -> None:
    params = {"first": 1, "last": 3, "digest": "0" * 64, "previous": ""}
    assert witness._witnessed(render("trail-sealed", params)) == params
    assert witness._witnessed(render("log", params)) is None
    assert witness._witnessed(render("trail-sealed-not", params)) is None


def test_configure_refuses_a_map_row_sending_another_type_to_the_seal_stream() -> None:
    configure({"log": "app"})
    with pytest.raises(CommandError, match="only trail-sealed records may go to the seal"):
        run_configure("--map", "log=audit-seals")
    with pytest.raises(CommandError, match="'log' => 'app'"):
        run_configure("--seal-stream", "app")  # the map already sends log there
    assert dict(StreamMapping.objects.values_list("event_type__name", "stream")) == {"log": "app"}
    assert ExportSettings.objects.get().seal_stream == "audit-seals"
    # The seals' own type may go there (the outbox then sends it once).
    run_configure("--map", "log=app", "--map", "trail-sealed=audit-seals")


def test_admin_refuses_a_map_row_sending_another_type_to_the_seal_stream(admin_client) -> None:
    settings = configure({"log": "app"}, url="http://127.0.0.1:1")
    other = EventType.objects.get_or_create(name="login")[0]
    answer = admin_client.post(
        CHANGE,
        settings_form(
            settings,
            **{"mappings-1-event_type": str(other.pk), "mappings-1-stream": "audit-seals"},
        ),
    )
    assert answer.status_code == 200
    assert "only trail-sealed records may go to the seal stream" in answer.content.decode()
    answer = admin_client.post(CHANGE, settings_form(settings, seal_stream="app"))
    assert answer.status_code == 200
    assert "only trail-sealed records may go to the seal stream" in answer.content.decode()
    assert dict(StreamMapping.objects.values_list("event_type__name", "stream")) == {"log": "app"}
    assert ExportSettings.objects.get().seal_stream == "audit-seals"


# --- 2. a view-only admin


def test_view_only_staff_sees_the_settings_with_the_keys_masked() -> None:
    configure({"log": "app"}, url="http://127.0.0.1:1")
    viewer = User.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_exportsettings"))
    client = Client()
    client.force_login(viewer)
    page = client.get(CHANGE)
    html = page.content.decode()
    assert page.status_code == 200
    assert SECRET_KEY not in html, "the clear secret is on the view-only page"
    assert ACCESS_KEY not in html, "the whole access key is on the view-only page"
    assert "AKIA…MPLE" in html and "set (encrypted, not shown)" in html
    assert "Forget the stored keys" not in html


# --- 3. the outbox's Delete page


def test_outbox_delete_page_deletes_only_set_aside_rows(admin_client) -> None:
    configure({"log": "app"}, url="http://127.0.0.1:1")
    audit.log("log", "must arrive")
    entry = OutboxEntry.objects.get(stream="app")
    url = f"/admin/cloudwatch_export/outboxentry/{entry.pk}/delete/"
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert OutboxEntry.objects.filter(pk=entry.pk).exists(), "a waiting record was dropped"

    OutboxEntry.objects.filter(pk=entry.pk).update(set_aside_reason="too old for CloudWatch")
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not OutboxEntry.objects.filter(pk=entry.pk).exists()


# --- 4. settings boto3 refuses


def test_a_region_with_a_non_ascii_digit_and_a_non_ascii_endpoint_are_refused() -> None:
    with pytest.raises(ValidationError):
        validate_region("eu-west-\u0661")
    with pytest.raises(ValidationError, match="ASCII"):
        validate_endpoint_url("http://例え.jp")
    validate_region("eu-west-1")
    validate_endpoint_url("http://xn--r8jz45g.jp")
    configure({"log": "app"}, url="http://127.0.0.1:1")
    with pytest.raises(CommandError, match="region"):
        run_configure("--region", "eu-west-\u0661")
    with pytest.raises(CommandError, match="endpoint_url"):
        run_configure("--endpoint-url", "http://例え.jp")


@pytest.mark.parametrize(
    "stored", [{"region": "eu-west-\u0661"}, {"endpoint_url": "http://例え.jp"}]
)
def test_a_drain_reports_settings_boto3_refuses_as_a_setup_error(stored) -> None:
    configure({"log": "app"}, url="http://127.0.0.1:1")
    ExportSettings.objects.update(**stored)  # stored before the validation refused it
    audit.log("log", "waiting")
    report = export.drain()  # no exception
    assert "cannot make a CloudWatch Logs client" in report.error
    assert report.sent == 0
    assert OutboxEntry.objects.filter(stream="app").exists()
    status = StreamStatus.objects.get(stream="app")
    assert "cannot make a CloudWatch Logs client" in status.last_error


# --- 5. audit_verify with the witness unreachable


class _Refusing:
    """A logs client whose FilterLogEvents fails as ``error``."""

    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def filter_log_events(self, **kwargs: Any) -> Any:
        raise self.error


def _access_denied() -> BaseException:
    return ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "FilterLogEvents"
    )


@pytest.mark.parametrize("error", [connect_refused, _access_denied, None])
def test_audit_verify_says_the_witness_was_unavailable_and_fails(user, monkeypatch, error):
    if error is None:  # a real connection refused
        configure({"log": "app"}, url=f"http://127.0.0.1:{free_port()}")
    else:
        configure({"log": "app"})
        monkeypatch.setattr(witness.connection, "client", lambda settings: _Refusing(error()))
    audit.log("log", "x", user=user)
    seals.seal()
    before = IntegrityState.objects.values_list("verified_at", flat=True).first()
    with pytest.raises(CommandError, match="the witness cloudwatch was unavailable"):
        call_command("audit_verify", "--witness", "cloudwatch", stdout=StringIO())
    # Neither a pass nor a tampering is recorded for a comparison not made.
    assert IntegrityState.objects.values_list("verified_at", flat=True).first() == before


# --- 6. cloudwatch_export --interval


@pytest.mark.parametrize("interval", ["-1", "0", "nan", "inf"])
def test_cloudwatch_export_refuses_an_interval_not_above_zero_or_not_finite(
    monkeypatch, interval
) -> None:
    def drain(**kwargs: Any) -> Any:
        raise RuntimeError("drained: the interval was taken")

    monkeypatch.setattr(export, "drain", drain)
    with pytest.raises(CommandError, match="--interval"):
        call_command("cloudwatch_export", "--interval", interval, stdout=StringIO())
