"""Seals prove the trail was not changed: verification recomputes them and names the
first record or seal changed or removed, even by a database superuser who bypassed
every trigger; a transaction that commits late is never left out of a seal; the purge
keeps what remains verifiable."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

import audit
from audit import seals
from audit.models import AuditRecord, EntityLink, IntegrityState, Seal
from audit.purge import purge_older_than
from tests.analysis_helpers import at
from tests.integrity_helpers import run_verify
from tests.pg_roles import superuser_cursor


def _as_superuser(statement: str, params: list | None = None) -> None:
    """What a database superuser can do: every trigger bypassed for the statement."""
    with superuser_cursor() as cursor:
        cursor.execute(statement, params or [])


@pytest.fixture
def trail(user) -> list[int]:
    ids = []
    for n in range(5):
        ids.append(audit.log("log", f"record {n}", {"n": n}, entities=[user], user=user))
    return ids


@pytest.mark.django_db
def test_seal_then_verify_an_intact_trail(trail) -> None:
    out = StringIO()
    call_command("audit_seal", stdout=out)
    assert "Sealed 5 records in 1 seal(s)" in out.getvalue()
    call_command("audit_seal", stdout=out)
    assert "Sealed 1 records" in out.getvalue()  # the first seal's own trail-sealed record
    code, text = run_verify()
    assert code == 0 and "The trail is intact" in text
    state = IntegrityState.objects.get()
    assert state.verified_ok is True and state.anchor_seal == Seal.objects.earliest("id").pk
    assert AuditRecord.objects.filter(type__name="trail-verified").exists()


@pytest.mark.django_db
def test_links_of_records_without_a_userrun_verify(trail, user) -> None:
    """A system record (no user) linking an entity: its link keeps no user either, and
    that is no mismatch."""
    audit.log("log", "by the system", entities=[user])
    seals.seal()
    code, text = run_verify()
    assert code == 0, text


@pytest.mark.django_db(transaction=True)  # the superuser may have a connection of its own
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("tamper", "restore", "named"),
    [
        (
            "UPDATE audit_auditrecord SET message = 'forged' WHERE id = {r}",
            "UPDATE audit_auditrecord SET message = 'record 2' WHERE id = {r}",
            "record #{r} was changed",
        ),
        (
            "UPDATE audit_auditrecord SET params = '{{\"n\": 9}}' WHERE id = {r}",
            "UPDATE audit_auditrecord SET params = '{{\"n\": 2}}' WHERE id = {r}",
            "record #{r} was changed",
        ),
        ("DELETE FROM audit_entitylink WHERE record_id = {r}", None, "record #{r} was changed"),
        (
            "UPDATE audit_entitylink SET type_id = type_id + 1000 WHERE record_id = {r}",
            "UPDATE audit_entitylink SET type_id = type_id - 1000 WHERE record_id = {r}",
            "of record #{r} names another type than its record",
        ),
        (
            "UPDATE audit_entitylink SET user_id = user_id + 1000 WHERE record_id = {r}",
            "UPDATE audit_entitylink SET user_id = user_id - 1000 WHERE record_id = {r}",
            "of record #{r} names another user than its record",
        ),
        (
            "UPDATE audit_entitylink SET user_id = NULL WHERE record_id = {r}",
            "UPDATE audit_entitylink l SET user_id = r.user_id FROM audit_auditrecord r "
            "WHERE r.id = l.record_id AND l.record_id = {r}",
            "of record #{r} names another user than its record",
        ),
        ("DELETE FROM audit_auditrecord WHERE id = {r}", None, "record #{r} was removed"),
        (
            "UPDATE audit_seal SET digest = repeat('0', 64) WHERE id = {s}",
            None,
            "seal #{s} was changed",
        ),
    ],
)
def test_a_superusers_change_is_caught_and_named(trail, tamper, restore, named) -> None:
    seals.seal()
    record, seal = trail[2], Seal.objects.earliest("id").pk
    _as_superuser(tamper.format(r=record, s=seal))
    code, text = run_verify()
    assert code == 1
    assert named.format(r=record, s=seal) in text and f"seal #{seal}" in text
    if restore:
        _as_superuser(restore.format(r=record, s=seal))
        assert run_verify()[0] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_removed_seal_is_caught(user) -> None:
    for day in (3, 2, 1):  # three days: three seals
        at(user, timezone.now() - timedelta(days=day), "log")
    seals.seal()
    middle = Seal.objects.order_by("id")[1].pk
    _as_superuser("DELETE FROM audit_seal WHERE id = %s", [middle])
    code, text = run_verify()
    assert code == 1 and "does not follow" in text


@pytest.mark.django_db
@pytest.mark.postgres
def test_ids_left_unused_are_jumped_over(user) -> None:
    """Records are read by id ranges of ``READ``: a gap of several ranges (rolled back
    inserts, a sequence moved on) is jumped over, and nothing after it is left out."""
    before = audit.log("log", "before the gap", user=user)
    _as_superuser(
        "SELECT setval(pg_get_serial_sequence('audit_auditrecord', 'id'), %s)",
        [before + 3 * seals.READ + 7],
    )
    after = audit.log("log", "after the gap", user=user)
    assert after > before + 3 * seals.READ
    sealed = seals.seal()
    assert sealed.records == AuditRecord.objects.filter(id__lte=after).count()
    # A block spans BLOCK ids at most: the record after the gap starts a seal of its own.
    assert Seal.objects.latest("id").last_record_id == after
    assert [pk for pk, *_ in seals.records_between(before, after)] == [before, after]
    assert seals.verify().ok


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_late_commit_is_never_left_out_of_a_seal(user) -> None:
    """A transaction takes a record id, then waits; records after it commit first. The
    seal waits for it (or stops below it), never sealing past its id."""
    audit.log("log", "before", user=user)
    started, release = threading.Event(), threading.Event()
    slow_id: list[int] = []

    def slow() -> None:
        try:
            with transaction.atomic():
                slow_id.append(audit.log("log", "committed late", user=user))
                started.set()
                release.wait(10)
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=slow)
    thread.start()
    started.wait(5)

    def quick() -> None:
        try:
            audit.log("log", "after", user=user)
        finally:
            connection.close()  # this thread's own

    fast = threading.Thread(target=quick)
    fast.start()
    fast.join(0.5)  # it waits behind nothing: only the sealer waits for the slow one
    sealed: list[seals.Sealed] = []
    deferred: list[BaseException] = []

    def sealer() -> None:
        try:
            sealed.append(seals.seal())
        except seals.SealDeferred as exc:
            deferred.append(exc)
        finally:
            connection.close()  # this thread's own

    sealing = threading.Thread(target=sealer)
    sealing.start()
    time.sleep(0.5)
    # The sealer waits for the slow transaction, and no insert waits for the sealer.
    meanwhile = threading.Thread(target=quick)
    meanwhile.start()
    meanwhile.join(1.0)
    assert not meanwhile.is_alive() and sealing.is_alive()
    release.set()
    for t in (thread, fast, sealing):
        t.join(15)
    assert sealed and slow_id[0] <= sealed[0].seals[-1].last_record_id  # it waited
    seals.seal()
    covered = set()
    for seal in Seal.objects.all():
        covered |= set(seals.expand(seal.record_ids))
    assert slow_id[0] in covered
    assert set(AuditRecord.objects.filter(type__name="log").values_list("id", flat=True)) <= covered
    assert run_verify()[0] == 0
    connections.close_all()


@pytest.mark.django_db
def test_the_purge_keeps_what_remains_verifiable(user) -> None:
    now = timezone.now()
    for days in (40, 39, 2, 1):
        at(user, now - timedelta(days=days), "log")
    out = StringIO()
    call_command("audit_purge", "--older-than-days", "30", stdout=out)
    assert "Deleted 2 records" in out.getvalue()
    code, text = run_verify()
    assert code == 0, text
    purge = AuditRecord.objects.get(type__name="trail-purged")
    assert purge.params["deleted"] == 2
    assert IntegrityState.objects.get().anchor_seal == Seal.objects.earliest("id").pk
    assert not EntityLink.objects.filter(record__created_at__lt=now - timedelta(days=30)).exists()


@pytest.mark.django_db
def test_sealing_works_on_every_database(trail) -> None:
    """SQLite has no roles and no triggers, but seals and verification are the same."""
    seals.seal()
    assert seals.verify().ok
    if connection.vendor == "postgresql":
        return  # the database refuses the change itself; the tests above bypass it
    AuditRecord.objects.filter(pk=trail[1]).update(message="changed")
    assert seals.verify().problems[0].startswith(f"record #{trail[1]} was changed")


@pytest.mark.django_db
def test_a_records_hash_is_the_documented_form_of_every_column_and_link(user) -> None:
    """The hash is SHA-256 of the documented text, built from what the database holds
    (params as the database gives its stored JSON back as text)."""
    import hashlib

    record = audit.log("log", 'say "hi"\n', {"b": 1, "a": [1, 2]}, entities=[user], user=user)
    ((pk, hashed, links, _at),) = list(seals.records_between(record, record, seals.FORM_JSON))
    stored = AuditRecord.objects.get(pk=record)
    link = stored.links.get()
    with connection.cursor() as cursor:
        cast = "::text" if connection.vendor == "postgresql" else ""
        cursor.execute(f"SELECT params{cast} FROM audit_auditrecord WHERE id = %s", [pk])
        params = cursor.fetchone()[0]
    stamp = stored.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = (
        f'[{pk}, "{stored.uuid}", {stored.type_id}, "{stored.level}", "say \\"hi\\"\\n", '
        f'{params}, null, "", "", {user.pk}, {stored.session_id}, '
        f'"{stamp}", null, "{stored.source}", "{stored.request_id}", '
        f'[[{link.pk}, {link.content_type_id}, "{link.object_id}", "{link.role}", '
        f'"{link.name}", "{stamp}"]]]'
    )
    assert links == 1
    assert hashed == hashlib.sha256(text.encode()).digest()
    if connection.vendor != "postgresql":
        return
    # Form 2, PostgreSQL's row text: what the seals PostgreSQL makes hash.
    at = stored.created_at.astimezone(UTC)
    pg_stamp = (
        f"{at:%Y-%m-%d %H:%M:%S}"
        + (f".{at.microsecond:06d}".rstrip("0") if at.microsecond else "")
        + "+00"
    )
    link_row = f'({link.pk},{link.content_type_id},{link.object_id},"",{link.name},"{pg_stamp}")'
    quoted_params = '"' + params.replace('"', '""') + '"'
    request_id = stored.request_id or '""'
    row = (
        f'({pk},{stored.uuid},{stored.type_id},{stored.level},"say ""hi""\n",'
        f'{quoted_params},,"","",{user.pk},{stored.session_id},"{pg_stamp}",,{stored.source},{request_id},'
        f'"{link_row.replace(chr(34), chr(34) * 2)}")'
    )
    ((_pk, in_rows, _n, _at),) = list(seals.records_between(record, record, seals.FORM_ROW))
    assert in_rows == hashlib.sha256(row.encode()).digest(), row
    # Form 3, what PostgreSQL seals in now: the row as its binary protocol sends it.
    import struct
    import uuid

    def column(oid: int, data: bytes | None) -> bytes:
        if data is None:
            return struct.pack(">Ii", oid, -1)
        return struct.pack(">Ii", oid, len(data)) + data

    def bigint(value: int) -> bytes:
        return column(20, struct.pack(">q", value))

    def text(value: str) -> bytes:
        return column(25, value.encode())

    since_2000 = (stored.created_at - datetime(2000, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    link_bytes = (
        struct.pack(">i", 6)
        + bigint(link.pk)
        + bigint(link.content_type_id)
        + text(link.object_id)
        + text(link.role)
        + text(link.name)
        + column(1184, struct.pack(">q", since_2000))
    )
    binary = (
        struct.pack(">i", 16)
        + bigint(pk)
        + column(2950, uuid.UUID(str(stored.uuid)).bytes)
        + bigint(stored.type_id)
        + text(stored.level)
        + text('say "hi"\n')
        + column(3802, b"\x01" + params.encode())
        + column(3802, None)
        + text("")
        + text("")
        + bigint(user.pk)
        + bigint(stored.session_id)
        + column(1184, struct.pack(">q", since_2000))
        + column(1184, None)
        + text(stored.source)
        + text(stored.request_id)
        + column(17, link_bytes)
    )
    ((_pk, in_binary, _n, _at),) = list(seals.records_between(record, record, seals.FORM_BINARY))
    assert in_binary == hashlib.sha256(binary).digest()


@pytest.mark.django_db(transaction=True)  # as beat runs it: committed records
def test_the_beat_task_seals_what_is_new(user) -> None:
    from audit import tasks

    for n in range(3):
        audit.log("log", f"r{n}", user=user)
    assert tasks.seal() == 3
    assert tasks.seal() == 1  # the first seal's own trail-sealed record
    assert seals.verify().ok


_COLUMNS_AS_STORED = (
    "SELECT id, uuid::text, type_id, level, message, params::text, changes::text, "
    "stack_trace, fingerprint, user_id, session_id, "
    "(extract(epoch FROM created_at) * 1000000)::bigint, "
    "(extract(epoch FROM client_time) * 1000000)::bigint, source, request_id "
    "FROM audit_auditrecord WHERE id >= %s ORDER BY id"
)
_LINKS_AS_STORED = (
    "SELECT record_id, id, content_type_id, object_id, role, name, "
    "(extract(epoch FROM created_at) * 1000000)::bigint "
    "FROM audit_entitylink WHERE record_id >= %s ORDER BY record_id, id"
)


# Every column as PostgreSQL writes it as text (form 2).
_COLUMNS_AS_TEXT = (
    "SELECT id::text, uuid::text, type_id::text, level, message, params::text, "
    "changes::text, stack_trace, fingerprint, user_id::text, session_id::text, "
    "created_at::text, client_time::text, source, request_id "
    "FROM audit_auditrecord WHERE id >= %s ORDER BY id"
)
_LINKS_AS_TEXT = (
    "SELECT record_id, id::text, content_type_id::text, object_id, role, name, "
    "created_at::text FROM audit_entitylink WHERE record_id >= %s ORDER BY record_id, id"
)


@pytest.mark.django_db
def test_postgresql_hashes_exactly_what_canonical_hashes(user, token_client, group) -> None:
    """PostgreSQL builds the canonical text itself (no record travels to Python); every
    escape, null and time must come out as ``canonical`` writes it, or a trail sealed on
    one path would fail verification on the other."""
    import hashlib

    if connection.vendor != "postgresql":
        pytest.skip("SQLite hashes through canonical() itself")
    group.name = 'g "\\ \x01\x1f\x7f\n\t é ☃ 😀'
    group.save()
    first = audit.log(
        "log",
        'quotes " backslash \\ controls \x01\x08\x0c\x1f\x7f tab\t cr\r lf\n é ☃ 😀 \u2028',
        {"nested": {"é": ["\x02", 1.5, None, True]}, "big": 10**20},
        entities=[user, group, ("user", user.pk, "reviewer")],
        stack_trace="Error: x\n    at f (https://h/a.js:1:2)",
        changes={"name": {"old": "a\x03", "new": "b"}},
    )
    audit.log("log", "", {}, user=None)
    response = token_client.post(
        "/api/audit/events/",
        [
            {
                "type": "log",
                "message": "with client time",
                "timestamp": "2026-01-02T03:04:05.123456Z",
            },
            {"type": "log", "message": "at a whole second", "timestamp": "2026-01-02T03:04:05Z"},
        ],
        format="json",
    )
    assert response.status_code == 202, response.content
    with connection.cursor() as cursor:
        cursor.execute(_COLUMNS_AS_STORED, [first])
        rows = cursor.fetchall()
        cursor.execute(_LINKS_AS_STORED, [first])
        links: dict[int, list[tuple]] = {}
        for link in cursor.fetchall():
            links.setdefault(link[0], []).append(link[1:])
    assert len(rows) >= 4
    assert any(row[12] is not None for row in rows), "a client time is hashed"
    expected = [
        (row[0], hashlib.sha256(seals.canonical(row, links.get(row[0], []))).digest(),
         len(links.get(row[0], [])), row[11])
        for row in rows
    ]  # fmt: skip
    assert list(seals.records_between(first, rows[-1][0], seals.FORM_JSON)) == expected
    # Form 2, what PostgreSQL sealed in before form 3: its row text, as row_text writes
    # it, in UTC whatever the connection's time zone; form 3, what it seals in now: its
    # binary row, as row_binary writes it.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TimeZone = 'Asia/Kathmandu'")
        last = rows[-1][0]
        in_rows = [(pk, h) for pk, h, _n, _at in seals.records_between(first, last, 2)]
        in_binary = [(pk, h) for pk, h, _n, _at in seals.records_between(first, last, 3)]
        cursor.execute("SHOW TimeZone")
        assert cursor.fetchone()[0] == "Asia/Kathmandu"  # put back after the read
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        cursor.execute(_COLUMNS_AS_TEXT, [first])
        texts = cursor.fetchall()
        cursor.execute(_LINKS_AS_TEXT, [first])
        link_texts: dict[int, list[list]] = {}
        for link in cursor.fetchall():
            link_texts.setdefault(int(link[0]), []).append(list(link[1:]))
    assert in_rows == [
        (
            int(row[0]),
            hashlib.sha256(seals.row_text(list(row), link_texts.get(int(row[0]), []))).digest(),
        )
        for row in texts
    ]
    assert seals.current_form() == seals.FORM_BINARY
    assert in_binary == [
        (row[0], hashlib.sha256(seals.row_binary(row, links.get(row[0], []))).digest())
        for row in rows
    ]


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_hash_read_puts_the_planner_setting_back(user) -> None:
    """The read forbids nested loops for itself only (with statistics that call the
    tables small the planner looped over the links' aggregate once per record: 20 s for
    5,000 records, seen under bench/ingest.py --sealing); the connection's own setting
    is as it was afterwards."""
    first = audit.log("log", "one", entities=[user], user=user)
    last = audit.log("log", "two", entities=[user], user=user)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_nestloop = on")
        assert len(list(seals.records_between(first, last))) == 2
        cursor.execute("SELECT current_setting('enable_nestloop')")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_database_sums_a_block_as_the_records_hashes_give_it(user, group, monkeypatch) -> None:
    """On PostgreSQL the sealer gets one row a block (count, hashes in id order, links,
    newest time) instead of one a record: the same block, byte for byte, as the one
    made from each record's hash; it stops before the first record of another UTC day,
    spans at most ``BLOCK`` ids, and names only the ids used when some were skipped."""
    # Yesterday's midnight: today's would put a record in the future in its first minute.
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    first = at(user, midnight - timedelta(hours=2), "log", entities=[user, group])
    at(user, midnight - timedelta(minutes=1), "log", entities=[group])
    _as_superuser(  # two ids left unused
        "SELECT setval(pg_get_serial_sequence('audit_auditrecord', 'id'), %s)", [first + 3]
    )
    third = at(user, midnight - timedelta(seconds=1), "log")
    next_day = at(user, midnight + timedelta(minutes=1), "log", entities=[user])
    assert first is not None and third is not None and next_day is not None

    summed = seals._block_postgresql(first, next_day)
    assert summed == seals._block_of_records(first, next_day)
    assert summed is not None
    assert (summed.first, summed.last, summed.records) == (first, third, 3)
    assert summed.ids == f"{first}-{first + 1},{third}"
    assert summed.links == 3
    assert summed.last_at == seals._micros(AuditRecord.objects.get(pk=third).created_at)
    following = seals._block_postgresql(third + 1, next_day)
    assert following == seals._block_of_records(third + 1, next_day)
    assert following is not None and following.ids == str(next_day)

    monkeypatch.setattr(seals, "BLOCK", 3)  # ids first..first+2: the gap's id is one
    small = seals._block_postgresql(first, next_day)
    assert small is not None and small.ids == f"{first}-{first + 1}" and small.records == 2
    seals.seal()
    assert seals.verify().ok


@pytest.mark.django_db(transaction=True)  # a superuser's own connection sees commits only
@pytest.mark.postgres
def test_a_trail_sealed_in_every_form_verifies_and_names_changes(user, monkeypatch) -> None:
    """Seals made in each form (1 the JSON text, 2 PostgreSQL's row text, 3 its binary
    row) chain and verify together, each seal's records hashed in its own form; a
    change of a record or of its link under any of them is caught and named."""
    by_form = {}
    for form in (seals.FORM_JSON, seals.FORM_ROW, seals.FORM_BINARY):
        by_form[form] = [
            audit.log("log", f"form {form} #{n}", entities=[user], user=user) for n in range(3)
        ]
        monkeypatch.setattr(seals, "current_form", lambda form=form: form)
        seals.seal()
        monkeypatch.undo()
    assert seals.current_form() == seals.FORM_BINARY
    assert list(Seal.objects.order_by("id").values_list("form", flat=True))[:3] == [
        seals.FORM_JSON,
        seals.FORM_ROW,
        seals.FORM_BINARY,
    ]
    assert seals.verify().ok
    for form, records in by_form.items():
        changed = records[1]
        _as_superuser("UPDATE audit_auditrecord SET message = 'forged' WHERE id = %s", [changed])
        report = seals.verify()
        assert not report.ok and f"record #{changed} was changed" in report.problems[0], form
        _as_superuser(
            "UPDATE audit_auditrecord SET message = %s WHERE id = %s", [f"form {form} #1", changed]
        )
        _as_superuser(  # a link is part of the record in every form
            "UPDATE audit_entitylink SET name = 'forged' WHERE record_id = %s", [changed]
        )
        report = seals.verify()
        assert not report.ok and f"record #{changed} was changed" in report.problems[0], form
        _as_superuser(
            "UPDATE audit_entitylink SET name = %s WHERE record_id = %s",
            [user.get_username(), changed],
        )
    assert seals.verify().ok


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_purge_stops_at_the_first_block_younger_than_its_cutoff(user, settings) -> None:
    """A block's ids do not say its time: a change kept staged (with an error, retried
    later) becomes a record with a later id and an earlier time, in a block after newer
    ones. The purge takes whole blocks from the oldest and stops at the first it may
    not take, rather than purge through an old block that follows a new one."""
    from audit import staged
    from audit.context import AuditContext, bind
    from audit.models import StagedChange
    from catalog.models import Project

    settings.AUDIT_DEFERRED_TRACKING = 1
    now = timezone.now()
    at(user, now - timedelta(days=40), "log", message="old")
    at(user, now - timedelta(days=10), "log", message="recent")
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Late", owner=user)
    # A change staged 35 days ago and stored only now (as one kept with an error is),
    # staged as the application may: a row of its own beside the one the save wrote.
    saved = StagedChange.objects.get()
    saved.pk, saved.uuid, saved.created_at = None, uuid.uuid4(), now - timedelta(days=35)
    saved.save()
    assert staged.drain_all().records == 2
    seals.seal()
    late = AuditRecord.objects.get(uuid=saved.uuid)
    assert late.id > AuditRecord.objects.get(message="recent").id
    assert purge_older_than(now - timedelta(days=30)) == 1
    assert AuditRecord.objects.filter(message="recent").exists()
    assert not AuditRecord.objects.filter(message="old").exists()
    assert run_verify()[0] == 0


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_purge_keeps_an_ended_session_whose_change_is_still_staged(user, settings) -> None:
    """A change kept staged (with an error) for longer than the retention still names
    its session: the purge leaves an ended session alone while such a change waits, and
    the record, once stored, joins it."""
    from audit import staged
    from audit.context import AuditContext, bind
    from audit.models import StagedChange, UserSession
    from catalog.models import Project

    settings.AUDIT_DEFERRED_TRACKING = 1
    now = timezone.now()
    at(user, now - timedelta(days=40), "log", message="old")
    with bind(AuditContext(user=user)):
        Project.objects.create(name="Waiting", owner=user)
    change = StagedChange.objects.get()
    StagedChange.objects.filter(pk=change.pk).update(error="kept for an operator")
    UserSession.objects.filter(pk=change.session_id).update(ended_at=now - timedelta(days=35))
    assert purge_older_than(now - timedelta(days=30)) == 1
    assert UserSession.objects.filter(pk=change.session_id).exists()
    StagedChange.objects.filter(pk=change.pk).update(error="")
    assert staged.drain_all().records == 1
    assert AuditRecord.objects.get(uuid=change.uuid).session_id == change.session_id
