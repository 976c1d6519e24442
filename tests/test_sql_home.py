"""The SQL the apps install is written once (``audit.sql``, ``cloudwatch_export.sql``),
and what storage calls is what the database holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from audit import sql, storage

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _installed_arguments(function: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc p WHERE p.proname = %s",
            [function],
        )
        return [row[0] for row in cursor.fetchall()]


def _canonical(args: tuple[tuple[str, str], ...]) -> str:
    with connection.cursor() as cursor:
        shown = []
        for name, kind in args:
            cursor.execute("SELECT format_type(%s::regtype, NULL)", [kind])
            shown.append(f"{name} {cursor.fetchone()[0]}")
    return ", ".join(shown)


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("audit_insert_record", sql.INSERT_RECORD_ARGS),
        ("audit_insert_records", sql.INSERT_RECORDS_ARGS),
        ("audit_purge_through", sql.PURGE_ARGS),
    ],
)
def test_the_installed_function_takes_what_storage_sends(function, args) -> None:
    """One function of that name, with exactly the arguments ``audit.sql`` lists (an
    old overload left behind would take a call meant for another signature)."""
    assert _installed_arguments(function) == [_canonical(args)]


def test_a_tracked_call_passes_one_value_per_argument() -> None:
    row = storage.RecordRow(
        uuid=uuid.uuid4(),
        type_id=1,
        type_name="log",
        level="info",
        message="m",
        params_json="{}",
        changes_json=None,
        stack_trace="",
        fingerprint="",
        user_id=None,
        session_id=1,
        created_at=datetime.now(UTC),
        client_time=None,
        source="server",
        request_id="",
    )
    calls, params = storage.tracked_calls([row, row])
    assert len(params) == 2 * len(sql.INSERT_RECORD_ARGS)
    assert calls.count("%s") == len(params)


def test_the_guards_and_the_outbox_trigger_are_installed() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
            "('audit_auditrecord'::regclass, 'audit_entitylink'::regclass, "
            "'audit_seal'::regclass, 'audit_usersession'::regclass) ORDER BY 1"
        )
        triggers = [row[0] for row in cursor.fetchall()]
    assert triggers == [
        "analysis_count_links",
        "analysis_count_records",
        "analysis_pend_record",
        "audit_auditrecord_append_only",
        "audit_auditrecord_seal_guard",
        "audit_entitylink_append_only",
        "audit_seal_append_only",
        "audit_usersession_guard",
        "cloudwatch_export_enqueue",
    ]
