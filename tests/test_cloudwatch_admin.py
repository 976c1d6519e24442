"""The admin's Settings -> Log pages: a write-only secret, the map as rows, "save and
test connection", the status page, and retry / discard of set-aside records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

import audit
from audit.models import EventType
from audit.recording import build_event, record_events
from cloudwatch_export import export
from cloudwatch_export.models import ExportSettings, OutboxEntry, StreamMapping

from .cloudwatch_helpers import ACCESS_KEY, SECRET_KEY, configure, moto_url, unique_group

CHANGE = "/admin/cloudwatch_export/exportsettings/1/change/"


@pytest.fixture
def admin_client(db: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def form(settings: ExportSettings, **values: Any) -> dict[str, Any]:
    """The change form as the browser posts it, the map rows included."""
    rows = list(settings.mappings.order_by("id"))
    data: dict[str, Any] = {
        "enabled": "on" if settings.enabled else "",
        "log_group": settings.log_group,
        "region": settings.region,
        "access_key": settings.access_key,
        "secret_key": "",
        "endpoint_url": settings.endpoint_url,
        "message_format": settings.message_format,
        "mappings-TOTAL_FORMS": str(len(rows) + 1),
        "mappings-INITIAL_FORMS": str(len(rows)),
        "mappings-MIN_NUM_FORMS": "0",
        "mappings-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, row in enumerate(rows):
        data |= {
            f"mappings-{index}-id": str(row.pk),
            f"mappings-{index}-settings": str(settings.pk),
            f"mappings-{index}-event_type": str(row.event_type_id),
            f"mappings-{index}-stream": row.stream,
        }
    data |= {f"mappings-{len(rows)}-settings": str(settings.pk)}
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_the_changelist_is_the_one_settings_form(admin_client: Client) -> None:
    answer = admin_client.get("/admin/cloudwatch_export/exportsettings/")
    assert answer.status_code == 302 and answer["Location"] == CHANGE
    page = admin_client.get(CHANGE).content.decode()
    assert "Save and test connection" in page and "Events to CloudWatch streams map" in page


def test_the_secret_is_write_only(admin_client: Client) -> None:
    settings = configure({"log": "a"})
    page = admin_client.get(CHANGE).content.decode()
    assert SECRET_KEY not in page and settings.secret_key_encrypted not in page
    assert "A secret key is stored (encrypted, never shown)" in page
    # Left empty, the stored secret stays.
    answer = admin_client.post(CHANGE, form(settings, log_group="/renamed"))
    assert answer.status_code == 302, answer.content.decode()[:2000]
    settings.refresh_from_db()
    assert settings.log_group == "/renamed" and settings.secret_key() == SECRET_KEY
    # A new one replaces it; "forget the keys" clears both.
    admin_client.post(CHANGE, form(settings, secret_key="new-secret"))
    settings.refresh_from_db()
    assert settings.secret_key() == "new-secret"
    admin_client.post(CHANGE, form(settings, clear_keys="on"))
    settings.refresh_from_db()
    assert settings.access_key == "" and not settings.has_secret_key


def test_the_map_is_edited_as_rows_and_validated(admin_client: Client) -> None:
    settings = configure({"log": "a"})
    error = EventType.objects.get_or_create(name="error")[0]
    extra = {"mappings-1-event_type": str(error.pk), "mappings-1-stream": "bad:name"}
    page = admin_client.post(CHANGE, form(settings, **extra)).content.decode()
    assert "cannot contain" in page
    extra["mappings-1-stream"] = "datagrok_errors"
    assert admin_client.post(CHANGE, form(settings, **extra)).status_code == 302
    assert dict(StreamMapping.objects.values_list("event_type__name", "stream")) == {
        "log": "a",
        "error": "datagrok_errors",
    }


def test_enabling_without_keys_pairs_or_group_is_refused(admin_client: Client) -> None:
    settings = ExportSettings.load()
    page = admin_client.post(
        CHANGE, form(settings, enabled="on", access_key=ACCESS_KEY)
    ).content.decode()
    assert "Required to enable the export" in page
    assert "both the access key and the secret key" in page
    assert not ExportSettings.objects.get().enabled


def test_save_and_test_connection_reports_in_plain_words(admin_client: Client) -> None:
    settings = configure({"log": "a"}, group=unique_group())
    answer = admin_client.post(CHANGE, form(settings, _test_connection="1"), follow=True)
    page = answer.content.decode()
    assert "Connected to CloudWatch Logs in eu-west-1" in page
    bad = form(settings, _test_connection="1", endpoint_url="http://127.0.0.1:9")
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
    page = admin_client.get("/admin/cloudwatch_export/streamstatus/").content.decode()
    assert "app_log" in page and "app_errors" in page
    assert "Could not reach http://127.0.0.1:9" in page
    assert "ago" in page  # last success


def test_set_aside_records_can_be_retried_or_discarded(admin_client: Client) -> None:
    configure({"log": "app"})
    record_events(
        [build_event("log", f"old {i}") for i in range(3)],
        at=timezone.now() - timedelta(days=20),
    )
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
