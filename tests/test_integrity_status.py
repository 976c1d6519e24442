"""The trail's integrity at a glance: ``GET /api/audit/integrity/`` (staff) and the
admin index show the latest seal and when it was made, what is not sealed yet, when a
seal was last witnessed and when the trail was last verified; the seals' admin links
each seal to the records it covers."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

import audit
from audit import seals
from audit.models import IntegrityState, Seal
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db

URL = "/api/audit/integrity/"


def test_only_staff_read_the_integrity(user) -> None:
    assert APIClient().get(URL).status_code in (401, 403)
    assert logged_in(user).get(URL).status_code == 403


def test_before_any_seal_everything_is_unsealed(staff_client, user) -> None:
    for n in range(3):
        audit.log("log", f"r{n}", user=user)
    body = staff_client.get(URL).json()
    assert body["latest_seal"] is None
    assert body["unsealed_records"] == 3 and body["unsealed_capped"] is False
    assert body["sealed_records"] == 0
    assert body["witnessed"] is None and body["verified"] is None


def test_the_latest_seal_witness_and_verification(staff_client, user) -> None:
    for n in range(4):
        audit.log("log", f"r{n}", user=user)
    made = seals.seal().seals[-1]
    audit.log("log", "after the seal", user=user)
    body = staff_client.get(URL).json()
    latest = body["latest_seal"]
    assert latest["id"] == made.pk and latest["digest"] == made.digest
    assert latest["last_record"] == made.last_record_id and latest["records"] == 4
    assert latest["record"] == made.record
    assert body["sealed_records"] == 4
    assert body["unsealed_records"] == 2  # the seal's own trail-sealed record, and one more
    assert body["anchor_seal"] == made.pk

    call_command("audit_verify", stdout=StringIO())
    moment = timezone.now()
    IntegrityState.objects.update(witnessed_seal=made.pk, witnessed_at=moment)
    body = staff_client.get(URL).json()
    assert body["verified"]["ok"] is True and body["verified"]["problem"] is None
    assert body["verified"]["seals"] == 1
    assert body["witnessed"]["seal"] == made.pk
    assert body["witnessed"]["at"].startswith(moment.strftime("%Y-%m-%dT%H:%M"))


def test_a_failed_verification_shows_its_problem(staff_client, user) -> None:
    audit.log("log", "one", user=user)
    seals.seal()
    report = seals.Verified(seals=1, problems=["record #1 was removed: seal #1"])
    seals.record_verification(report)
    verified = staff_client.get(URL).json()["verified"]
    assert verified["ok"] is False and verified["problem"] == "record #1 was removed: seal #1"


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_index_shows_integrity_at_a_glance(admin_user, user) -> None:
    client = _admin(admin_user)
    page = client.get("/admin/").content.decode()
    assert 'id="integrity-module"' in page and "none yet" in page and "never" in page
    audit.log("log", "one", user=user)
    made = seals.seal().seals[-1]
    call_command("audit_verify", stdout=StringIO())
    page = client.get("/admin/").content.decode()
    assert f'href="/admin/audit/seal/{made.pk}/change/"' in page
    assert f'href="/admin/audit/auditrecord/{made.last_record_id}/change/"' in page
    assert "intact" in page and "none yet" not in page


def test_staff_without_the_seals_permission_see_no_integrity(user) -> None:
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_auditrecord"))
    page = _admin(user).get("/admin/").content.decode()
    assert 'id="integrity-module"' not in page
    assert _admin(user).get("/admin/audit/seal/").status_code == 403


def test_the_seals_admin_links_each_seal_to_its_records(admin_user, user) -> None:
    for n in range(3):
        audit.log("log", f"r{n}", user=user)
    first = seals.seal().seals[-1]
    audit.log("log", "more", user=user)
    second = seals.seal().seals[-1]
    client = _admin(admin_user)
    listing = client.get("/admin/audit/seal/").content.decode()
    assert f"/admin/audit/seal/{second.pk}/change/" in listing
    page = client.get(f"/admin/audit/seal/{second.pk}/change/").content.decode()
    assert f'href="/admin/audit/seal/{first.pk}/change/"' in page  # the seal it follows
    assert second.digest in page and second.previous == first.digest
    low, high = first.first_record_id, first.last_record_id
    records = f"/admin/audit/auditrecord/?id__gte={low}&id__lte={high}"
    assert (
        records.replace("&", "&amp;")
        in client.get(f"/admin/audit/seal/{first.pk}/change/").content.decode()
    )
    covered = client.get(records)
    assert covered.status_code == 200
    assert "3 audit records" in covered.content.decode()
    # Nobody adds, changes or deletes a seal here.
    assert client.get("/admin/audit/seal/add/").status_code == 403
    assert client.post(f"/admin/audit/seal/{first.pk}/delete/").status_code == 403
    assert Seal.objects.count() == 2
