"""The CloudWatch messages, byte for byte: rendered from stored records at tricky times.

The expected texts below were written by the exporter that loaded each time as a
``datetime`` and called ``isoformat()``; the exporter that reads times as integers must
write the same bytes, in UTC and in other zones, for times before 1970, at the edges of
what Python holds, with no microseconds and with 999999 of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone as django_timezone

from audit import AuditContext, backdated
from audit.models import AuditRecord
from audit.recording import build_event, record_events
from cloudwatch_export import messages

# (server time, client time): stored in this order (a backdated replay goes forward).
TIMES = [
    (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, 12, 0, 0, 999999, tzinfo=UTC)),
    (datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC), None),
    (
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    ),
    (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
    (
        datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=UTC),  # a second before Berlin's DST
        datetime(2024, 10, 27, 0, 59, 59, 500000, tzinfo=UTC),  # a second before it ends
    ),
    (datetime(2024, 3, 31, 1, 0, 0, tzinfo=UTC), datetime(2024, 10, 27, 1, 0, tzinfo=UTC)),
]

ZONES = {
    "UTC": ZoneInfo("UTC"),
    "Berlin": ZoneInfo("Europe/Berlin"),
    "St_Johns": ZoneInfo("America/St_Johns"),
    "Kathmandu": ZoneInfo("Asia/Kathmandu"),
    "fixed": timezone(timedelta(hours=-9, minutes=-30)),
}

# One record a line of TIMES: "timestamp" then "client_timestamp" in each zone.
EXPECTED_TIMES = {
    "UTC": [
        ("0001-01-02T00:00:00Z", "9999-12-30T12:00:00.999999Z"),
        ("1900-01-01T00:00:00.000001Z", None),
        ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000001Z"),
        ("2024-03-31T00:59:59.999999Z", "2024-10-27T00:59:59.500000Z"),
        ("2024-03-31T01:00:00Z", "2024-10-27T01:00:00Z"),
    ],
    "Berlin": [
        ("0001-01-02T00:53:28+00:53:28", "9999-12-30T13:00:00.999999+01:00"),
        ("1900-01-01T01:00:00.000001+01:00", None),
        ("1970-01-01T00:59:59.999999+01:00", "1970-01-01T00:59:59+01:00"),
        ("1970-01-01T01:00:00+01:00", "1970-01-01T01:00:00.000001+01:00"),
        ("2024-03-31T01:59:59.999999+01:00", "2024-10-27T02:59:59.500000+02:00"),
        ("2024-03-31T03:00:00+02:00", "2024-10-27T02:00:00+01:00"),
    ],
    "St_Johns": [
        ("0001-01-01T20:29:08-03:30:52", "9999-12-30T08:30:00.999999-03:30"),
        ("1899-12-31T20:29:08.000001-03:30:52", None),
        ("1969-12-31T20:29:59.999999-03:30", "1969-12-31T20:29:59-03:30"),
        ("1969-12-31T20:30:00-03:30", "1969-12-31T20:30:00.000001-03:30"),
        ("2024-03-30T22:29:59.999999-02:30", "2024-10-26T22:29:59.500000-02:30"),
        ("2024-03-30T22:30:00-02:30", "2024-10-26T22:30:00-02:30"),
    ],
    "Kathmandu": [
        ("0001-01-02T05:41:16+05:41:16", "9999-12-30T17:45:00.999999+05:45"),
        ("1900-01-01T05:41:16.000001+05:41:16", None),
        ("1970-01-01T05:29:59.999999+05:30", "1970-01-01T05:29:59+05:30"),
        ("1970-01-01T05:30:00+05:30", "1970-01-01T05:30:00.000001+05:30"),
        ("2024-03-31T06:44:59.999999+05:45", "2024-10-27T06:44:59.500000+05:45"),
        ("2024-03-31T06:45:00+05:45", "2024-10-27T06:45:00+05:45"),
    ],
    "fixed": [
        ("0001-01-01T14:30:00-09:30", "9999-12-30T02:30:00.999999-09:30"),
        ("1899-12-31T14:30:00.000001-09:30", None),
        ("1969-12-31T14:29:59.999999-09:30", "1969-12-31T14:29:59-09:30"),
        ("1969-12-31T14:30:00-09:30", "1969-12-31T14:30:00.000001-09:30"),
        ("2024-03-30T15:29:59.999999-09:30", "2024-10-26T15:29:59.500000-09:30"),
        ("2024-03-30T15:30:00-09:30", "2024-10-26T15:30:00-09:30"),
    ],
}

JSON = (
    '{{"id":{id},"type":"log","level":"info","message":"opened ünïcode ✓ \\"quoted\\"\\n'
    'two","params":{{"a": 1, "nested": {{"b": [1, 2.5, null, true]}}}},"user":"alice",'
    '"session":"{session}","timestamp":{timestamp},"client_timestamp":{client},'
    '"source":"server","entities":[],"changes":null,"stack_trace":"","fingerprint":""}}'
)
TEXT = (
    '{timestamp} log alice #{id} [info] opened ünïcode ✓ "quoted"\\ntwo '
    'params={{"a": 1, "nested": {{"b": [1, 2.5, null, true]}}}} session={session}'
)


def _store(user: User) -> list[AuditRecord]:
    """One record a line of TIMES, by alice, in her session."""
    ids = []
    for server_time, client_time in TIMES:
        event = build_event(
            "log",
            'opened ünïcode ✓ "quoted"\ntwo',
            {"a": 1, "nested": {"b": [1, 2.5, None, True]}},
        )
        event.client_time = client_time
        with backdated(server_time):
            ids += record_events([event], ctx=AuditContext(user=user)).accepted
    return list(AuditRecord.objects.filter(id__in=ids).select_related("session").order_by("id"))


def _quoted(text: str | None) -> str:
    return "null" if text is None else f'"{text}"'


@pytest.mark.parametrize("zone", list(ZONES))
def test_json_messages_are_the_bytes_the_datetime_exporter_wrote(user: User, zone: str) -> None:
    records = _store(user)
    with django_timezone.override(ZONES[zone]):
        rendered = messages.render([record.id for record in records], "json")
    for record, (stamp, client) in zip(records, EXPECTED_TIMES[zone], strict=True):
        expected = JSON.format(
            id=record.id,
            session=record.session.uuid,
            timestamp=_quoted(stamp),
            client=_quoted(client),
        )
        assert rendered[record.id].message == expected


@pytest.mark.parametrize("zone", ["UTC", "Kathmandu"])
def test_text_messages_are_the_bytes_the_datetime_exporter_wrote(user: User, zone: str) -> None:
    records = _store(user)
    with django_timezone.override(ZONES[zone]):
        rendered = messages.render([record.id for record in records], "text")
    for record, (stamp, _) in zip(records, EXPECTED_TIMES[zone], strict=True):
        expected = TEXT.format(id=record.id, session=record.session.uuid, timestamp=stamp)
        assert rendered[record.id].message == expected


def test_each_event_carries_the_records_server_time_in_whole_milliseconds(user: User) -> None:
    """PutLogEvents' timestamp: milliseconds since 1970, rounded down (so before 1970
    too), from the server time alone."""
    records = _store(user)
    rendered = messages.render([record.id for record in records], "json")
    assert [rendered[record.id].timestamp for record in records] == [
        -62135510400000,  # 0001-01-02
        -2208988800000,  # 1900-01-01 00:00:00.000001: the millisecond before is 0
        -1,  # 1969-12-31 23:59:59.999999
        0,
        1711846799999,
        1711846800000,
    ]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("0001-12-31 10:00:00+00 BC", "0001-01-02T00:00:00Z"),
        ("10000-01-01 00:00:00+00", "9999-12-30T00:00:00Z"),
        ("infinity", "9999-12-30T00:00:00Z"),
        ("-infinity", "9999-12-30T00:00:00Z"),
        ("0001-01-01 00:00:00+00", "0001-01-01T00:00:00Z"),
        ("9999-12-31 23:59:59.999999+00", "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_a_time_python_cannot_hold_is_written_as_the_reader_shows_it(
    user: User, stored: str, shown: str, on_postgres: bool
) -> None:
    """An older version stored such client times; ``audit.time_loader`` reads each as a
    stand-in a day inside Python's range, and the export writes what the reader shows.
    The records guard refuses UPDATE, so the test stores one with its time as is."""
    if not on_postgres:
        pytest.skip("only PostgreSQL stores times Python cannot hold")
    (record,) = _store_at(user, stored)
    rendered = messages.render([record], "json")
    assert f'"client_timestamp":"{shown}",' in rendered[record].message


def _store_at(user: User, client_time: str) -> list[int]:
    record_id = record_events([build_event("log", "far")], ctx=AuditContext(user=user)).accepted[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, changes, "
            "stack_trace, fingerprint, user_id, session_id, created_at, client_time, source, "
            "request_id) SELECT gen_random_uuid(), type_id, level, message, params, changes, "
            "stack_trace, fingerprint, user_id, session_id, created_at, %s::timestamptz, "
            "source, request_id FROM audit_auditrecord WHERE id = %s RETURNING id",
            [client_time, record_id],
        )
        return [cursor.fetchone()[0]]


def test_the_message_a_record_gets_does_not_depend_on_the_batch_it_is_in(user: User) -> None:
    """Rendered alone or with the others, a record's message is the same."""
    records = _store(user)
    together = messages.render([record.id for record in records], "json")
    for record in records:
        assert messages.render([record.id], "json") == {record.id: together[record.id]}
