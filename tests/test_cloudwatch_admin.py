"""The admin's Settings -> Log pages: a write-only secret, the map as rows, "save and
test connection", the status page, and retry / discard of set-aside records."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

import audit
from audit import clock
from audit.models import EventType
from audit.recording import build_event, record_events
from cloudwatch_export import export, outbox
from cloudwatch_export.models import ExportSettings, OutboxEntry, StreamMapping

from .cloudwatch_helpers import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    configure,
    moto_url,
    settings_form,
    unique_group,
    use_development_key,
)

CHANGE = "/admin/cloudwatch_export/exportsettings/1/change/"


@pytest.fixture
def admin_client(db: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_changelist_is_the_one_settings_form(admin_client: Client) -> None:
    answer = admin_client.get("/admin/cloudwatch_export/exportsettings/")
    assert answer.status_code == 302 and answer["Location"] == CHANGE
    page = admin_client.get(CHANGE).content.decode()
    assert "Save and test connection" in page and "Events to CloudWatch streams map" in page


def test_opening_the_settings_records_nothing(admin_client: Client) -> None:
    """A GET is no change: the settings row it creates is not a ``-created`` record."""
    from audit.models import AuditRecord

    answer = admin_client.get("/admin/cloudwatch_export/exportsettings/", follow=True)
    assert answer.status_code == 200 and ExportSettings.objects.exists()
    assert not AuditRecord.objects.filter(type__name__startswith="cloudwatch-").exists()


def test_the_secret_is_write_only(admin_client: Client) -> None:
    settings = configure({"log": "a"})
    page = admin_client.get(CHANGE).content.decode()
    assert SECRET_KEY not in page and settings.secret_key_encrypted not in page
    assert "A secret key is stored (encrypted, never shown)" in page
    # Left empty, the stored secret stays.
    answer = admin_client.post(CHANGE, settings_form(settings, log_group="/renamed"))
    assert answer.status_code == 302, answer.content.decode()[:2000]
    settings.refresh_from_db()
    assert settings.log_group == "/renamed" and settings.secret_key() == SECRET_KEY
    # A new one replaces it; "forget the keys" clears both.
    admin_client.post(CHANGE, settings_form(settings, secret_key="new-secret"))
    settings.refresh_from_db()
    assert settings.secret_key() == "new-secret"
    admin_client.post(CHANGE, settings_form(settings, clear_keys="on"))
    settings.refresh_from_db()
    assert settings.access_key == "" and not settings.has_secret_key


def access_key_input(page: str) -> str:
    (found,) = re.findall(r'<input[^>]*name="access_key"[^>]*>', page)
    return found


def test_the_access_key_is_shown_masked_and_kept_when_left_empty(admin_client: Client) -> None:
    settings = configure({"log": "a"})
    page = admin_client.get(CHANGE).content.decode()
    assert ACCESS_KEY not in page
    field = access_key_input(page)
    assert 'placeholder="AKIA…MPLE"' in field and "value=" not in field
    assert "An access key is stored (AKIA…MPLE). Leave empty to keep it." in page
    # Left empty (as the page renders it), both keys stay.
    answer = admin_client.post(CHANGE, settings_form(settings, access_key="", log_group="/renamed"))
    assert answer.status_code == 302, answer.content.decode()[:2000]
    settings.refresh_from_db()
    assert settings.log_group == "/renamed"
    assert (settings.access_key, settings.secret_key()) == (ACCESS_KEY, SECRET_KEY)
    # A key typed replaces it.
    answer = admin_client.post(CHANGE, settings_form(settings, access_key="AKIAI44QH8DHBEXAMPLE"))
    assert answer.status_code == 302
    settings.refresh_from_db()
    assert settings.access_key == "AKIAI44QH8DHBEXAMPLE"
    assert "AKIAI44QH8DHBEXAMPLE" not in admin_client.get(CHANGE).content.decode()


def test_a_test_key_is_taken_with_an_endpoint_url_only(admin_client: Client) -> None:
    settings = ExportSettings.load()
    local = {"log_group": "/g", "region": REGION, "access_key": "testing", "secret_key": "s"}
    answer = admin_client.post(
        CHANGE, settings_form(settings, **local, endpoint_url="http://127.0.0.1:1")
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    settings.refresh_from_db()
    assert (settings.access_key, settings.secret_key()) == ("testing", "s")
    assert "testing" not in admin_client.get(CHANGE).content.decode()
    # Without an endpoint URL the key goes to AWS: IAM's shape, whether typed or kept.
    for access_key in ("testing", ""):
        answer = admin_client.post(
            CHANGE, settings_form(settings, log_group="/g2", access_key=access_key, endpoint_url="")
        )
        assert answer.status_code == 200
        errors = answer.context["adminform"].form.errors
        assert list(errors) == ["access_key"]
        assert "An access key ID is 16 to 128 letters and digits" in errors["access_key"][0]
    settings.refresh_from_db()
    assert settings.endpoint_url == "http://127.0.0.1:1" and settings.log_group == "/g"


def test_the_secret_is_refused_under_the_development_key(
    admin_client: Client, settings: Any
) -> None:
    use_development_key(settings)
    admin_client.force_login(User.objects.get(username="root"))  # sessions are signed
    row = ExportSettings.load()
    typed = {
        "log_group": "/typed/group",
        "region": REGION,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "endpoint_url": "http://127.0.0.1:4566",
    }
    answer = admin_client.post(CHANGE, settings_form(row, **typed))
    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert list(errors) == ["secret_key"]
    (message,) = errors["secret_key"]
    assert message.startswith(
        "Refusing to store the secret key: SECRET_KEY is the development default"
    )
    assert "Set SECRET_KEY (or AUDIT_ENCRYPTION_KEY) in the environment" in message
    page = answer.content.decode()
    assert message.split(":")[0] in page
    assert 'value="/typed/group"' in page and 'value="http://127.0.0.1:4566"' in page
    assert SECRET_KEY not in page  # the secret is not echoed back
    assert ExportSettings.objects.get().log_group == ""  # nothing saved
    assert not ExportSettings.objects.get().has_secret_key
    # With an encryption key of its own, or on a developer's machine, it is stored.
    settings.AUDIT_ENCRYPTION_KEY = "a-real-encryption-key-0123456789"
    assert admin_client.post(CHANGE, settings_form(row, **typed)).status_code == 302
    assert ExportSettings.objects.get().secret_key() == SECRET_KEY
    settings.AUDIT_ENCRYPTION_KEY = ""
    settings.DEBUG = True
    assert (
        admin_client.post(
            CHANGE, settings_form(row, **(typed | {"secret_key": "other"}))
        ).status_code
        == 302
    )
    assert ExportSettings.objects.get().secret_key() == "other"


def test_the_map_is_edited_as_rows_and_validated(admin_client: Client) -> None:
    settings = configure({"log": "a"})
    error = EventType.objects.get_or_create(name="error")[0]
    extra = {"mappings-1-event_type": str(error.pk), "mappings-1-stream": "bad:name"}
    page = admin_client.post(CHANGE, settings_form(settings, **extra)).content.decode()
    assert "cannot contain" in page
    extra["mappings-1-stream"] = "datagrok_errors"
    assert admin_client.post(CHANGE, settings_form(settings, **extra)).status_code == 302
    assert dict(StreamMapping.objects.values_list("event_type__name", "stream")) == {
        "log": "a",
        "error": "datagrok_errors",
    }


def test_enabling_without_keys_pairs_or_group_is_refused(admin_client: Client) -> None:
    settings = ExportSettings.load()
    page = admin_client.post(
        CHANGE, settings_form(settings, enabled="on", access_key=ACCESS_KEY)
    ).content.decode()
    assert "Required to enable the export" in page
    assert "both the access key and the secret key" in page
    assert not ExportSettings.objects.get().enabled


def test_save_and_test_connection_reports_in_plain_words(admin_client: Client) -> None:
    settings = configure({"log": "a"}, group=unique_group())
    answer = admin_client.post(CHANGE, settings_form(settings, _test_connection="1"), follow=True)
    page = answer.content.decode()
    assert "Connected to CloudWatch Logs in eu-west-1" in page
    bad = settings_form(settings, _test_connection="1", endpoint_url="http://127.0.0.1:9")
    page = admin_client.post(CHANGE, bad, follow=True).content.decode()
    assert "Could not reach http://127.0.0.1:9" in page
    assert ExportSettings.objects.get().endpoint_url == "http://127.0.0.1:9"  # saved first


def test_the_status_page_shows_each_stream(admin_client: Client) -> None:
    configure({"log": "app_log", "error": "app_errors"})
    audit.log("log", "sent")
    assert export.drain().sent == 1
    audit.log("log", "waits")
    configure({"log": "app_log", "error": "app_errors"}, url="http://127.0.0.1:9")
    export.drain()
    outbox.record_batch("app_log", sent=0, resent=1234, error="", now=timezone.now())
    page = admin_client.get("/admin/cloudwatch_export/streamstatus/").content.decode()
    assert "app_log" in page and "app_errors" in page
    assert "Could not reach http://127.0.0.1:9" in page
    assert "ago" in page  # last success
    assert ">Resent</th>" in page and '<td class="resent">1,234</td>' in page


def test_set_aside_records_can_be_retried_or_discarded(admin_client: Client) -> None:
    with clock.backdated(timezone.now() - timedelta(days=20)):  # exported since then
        configure({"log": "app"})
        record_events([build_event("log", f"old {i}") for i in range(3)])
    assert export.drain().set_aside == 3
    url = "/admin/cloudwatch_export/outboxentry/"
    page = admin_client.get(url, {"state": "set_aside"}).content.decode()
    assert "older than 14 days" in page
    first, second, third = OutboxEntry.objects.order_by("id")
    answer = admin_client.post(
        url, {"action": "retry_selected", "_selected_action": [first.pk]}, follow=True
    )
    assert "1 set-aside records are back in line" in answer.content.decode()
    first.refresh_from_db()
    assert first.set_aside_reason == "" and first.attempts == 0
    answer = admin_client.post(
        url, {"action": "discard_selected", "_selected_action": [second.pk, third.pk]}, follow=True
    )
    assert "2 set-aside records discarded" in answer.content.decode()
    assert list(OutboxEntry.objects.values_list("id", flat=True)) == [first.pk]
    assert moto_url()  # the retried one is set aside again by the next drain
    assert export.drain().set_aside == 1


def test_re_routing_a_type_is_recorded_by_the_types_names(admin_client: Client) -> None:
    """Settings -> Log: moving a map row from ``log`` to ``error`` records the two
    types' names (ids beside them), not a bare id, and the activity pages say so."""
    from activity.diff import render_changes
    from audit.models import AuditRecord

    settings = configure({"log": "app_log"}, url="http://127.0.0.1:1")
    log, error = EventType.objects.get(name="log"), EventType.objects.get(name="error")
    (created,) = AuditRecord.objects.filter(type__name="cloudwatch-stream-map-created")
    assert created.changes["event_type"] == {"new": "log", "new_id": log.pk}
    assert created.changes["settings"] == {"new": "CloudWatch Logs export", "new_id": 1}

    answer = admin_client.post(
        CHANGE, settings_form(settings, **{"mappings-0-event_type": str(error.pk)})
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    (edited,) = AuditRecord.objects.filter(type__name="cloudwatch-stream-map-edited")
    assert edited.changes == {
        "event_type": {"old": "log", "new": "error", "old_id": log.pk, "new_id": error.pk}
    }
    assert [c.text for c in render_changes(edited.changes).fields] == ["event type: log -> error"]
    page = admin_client.get("/activity/users/root/").content.decode()
    assert re.search(r'<del class="act-old" title="log">log</del>.*?>error</ins>', page, re.S)
