"""CloudWatch witnesses the seals: each digest reaches a stream of its own through the
outbox, and ``audit_verify --witness cloudwatch`` finds a seal rewritten in the
database, even one whose chain was recomputed to hide a change."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError
from django.db import connection

import audit
from audit import seals
from audit.models import AuditRecord, IntegrityState, Seal
from cloudwatch_export import export
from tests.cloudwatch_helpers import configure, events_in, record_ids, run_configure
from tests.integrity_helpers import run_verify
from tests.pg_roles import superuser_cursor

pytestmark = pytest.mark.django_db


def _witnessed_trail(user: Any) -> Any:
    settings = configure({"log": "app"})
    for n in range(3):
        audit.log("log", f"r{n}", user=user)
    seals.seal()
    assert export.drain().sent >= 4
    return settings


def test_each_seal_reaches_its_stream_and_verifies(user) -> None:
    settings = _witnessed_trail(user)
    seal = Seal.objects.get()
    witnessed = events_in(settings.log_group, "audit-seals")
    assert record_ids(witnessed) == [seal.record]
    assert seal.digest in witnessed[0]["message"]
    assert IntegrityState.objects.get().witnessed_seal == seal.pk
    code, text = run_verify("--witness", "cloudwatch")
    assert code == 0, text


@pytest.mark.django_db(transaction=True)  # the superuser may have a connection of its own
def test_a_seal_rewritten_to_hide_a_change_is_caught_by_the_witness(user) -> None:
    """The database's owner changes a record and recomputes the seals after it: the
    chain verifies on its own, but not against what CloudWatch received."""
    _witnessed_trail(user)
    record = AuditRecord.objects.filter(type__name="log").earliest("id")
    forge = ["UPDATE audit_auditrecord SET message = 'forged' WHERE id = %s", [record.pk]]
    if connection.vendor == "postgresql":
        with superuser_cursor() as cursor:
            cursor.execute(*forge)
            cursor.execute("DELETE FROM audit_seal")
    else:
        with connection.cursor() as cursor:
            cursor.execute(*forge)
            cursor.execute("DELETE FROM audit_seal")
    IntegrityState.objects.update(anchor_seal=None)
    seals.seal()  # a fresh chain over the forged record
    assert run_verify()[0] == 0  # alone, the chain cannot tell
    code, text = run_verify("--witness", "cloudwatch")
    assert code == 1
    # The forged chain's first seal covers other records than the witnessed one did.
    first = AuditRecord.objects.earliest("id").pk
    assert f"witness cloudwatch: a witnessed seal of records #{first}-#" in text or (
        "differs from the digest the witness received" in text
    )


def test_a_seal_the_witness_never_received_is_named(user) -> None:
    settings = configure({"log": "app"})
    audit.log("log", "x", user=user)
    settings.seal_stream = ""
    settings.save()
    seals.seal()
    export.drain()  # nothing goes to a witness stream
    settings.seal_stream = "audit-seals"
    settings.save()
    code, text = run_verify("--witness", "cloudwatch")
    assert code == 1 and "never reached the witness" in text


def test_no_witness_configured_is_said(user) -> None:
    audit.log("log", "x", user=user)
    seals.seal()
    code, text = run_verify("--witness", "cloudwatch")
    assert code == 1 and "nothing witnesses the seals" in text
    # A mistyped name is a usage error, not a change of the trail: nothing is recorded.
    verified = AuditRecord.objects.filter(type__name="trail-verified").count()
    with pytest.raises(CommandError, match="no witness called 'notary'"):
        run_verify("--witness", "notary")
    assert AuditRecord.objects.filter(type__name="trail-verified").count() == verified


def test_a_seal_verification_cannot_start_from_is_a_usage_error(user) -> None:
    audit.log("log", "x", user=user)
    seals.seal()
    newest = Seal.objects.order_by("-id").first()
    for bad in ("0", "-3", str(newest.pk + 1000)):
        with pytest.raises(CommandError, match="there is no seal"):
            run_verify("--from", bad)
    assert not AuditRecord.objects.filter(type__name="trail-verified").exists()
    assert run_verify("--from", str(newest.pk))[0] == 0


def test_the_seal_stream_is_configured_by_command(user) -> None:
    configure({"log": "app"})
    shown = run_configure("--seal-stream", "trail-witness")
    assert "seal stream:    trail-witness" in shown
    shown = run_configure("--seal-stream", "")
    assert "(none: the seals have no witness)" in shown
    with pytest.raises(CommandError, match="seal_stream"):
        run_configure("--seal-stream", "bad:name*")
