"""Ingest benchmark: events/s through the real HTTP path against a PostgreSQL COPY baseline.

Why this exists: DESIGN.md requires the ingest path to validate with a compiled schema
and write in bulk, because a serializer per event ran at about 300 events/s. A figure on
its own says little on an unknown machine, so the benchmark also measures how fast the
same PostgreSQL takes the very same rows through COPY, and reports the ratio; the target
is HTTP >= 0.3 x COPY.

What one run does, on its own database (``audit_bench``, created if absent):

1. migrates it, creates a user, a group, a DRF token and a session row;
2. generates realistic events in advance and encodes them as 500-event JSON batches, so
   the client spends its CPU on sending, not on building;
3. COPY baseline #1: the same rows (same columns, params JSON, entity links) loaded with
   ``COPY ... FROM STDIN`` through psycopg, one COPY per table per batch, each committed;
4. HTTP: ``gunicorn auditproj.wsgi`` on a free port; a second process posts the batches
   over keep-alive connections (one thread per connection), checks every answer;
5. COPY baseline #2, so that the baseline is the mean of a run before and a run after
   the HTTP phase (the machine is noisy, and the table grows warm in between);
6. prints a table (and a JSON line with ``--json``).

The audit tables are truncated between phases (row-level DELETE is refused by the
append-only trigger; TRUNCATE is not).

Run from the project root: ``.venv/bin/python bench/ingest.py [--events N] [--json]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/audit_bench"
INGEST_PATH = "/api/audit/events/"
TARGET_RATIO = 0.3
BENCH_USERNAME = "bench-ingest"
BENCH_GROUP = "bench-analysts"
# Fastest measured on the 2-core reference machine (see bench/README.md); others can be
# compared in one run with ``--server sync:2 --server sync:3 --server gthread:2x4``.
DEFAULT_SERVER = "sync:3"
# Every trigger of the analysis app (the statement ones, and the row one that leaves a
# tracked save's record pending), which benchmarks switch off while they fill tables
# server-side or to price the rollups.
ANALYSIS_TRIGGERS = (
    ("audit_auditrecord", "analysis_count_records"),
    ("audit_entitylink", "analysis_count_links"),
    ("audit_auditrecord", "analysis_pend_record"),
)


# --------------------------------------------------------------------------------------
# Workload: realistic events, generated once, deterministic for a given seed
# --------------------------------------------------------------------------------------

# (type, weight): the browser logger's everyday traffic, with errors and edits mixed in.
EVENT_MIX: list[tuple[str, int]] = [
    ("log", 28),
    ("query-start", 15),
    ("main-menu-item-click", 15),
    ("viewer-rendered", 15),
    ("table-produced", 12),  # a client's; query-edited is the server's own (server-only)
    ("error", 8),
    ("dialog-ok", 4),
    ("project-opened", 3),
]

# One string, split: a word list of 45 lines would bury the interesting code.
WORDS = (
    "query table column chart viewer dataset filter join aggregate project notebook "
    "script connection refresh render grid scatter histogram pivot export import sample "
    "schedule package widget layout panel cache row rows selected user opened closed "
    "loaded saved preview timeout retry server client model train predict cluster"
).split()

MENU_ITEMS = ["File | Open", "Data | Query", "Tools | Scripting", "View | Layout", "Help"]
VIEWERS = ["Grid", "Scatter plot", "Histogram", "Line chart", "Bar chart", "Pivot table"]
DIALOGS = ["Save project", "Share", "Add connection", "Publish query", "Settings"]

ERRORS = [
    ("TypeError", "Cannot read properties of undefined (reading 'columns')"),
    ("RangeError", "Invalid array length"),
    ("Error", "Request failed with status 502 while fetching /api/queries/run"),
    ("ReferenceError", "grok is not defined"),
]
JS_FRAMES = [
    ("ViewerHost.render", "viewers"),
    ("GridView.renderRows", "grid"),
    ("DataFrame.getCol", "dataframe"),
    ("QueryRunner.execute", "queries"),
    ("HttpClient.fetchJson", "http"),
    ("async Promise.all", None),
    ("ScatterPlot.onDataChanged", "viewers"),
    ("EventBus.publish", "events"),
    ("Observable.next", "rx"),
    ("Subscriber._next", "rx"),
    ("LayoutManager.apply", "layout"),
    ("Project.open", "projects"),
    ("Shell.dispatch", "shell"),
    ("HTMLElement.<anonymous>", "dom"),
    ("Object.invokeGuarded", "runtime"),
    ("processTicksAndRejections", None),
]


def _message(rng: random.Random) -> str:
    """A message of 20 to 120 characters, sentence-like."""
    target = rng.randint(20, 120)
    words: list[str] = []
    length = -1
    while length < target:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    text = " ".join(words)[:target]
    return text[0].upper() + text[1:]


def _stack_trace(rng: random.Random, kind: str, text: str) -> str:
    """A V8 stack trace of about 15 frames, with hashed bundle names like a real build."""
    build = rng.choice(["8f3a2c1d", "19be44a0", "c0ffee42"])
    lines = [f"{kind}: {text}"]
    for func, module in rng.sample(JS_FRAMES, 15):
        if module is None:
            lines.append(
                f"    at {func} (node:internal/process/task_queues:{rng.randint(60, 99)}:5)"
            )
        else:
            url = f"https://platform.example.com/static/js/{module}.{build}.js"
            lines.append(f"    at {func} ({url}:1:{rng.randint(1000, 400000)})")
    return "\n".join(lines)


def _extra_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(WORDS) + "-" + rng.choice(WORDS)
    if roll < 0.65:
        return rng.randint(0, 100_000)
    if roll < 0.8:
        return round(rng.uniform(0, 5000), 3)
    if roll < 0.9:
        return rng.random() < 0.5
    return [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]


def _params(rng: random.Random, event_type: str) -> dict[str, Any]:
    """3 to 8 keys: a few that belong to the type, the rest generic; sometimes nested."""
    params: dict[str, Any]
    if event_type == "query-start":
        params = {
            "queryId": str(uuid.UUID(int=rng.getrandbits(128))),
            "rows": rng.randint(0, 10**6),
        }
    elif event_type == "table-produced":
        params = {
            "table": rng.choice(WORDS),
            "rows": rng.randint(0, 10**6),
            "before": _message(rng),
        }
    elif event_type == "main-menu-item-click":
        params = {"item": rng.choice(MENU_ITEMS), "shortcut": rng.random() < 0.2}
    elif event_type == "viewer-rendered":
        params = {"viewer": rng.choice(VIEWERS), "ms": rng.randint(3, 2500)}
    elif event_type == "dialog-ok":
        params = {"dialog": rng.choice(DIALOGS)}
    elif event_type == "error":
        params = {"url": "https://platform.example.com/p/" + rng.choice(WORDS)}
    else:
        params = {"source": rng.choice(["browser", "script", "package"])}
    wanted = rng.randint(3, 8)
    if rng.random() < 0.3 and len(params) < wanted:
        params["context"] = {
            "width": rng.randint(320, 3840),
            "height": rng.randint(240, 2160),
            "theme": rng.choice(["light", "dark"]),
            "tab": {"index": rng.randint(0, 12), "pinned": rng.random() < 0.1},
        }
    while len(params) < wanted:
        params[f"{rng.choice(WORDS)}{rng.choice(WORDS).title()}"] = _extra_value(rng)
    return params


def generate_events(
    count: int, *, seed: int, user_id: int, group_id: int, start: datetime
) -> list[dict[str, Any]]:
    """``count`` events as a client sends them: typed, timestamped, each with a UUID id."""
    rng = random.Random(seed)
    names = [name for name, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    events: list[dict[str, Any]] = []
    for index in range(count):
        event_type = rng.choices(names, weights)[0]
        moment = start + timedelta(milliseconds=index * 37 + rng.randint(0, 30))
        event: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": event_type,
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "params": _params(rng, event_type),
        }
        if event_type == "error":
            kind, text = rng.choice(ERRORS)
            event["message"] = f"{kind}: {text}"
            event["stackTrace"] = _stack_trace(rng, kind, text)
        else:
            event["message"] = _message(rng)
        if event_type == "log" and rng.random() < 0.2:
            event["level"] = rng.choice(["debug", "warning"])
        if rng.random() < 1 / 3:
            entities: list[dict[str, Any]] = [{"type": "user", "id": user_id}]
            if rng.random() < 0.5:
                entities.append({"type": "group", "id": group_id, "role": "audience"})
            event["entities"] = entities
        events.append(event)
    return events


def encode_batches(events: list[dict[str, Any]], size: int) -> list[bytes]:
    """JSON bodies of ``size`` events each, encoded once, before any timing."""
    return [
        json.dumps(events[start : start + size], separators=(",", ":")).encode()
        for start in range(0, len(events), size)
    ]


# --------------------------------------------------------------------------------------
# Database set-up (bench process only)
# --------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the bench database if absent, connecting to the ``postgres`` one."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise SystemExit(f"DATABASE_URL {url!r} names no database")
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
            print(f"created database {name}")


def server_environment(url: str) -> dict[str, str]:
    """The environment of the server and of the bench's own Django: production-like."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=url,
        DEBUG="0",
        AUDIT_INGEST_THROTTLE="1000000/min",
        AUDIT_INGEST_EVENT_THROTTLE="1000000000/min",
        DJANGO_SETTINGS_MODULE="auditproj.settings",
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


@dataclass(frozen=True, slots=True)
class Fixture:
    """The rows every phase refers to: who posts, to which session, with which types."""

    token: str
    user_id: int
    username: str
    group_id: int
    group_name: str
    user_content_type_id: int
    group_content_type_id: int
    copy_session_id: int
    type_ids: dict[str, tuple[int, str]]  # name -> (id, default level)


def prepare_fixture() -> Fixture:
    """User, group, token and a session row for the COPY baseline (needs django.setup())."""
    from django.contrib.auth.models import Group, User
    from django.contrib.contenttypes.models import ContentType
    from rest_framework.authtoken.models import Token

    from audit.models import EventType, SessionKind, UserSession

    user, _ = User.objects.get_or_create(username=BENCH_USERNAME)
    group, _ = Group.objects.get_or_create(name=BENCH_GROUP)
    user.groups.add(group)  # a client links only entities its user may view
    token, _ = Token.objects.get_or_create(user=user)
    session, _ = UserSession.objects.get_or_create(
        user=user, kind=SessionKind.API, client="bench:copy-baseline"
    )
    type_ids = {
        name: (pk, level)
        for pk, name, level in EventType.objects.values_list("id", "name", "level")
    }
    missing = {name for name, _ in EVENT_MIX} - set(type_ids)
    if missing:
        raise SystemExit(f"event types missing from the database: {sorted(missing)}")
    return Fixture(
        token=token.key,
        user_id=user.pk,
        username=user.get_username(),
        group_id=group.pk,
        group_name=group.name,
        user_content_type_id=ContentType.objects.get_for_model(User).pk,
        group_content_type_id=ContentType.objects.get_for_model(Group).pk,
        copy_session_id=session.pk,
        type_ids=type_ids,
    )


RULE_GROUPS = 50
MEMBER_OF = 10


def install_rules(fixture: Fixture, *, on: bool) -> None:
    """50 groups with switch rules on every built-in type; the bench user joins 10.

    Types the benchmark sends are switched off only for groups the user is not in;
    every other type is switched off for the user's groups too. So the rules are as
    dense as they get while every event is still stored: the check is what is timed.
    """
    from django.contrib.auth.models import Group, User

    from audit.builtin_types import BUILTIN_NAMES
    from audit.models import EventType

    user = User.objects.get(pk=fixture.user_id)
    groups = [
        Group.objects.get_or_create(name=f"bench-rules-{n:02}")[0] for n in range(RULE_GROUPS)
    ]
    through = EventType.disabled_for.through
    through.objects.filter(group__in=groups).delete()
    user.groups.remove(*groups)
    if not on:
        return
    user.groups.add(*groups[:MEMBER_OF])
    sent = {name for name, _ in EVENT_MIX}
    rows = []
    for event_type in EventType.objects.filter(name__in=BUILTIN_NAMES):
        targets = groups[MEMBER_OF:] if event_type.name in sent else groups
        rows += [through(eventtype_id=event_type.pk, group_id=g.pk) for g in targets]
    through.objects.bulk_create(rows)


def truncate(url: str) -> None:
    """Empty the audit tables and restart their ids (CASCADE: anything that points at
    records, such as an outbox, goes too; this is the bench's own database)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE audit_entitylink, audit_auditrecord, audit_seal RESTART IDENTITY CASCADE"
        )
        conn.execute("UPDATE audit_integritystate SET anchor_seal = NULL")


def count_rows(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # The trail's own records (a seal's) are not the benchmark's events.
        records = conn.execute(
            "SELECT count(*) FROM audit_auditrecord r JOIN audit_eventtype t "
            "ON t.id = r.type_id WHERE t.name NOT LIKE 'trail-%%'"
        ).fetchone()
        links = conn.execute("SELECT count(*) FROM audit_entitylink").fetchone()
    assert records is not None and links is not None
    return int(records[0]), int(links[0])


def expect_rows(url: str, records: int, links: int, phase: str) -> None:
    """Fail loudly unless the phase left exactly the rows it should have."""
    found = count_rows(url)
    if found != (records, links):
        raise SystemExit(
            f"{phase}: expected {records} records and {links} links in the database, "
            f"found {found[0]} and {found[1]}"
        )


# Records already stored (``--at-size``), written by the server itself: the bench
# user's, in its COPY session, of the types the events use, over the 90 days before the
# events' own times (ids follow time, as they do in use); every third links the group.
FILL_RECORDS = """
INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, stack_trace,
    fingerprint, user_id, session_id, created_at, client_time, source, request_id)
SELECT md5('bench-ingest-fill-' || g)::uuid, (%(types)s::bigint[])[1 + g %% %(n)s],
       (%(levels)s::text[])[1 + g %% %(n)s], 'Stored before the run: record ' || g,
       jsonb_build_object('n', g, 'view', 'table'), '', '', %(user)s, %(session)s,
       %(start)s::timestamptz + (g::bigint * %(step)s) * interval '1 microsecond', NULL,
       'client', ''
FROM generate_series(%(low)s::bigint, %(high)s::bigint) g
"""
FILL_LINKS = """
INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name,
    created_at, type_id, user_id)
SELECT id, %(ct)s, %(group)s, '', %(name)s, created_at, type_id, user_id FROM audit_auditrecord
WHERE id >= %(first)s AND id %% 3 = 0
"""


def fill_records(url: str, fixture: Fixture, count: int, step: int = 500_000) -> float:
    """``count`` records (a third of them with a link) stored before the phase, in
    statements of ``step``, the analysis triggers off meanwhile (the rollups would fold
    each statement's millions; ingest is measured with them on), then VACUUM (ANALYZE)
    as autovacuum would have; seconds."""
    import psycopg

    began = time.perf_counter()
    # Not the trail's own types: the phase's count leaves those out.
    types = [value for name, value in fixture.type_ids.items() if not name.startswith("trail-")]
    days = 90 * 86_400_000_000  # microseconds
    params: dict[str, Any] = {
        "types": [type_id for type_id, _ in types],
        "levels": [level for _, level in types],
        "n": len(types),
        "user": fixture.user_id,
        "session": fixture.copy_session_id,
        "start": datetime.now(UTC) - timedelta(days=92),
        "step": max(1, days // count),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        for table, trigger in ANALYSIS_TRIGGERS:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        try:
            first = None
            for low in range(1, count + 1, step):
                high = min(count, low + step - 1)
                with conn.transaction():
                    conn.execute(FILL_RECORDS, {**params, "low": low, "high": high})
                if first is None:
                    row = conn.execute("SELECT min(id) FROM audit_auditrecord").fetchone()
                    first = int(row[0]) if row else 1
            conn.execute(
                FILL_LINKS,
                {
                    "ct": fixture.group_content_type_id,
                    "group": str(fixture.group_id),
                    "name": fixture.group_name,
                    "first": first,
                },
            )
        finally:
            for table, trigger in ANALYSIS_TRIGGERS:
                conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        for table in ("audit_auditrecord", "audit_entitylink"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - began


# --------------------------------------------------------------------------------------
# COPY baseline
# --------------------------------------------------------------------------------------

COPY_RECORDS = (
    "COPY audit_auditrecord (id, uuid, type_id, level, message, params, stack_trace, "
    "fingerprint, user_id, session_id, client_time, source, created_at, request_id) "
    "FROM STDIN"
)
COPY_LINKS = (
    "COPY audit_entitylink (record_id, content_type_id, object_id, role, name, type_id, "
    "user_id, created_at) FROM STDIN"
)


@dataclass(slots=True)
class CopyBatch:
    """Rows of one batch without their server time (set when the batch is written)."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[Any, ...]] = field(default_factory=list)


def build_copy_batches(
    events: list[dict[str, Any]], size: int, fixture: Fixture
) -> list[CopyBatch]:
    """The rows the server would store for ``events``, computed the way it computes them
    (type's default level, msgspec-encoded params, stack fingerprint, entity names).

    Record ids are assigned here, 1..N, so links can refer to them without a round trip:
    the baseline is "how fast PostgreSQL takes these rows", an upper bound on purpose.
    """
    import msgspec

    from audit.fingerprint import fingerprint

    encoder = msgspec.json.Encoder()
    link_kinds = {
        "user": (fixture.user_content_type_id, fixture.username),
        "group": (fixture.group_content_type_id, fixture.group_name),
    }
    batches: list[CopyBatch] = []
    for start in range(0, len(events), size):
        batch = CopyBatch()
        for offset, event in enumerate(events[start : start + size]):
            record_id = start + offset + 1
            type_id, default_level = fixture.type_ids[event["type"]]
            stack = event.get("stackTrace", "")
            batch.records.append(
                (
                    record_id,
                    uuid.UUID(event["id"]),
                    type_id,
                    event.get("level") or default_level,
                    event["message"],
                    encoder.encode(event["params"]).decode(),
                    stack,
                    fingerprint(stack),
                    fixture.user_id,
                    fixture.copy_session_id,
                    datetime.fromisoformat(event["timestamp"]),
                    "client",
                )
            )
            for entity in event.get("entities", ()):
                content_type_id, name = link_kinds[entity["type"]]
                batch.links.append(
                    (
                        record_id,
                        content_type_id,
                        str(entity["id"]),
                        entity.get("role", ""),
                        name,
                        type_id,
                        fixture.user_id,
                    )
                )
        batches.append(batch)
    return batches


@dataclass(frozen=True, slots=True)
class CopyRun:
    rows: int
    links: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def run_copy(url: str, batches: list[CopyBatch]) -> CopyRun:
    """Load every batch with one COPY per table, committing each batch, in one connection."""
    import psycopg

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for batch in batches:
            now = datetime.now(UTC)
            request_id = uuid.uuid4().hex
            with conn.cursor() as cursor:
                with cursor.copy(COPY_RECORDS) as copy:
                    for row in batch.records:
                        copy.write_row((*row, now, request_id))
                if batch.links:
                    with cursor.copy(COPY_LINKS) as copy:
                        for link in batch.links:
                            copy.write_row((*link, now))
            conn.commit()
        seconds = time.perf_counter() - started
        _resync_sequence(conn)
    return CopyRun(
        rows=sum(len(b.records) for b in batches),
        links=sum(len(b.links) for b in batches),
        seconds=seconds,
    )


# The lean baseline: the same rows COPYed into a table with only a primary key, a unique
# id and three indexes (time, type, user): what "storing events" costs PostgreSQL with
# the least indexing a trail that is read at all would have.
LEAN_TABLE = """
CREATE TABLE IF NOT EXISTS bench_lean_record (
    id bigint PRIMARY KEY, uuid uuid NOT NULL UNIQUE, type_id bigint NOT NULL,
    level varchar(8) NOT NULL, message text NOT NULL, params jsonb NOT NULL,
    stack_trace text NOT NULL, fingerprint varchar(40) NOT NULL, user_id integer,
    session_id bigint NOT NULL, client_time timestamptz, source varchar(8) NOT NULL,
    created_at timestamptz NOT NULL, request_id varchar(64) NOT NULL
)"""
LEAN_INDEXES = (
    "CREATE INDEX IF NOT EXISTS bench_lean_created ON bench_lean_record (created_at)",
    "CREATE INDEX IF NOT EXISTS bench_lean_type ON bench_lean_record (type_id, id)",
    "CREATE INDEX IF NOT EXISTS bench_lean_user ON bench_lean_record (user_id, id)",
)
COPY_LEAN = COPY_RECORDS.replace("audit_auditrecord", "bench_lean_record")


def run_lean_copy(url: str, batches: list[CopyBatch]) -> CopyRun:
    """COPY the records of every batch into the lean table, committing each batch, in
    one connection (the table emptied and vacuumed first)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(LEAN_TABLE)
        for statement in LEAN_INDEXES:
            conn.execute(statement)
        conn.execute("TRUNCATE bench_lean_record")
        conn.execute("VACUUM (ANALYZE) bench_lean_record")
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for batch in batches:
            now = datetime.now(UTC)
            request_id = uuid.uuid4().hex
            with conn.cursor() as cursor, cursor.copy(COPY_LEAN) as copy:
                for row in batch.records:
                    copy.write_row((*row, now, request_id))
            conn.commit()
        seconds = time.perf_counter() - started
    return CopyRun(rows=sum(len(b.records) for b in batches), links=0, seconds=seconds)


def _resync_sequence(conn: psycopg.Connection[Any]) -> None:
    """COPY gave explicit ids; move the identity past them so the table stays usable."""
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('audit_auditrecord', 'id'), "
        "(SELECT coalesce(max(id), 0) + 1 FROM audit_auditrecord), false)"
    )
    conn.commit()


# --------------------------------------------------------------------------------------
# HTTP: gunicorn and a client in a second process
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A gunicorn worker set-up: ``sync:2`` or ``gthread:2x4`` (workers x threads)."""

    worker_class: str
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        worker_class, _, shape = text.partition(":")
        if worker_class not in ("sync", "gthread") or not shape:
            raise argparse.ArgumentTypeError(f"{text!r}: use sync:N or gthread:NxT")
        workers, _, threads = shape.partition("x")
        try:
            return cls(worker_class, int(workers), int(threads or 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: use sync:N or gthread:NxT") from None

    @property
    def label(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread {self.workers} workers x {self.threads} threads"
        return f"sync {self.workers} workers"


def default_connections(config: ServerConfig) -> int:
    """One more connection than the server has request slots, so that a slot never
    waits for the client, kept within 2..4 (the brief's range for a 2-core machine)."""
    return min(4, max(2, config.workers * config.threads + 1))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """``gunicorn auditproj.wsgi`` in its own process group, always stopped on exit."""

    def __init__(self, config: ServerConfig, env: dict[str, str]) -> None:
        self.config = config
        self.env = env
        self.port = _free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "auditproj.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.config.workers),
            "--worker-class",
            self.config.worker_class,
            "--threads",
            str(self.config.threads),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the workers go down with it
        )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_until_answering(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", INGEST_PATH)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """TERM the group we started (master and its workers), KILL it if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        self.log.close()


def post_batches(
    port: int, token: str, batches: list[bytes], sizes: list[int], connections: int
) -> dict[str, Any]:
    """Post every batch over ``connections`` keep-alive connections, one thread each.

    Runs in the client process (and for the warm-up in the bench process). Returns plain
    data (picklable across processes): wall time, per-request latencies and the sum of
    what the server answered. Any non-202 answer stops every thread and is reported.
    """
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    lock = threading.Lock()
    pending = iter(range(len(batches)))
    stop = threading.Event()
    latencies: list[float] = []
    failures: list[str] = []
    totals = {"accepted": 0, "duplicates": 0, "disabled": 0, "rejected": 0, "closed": 0}
    ids: list[list[int]] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        mine: list[float] = []
        try:
            while not stop.is_set():
                with lock:
                    index = next(pending, None)
                if index is None:
                    break
                sent = time.perf_counter()
                conn.request("POST", INGEST_PATH, body=batches[index], headers=headers)
                response = conn.getresponse()
                body = response.read()
                mine.append(time.perf_counter() - sent)
                if response.status != 202:
                    failures.append(f"batch {index}: HTTP {response.status}: {body[:500]!r}")
                    stop.set()
                    break
                answer = json.loads(body)
                with lock:
                    totals["accepted"] += len(answer["accepted"])
                    totals["duplicates"] += answer["duplicates"]
                    totals["disabled"] += answer["disabled"]
                    totals["rejected"] += len(answer["rejected"])
                    totals["closed"] += response.will_close  # sync workers end each one
                    ids.append(answer["accepted"])
                if len(answer["accepted"]) != sizes[index]:
                    failures.append(
                        f"batch {index}: {len(answer['accepted'])} of {sizes[index]} accepted, "
                        f"duplicates={answer['duplicates']} disabled={answer['disabled']} "
                        f"rejected={json.dumps(answer['rejected'][:3])[:500]}"
                    )
                    stop.set()
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            stop.set()
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    distinct_ids = len({pk for batch_ids in ids for pk in batch_ids})
    return {
        "seconds": seconds,
        "latencies": latencies,
        "failures": failures,
        "requests": len(latencies),
        "distinct_ids": distinct_ids,
        **totals,
    }


@dataclass(frozen=True, slots=True)
class HttpRun:
    config: ServerConfig
    connections: int
    events: int
    seconds: float
    latencies: list[float]
    closed: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Sealer:
    """``manage.py audit_seal`` in a loop, in a process of its own, every ``every``
    seconds (60 times as often as the beat task: the sealer is busy the whole phase).
    ``every`` 0: no sealer.

    The phase starts once the sealer has set Django up and connected, as a beat worker
    has long before it seals: a second of start-up inside a six-second phase would be
    charged to sealing."""

    READY_TIMEOUT = 60.0

    def __init__(self, env: dict[str, str], every: float) -> None:
        self.env, self.every = env, every
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sealer:
        if self.every:
            with tempfile.TemporaryDirectory(prefix="bench-sealer-") as folder:
                ready = Path(folder) / "ready"
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--seal-loop",
                        str(self.every),
                        str(ready),
                    ],
                    cwd=ROOT,
                    env=self.env,
                )
                deadline = time.monotonic() + self.READY_TIMEOUT
                while not ready.exists():
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the sealer did not start")
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process of this machine (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu_seconds() -> float:
    """CPU time every core of this machine spent busy (not idle, not waiting), /proc/stat."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def seal_loop(every: float, ready: str = "") -> None:
    """The sealer process: seal as the beat task does, sleep, until terminated; then the
    CPU it used, in Python and in its PostgreSQL backend (the same machine's ``/proc``):
    what sealing takes from ingest on a machine that ingest keeps busy."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from audit import seals

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    started = _cpu_seconds(os.getpid()), _cpu_seconds(backend)
    sealed = [0]
    if ready:
        Path(ready).touch()  # set up and connected: the phase may start

    def report(*_: Any) -> None:
        own, server = _cpu_seconds(os.getpid()) - started[0], _cpu_seconds(backend) - started[1]
        per = (own + server) * 1e6 / max(sealed[0], 1)
        print(
            f"  sealer: {sealed[0]:,} records sealed, CPU {own:.2f} s in Python + "
            f"{server:.2f} s in PostgreSQL = {per:.1f} us a record",
            flush=True,
        )
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    while True:
        with contextlib.suppress(seals.SealDeferred):  # in flight too long: next time
            sealed[0] += seals.seal().records  # as the beat task seals
        time.sleep(every)


def check_sealed(env: dict[str, str], url: str) -> None:
    """After a phase with the sealer: one last seal, then every event must be covered by
    a seal and the chain must verify (no record skipped under load). The seals' own
    ``trail-sealed`` records are sealed by the next seal, so some always wait."""
    import psycopg

    done = subprocess.run(
        [sys.executable, "manage.py", "audit_seal"], cwd=ROOT, env=env, capture_output=True
    )
    checked = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_auditrecord r JOIN audit_eventtype t "
            "ON t.id = r.type_id WHERE t.name NOT LIKE 'trail-%%' "
            "AND r.id > (SELECT coalesce(max(last_record_id), 0) FROM audit_seal)"
        ).fetchone()
    unsealed = int(row[0]) if row else -1
    if done.returncode or checked.returncode or unsealed:
        raise SystemExit(
            f"sealing under load: {unsealed} events unsealed; {checked.stdout} {checked.stderr}"
        )


def run_http(
    config: ServerConfig,
    *,
    env: dict[str, str],
    url: str,
    fixture: Fixture,
    batches: list[bytes],
    sizes: list[int],
    warmup: list[bytes],
    warmup_sizes: list[int],
    connections: int,
    expected_links: int,
    seal_every: float = 0.0,
    prefill: int = 0,
) -> HttpRun:
    """Serve with ``config``, warm every worker up, then time the client process; with
    ``seal_every``, a sealer process seals what is new that often meanwhile; with
    ``prefill``, into tables that already hold that many records."""
    truncate(url)
    with Gunicorn(config, env) as server:
        # Untimed: loads the app in each worker, opens DB connections, fills caches.
        warm = post_batches(server.port, fixture.token, warmup, warmup_sizes, connections)
        if warm["failures"]:
            raise SystemExit(f"warm-up failed: {warm['failures'][:3]}\n{server.log_tail()}")
        truncate(url)
        if prefill:
            took = fill_records(url, fixture, prefill)
            print(f"  filled {prefill:,} records in {took:.0f} s, then VACUUM (ANALYZE)")
        context = multiprocessing.get_context("spawn")
        with (
            Sealer(env, seal_every),
            concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool,
        ):
            # Start the process first, so its start-up is not counted nor competing.
            pool.submit(int, 0).result()
            result = pool.submit(
                post_batches, server.port, fixture.token, batches, sizes, connections
            ).result()
        if result["failures"]:
            raise SystemExit(
                "HTTP ingest failed:\n  "
                + "\n  ".join(result["failures"][:5])
                + f"\n--- gunicorn log ---\n{server.log_tail()}"
            )
    sent = sum(sizes)
    problems = [
        f"{name}={result[name]}" for name in ("duplicates", "disabled", "rejected") if result[name]
    ]
    if result["accepted"] != sent or result["distinct_ids"] != sent or problems:
        raise SystemExit(
            f"HTTP ingest: sent {sent}, accepted {result['accepted']} "
            f"({result['distinct_ids']} distinct ids) {' '.join(problems)}"
        )
    if prefill:
        expect_rows(url, sent + prefill, expected_links + prefill // 3, f"HTTP ({config.label})")
    else:
        expect_rows(url, sent, expected_links, f"HTTP ({config.label})")
    if seal_every:
        check_sealed(env, url)
    return HttpRun(
        config=config,
        connections=connections,
        events=sent,
        seconds=result["seconds"],
        latencies=result["latencies"],
        closed=result["closed"],
    )


# --------------------------------------------------------------------------------------
# Optional in-process profile of the server side of one request
# --------------------------------------------------------------------------------------


def profile_requests(url: str, fixture: Fixture, batches: list[bytes], top: int = 25) -> None:
    """cProfile ``len(batches)`` POSTs through Django's full handler (middleware, DRF,
    token auth, recording, storage) in this process: where the server's time goes."""
    import cProfile
    import pstats

    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {fixture.token}")
    truncate(url)
    client.post(INGEST_PATH, data=batches[0], content_type="application/json")  # warm
    truncate(url)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for body in batches:
        response = client.post(INGEST_PATH, data=body, content_type="application/json")
        if response.status_code != 202:
            raise SystemExit(f"profile: HTTP {response.status_code}: {response.content[:300]!r}")
    profiler.disable()
    seconds = time.perf_counter() - started
    print(
        f"\nProfile: {len(batches)} requests in-process, "
        f"{seconds / len(batches) * 1000:.1f} ms per request (profiler overhead included)"
    )
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    truncate(url)


# --------------------------------------------------------------------------------------
# Report and main
# --------------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def report(
    events: int,
    batch: int,
    copies: list[CopyRun],
    runs: list[HttpRun],
    *,
    load: tuple[float, float],
    as_json: bool,
) -> None:
    copy_rate = sum(run.rows_per_second for run in copies) / len(copies)
    best = max(runs, key=lambda run: run.events_per_second)
    ratio = best.events_per_second / copy_rate
    links = copies[0].links

    print()
    print(f"Audit ingest benchmark: {events:,} events in batches of {batch} ({links:,} links)")
    print("Run order: COPY #1, HTTP, COPY #2; the COPY figure is the mean of both runs.")
    print(
        f"Machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} before and "
        f"{load[1]:.2f} after (client, server and PostgreSQL share these CPUs)."
    )
    print()
    print(f"{'phase':<44} {'seconds':>8} {'events/s':>10} {'p50 ms':>8} {'p95 ms':>8}")
    for number, copied in enumerate(copies, 1):
        print(f"{f'COPY #{number}':<44} {copied.seconds:>8.2f} {_rate(copied.rows_per_second):>10}")
    for run in runs:
        label = f"HTTP {run.config.label}, {run.connections} conns"
        print(
            f"{label:<44} {run.seconds:>8.2f} {_rate(run.events_per_second):>10} "
            f"{run.percentile(0.5) * 1000:>8.1f} {run.percentile(0.95) * 1000:>8.1f}"
        )
    print()
    met = ratio >= TARGET_RATIO
    rows = [
        ("events", f"{events:,}"),
        ("server", f"gunicorn auditproj.wsgi, {best.config.label}"),
        ("client", f"{best.connections} HTTP/1.1 keep-alive connections, separate process"),
        ("HTTP ingest events/s", _rate(best.events_per_second)),
        ("COPY rows/s (mean of 2 runs)", _rate(copy_rate)),
        ("ratio HTTP/COPY", f"{ratio:.3f}"),
        ("target", f">= {TARGET_RATIO}  {'met' if met else 'TARGET MISSED'}"),
        (
            f"latency per {batch}-event request",
            f"p50 {best.percentile(0.5) * 1000:.1f} ms, p95 {best.percentile(0.95) * 1000:.1f} ms",
        ),
    ]
    if best.closed:
        rows.append(("note", f"server closed the connection after {best.closed} responses"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if not met:
        print(f"\nTARGET MISSED: HTTP ingest is {ratio:.3f} of COPY, below {TARGET_RATIO}.")
    if as_json:
        figures = {
            "events": events,
            "batch": batch,
            "links": links,
            "server": best.config.label,
            "connections": best.connections,
            "http_events_per_s": round(best.events_per_second, 1),
            "copy_rows_per_s": round(copy_rate, 1),
            "copy_runs_rows_per_s": [round(run.rows_per_second, 1) for run in copies],
            "ratio": round(ratio, 4),
            "target": TARGET_RATIO,
            "target_met": met,
            "load_average": [round(value, 2) for value in load],
            "latency_ms": {
                "p50": round(best.percentile(0.5) * 1000, 2),
                "p95": round(best.percentile(0.95) * 1000, 2),
            },
            "http_runs": [
                {
                    "server": run.config.label,
                    "events_per_s": round(run.events_per_second, 1),
                    "p50_ms": round(run.percentile(0.5) * 1000, 2),
                    "p95_ms": round(run.percentile(0.95) * 1000, 2),
                }
                for run in runs
            ],
        }
        print(json.dumps(figures))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per phase")
    parser.add_argument("--batch", type=int, default=500, help="events per request / COPY")
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        help="concurrent HTTP connections of the client process "
        "(default: server request slots + 1, within 2..4)",
    )
    parser.add_argument(
        "--server",
        type=ServerConfig.parse,
        action="append",
        help=f"gunicorn set-up, sync:N or gthread:NxT; repeatable (default {DEFAULT_SERVER})",
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--rules",
        action="store_true",
        help="also run with 50 groups and switch rules on every built-in type, and print "
        "that run against the runs without rules (target: at least 0.9)",
    )
    parser.add_argument(
        "--sealing",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also run ROUNDS pairs of phases with and without a sealer sealing every "
        "second, and print the median ratio (target: at least 0.95)",
    )
    parser.add_argument(
        "--at-size",
        type=int,
        default=0,
        metavar="N",
        help="also run a phase into tables already holding N records (filled server-side) "
        "and one into empty tables again, and print the ratio (target: at least 0.8)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="afterwards, cProfile N requests through Django in-process",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch < 1 or (args.connections or 1) < 1:
        parser.error("--events, --batch and --connections must be positive")
    args.server = args.server or [ServerConfig.parse(DEFAULT_SERVER)]
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--seal-loop"]:
        seal_loop(float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")
        return 0
    args = parse_args(argv)
    # A TERM (a CI timeout, say) unwinds like an error, so the server is still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"the benchmark needs PostgreSQL; DATABASE_URL is {url!r}")
    env = server_environment(url)
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))

    ensure_database(url)
    migrate(env)
    import django

    django.setup()
    fixture = prepare_fixture()
    from django.db import connections

    connections.close_all()  # no idle session of ours during the phases

    print(f"generating {args.events:,} events ...", flush=True)
    start = datetime.now(UTC) - timedelta(days=1)
    events = generate_events(
        args.events,
        seed=args.seed,
        user_id=fixture.user_id,
        group_id=fixture.group_id,
        start=start,
    )
    batches = encode_batches(events, args.batch)
    sizes = [len(events[i : i + args.batch]) for i in range(0, len(events), args.batch)]
    copy_batches = build_copy_batches(events, args.batch, fixture)
    links = sum(len(batch.links) for batch in copy_batches)
    warm_count = args.batch * 4 * max(config.workers * config.threads for config in args.server)
    warm_events = generate_events(
        warm_count,
        seed=args.seed + 1,
        user_id=fixture.user_id,
        group_id=fixture.group_id,
        start=start,
    )
    warmup = encode_batches(warm_events, args.batch)
    warmup_sizes = [len(warm_events[i : i + args.batch]) for i in range(0, warm_count, args.batch)]
    del events, warm_events
    megabytes = sum(map(len, batches)) / 1e6
    print(f"{len(batches)} batches, {megabytes:.1f} MB of JSON, {links:,} entity links")

    copies: list[CopyRun] = []
    runs: list[HttpRun] = []

    def copy_phase(number: int) -> None:
        truncate(url)
        run = run_copy(url, copy_batches)
        expect_rows(url, run.rows, run.links, f"COPY #{number}")
        copies.append(run)
        print(
            f"COPY #{number}: {run.seconds:.2f}s, {_rate(run.rows_per_second)} rows/s", flush=True
        )

    lean: list[CopyRun] = []

    def lean_phase(number: int) -> None:
        run = run_lean_copy(url, copy_batches)
        lean.append(run)
        print(
            f"COPY into the lean table #{number}: {run.seconds:.2f}s, "
            f"{_rate(run.rows_per_second)} rows/s",
            flush=True,
        )

    load_before = os.getloadavg()[0]
    lean_phase(1)
    copy_phase(1)

    def serve(config: ServerConfig, seal_every: float = 0.0, prefill: int = 0) -> HttpRun:
        """One HTTP phase of these events on ``config``."""
        return run_http(
            config,
            env=env,
            url=url,
            fixture=fixture,
            batches=batches,
            sizes=sizes,
            warmup=warmup,
            warmup_sizes=warmup_sizes,
            connections=args.connections or default_connections(config),
            expected_links=links,
            seal_every=seal_every,
            prefill=prefill,
        )

    for config in args.server:
        run = serve(config)
        runs.append(run)
        print(
            f"HTTP {config.label}: {run.seconds:.2f}s, {_rate(run.events_per_second)} events/s",
            flush=True,
        )

    def http_phase(label: str, seal_every: float = 0.0, prefill: int = 0) -> HttpRun:
        """One more HTTP phase on the first server set-up, for the comparisons below."""
        config = args.server[0]
        run = serve(config, seal_every, prefill)
        print(f"HTTP {label}: {run.seconds:.2f}s, {_rate(run.events_per_second)} events/s")
        return run

    rule_runs: list[HttpRun] = []
    if args.rules:
        install_rules(fixture, on=True)
        try:
            rule_runs.append(http_phase("with rules"))
        finally:
            install_rules(fixture, on=False)
        rule_runs.append(http_phase("without rules, again"))
    seal_ratios: list[tuple[float, float, float]] = []  # (with, without, ratio) a round
    if args.sealing:

        def sealing_phase(every: float) -> float:
            label = "with sealing every 1 s" if every else "without sealing"
            busy = _machine_cpu_seconds()
            rate = http_phase(label, seal_every=every).events_per_second
            if not every:  # what one ingested event costs the whole machine, in CPU
                ingest_cpu.append((_machine_cpu_seconds() - busy) * 1e6 / args.events)
            return rate

        ingest_cpu: list[float] = []
        for number in range(args.sealing):
            # Alternate the order (AB, BA, ...) so that a drift of the machine cancels.
            if number % 2 == 0:
                without, with_sealing = sealing_phase(0.0), sealing_phase(1.0)
            else:
                with_sealing, without = sealing_phase(1.0), sealing_phase(0.0)
            seal_ratios.append((with_sealing, without, with_sealing / without))
    sized: list[HttpRun] = []  # into tables of --at-size records, then empty again
    if args.at_size:
        sized.append(http_phase(f"into {args.at_size:,} records", prefill=args.at_size))
        sized.append(http_phase("into empty tables, again"))
    copy_phase(2)
    lean_phase(2)
    load = (load_before, os.getloadavg()[0])
    report(args.events, args.batch, copies, runs, load=load, as_json=args.json)
    lean_rate = sum(run.rows_per_second for run in lean) / len(lean)
    best_http = max(run.events_per_second for run in runs)
    lean_ratio = best_http / lean_rate
    print(
        "\nAgainst a lean table (primary key, unique id, three indexes; the same rows by COPY,"
        " a commit a batch, mean of 2 runs):"
    )
    print(f"  COPY into the lean table      {_rate(lean_rate)} rows/s")
    print(f"  HTTP ingest (best set-up)     {_rate(best_http)} events/s")
    print(
        f"  ratio HTTP / lean COPY        {lean_ratio:.3f}   target >= 0.5  "
        f"{'met' if lean_ratio >= 0.5 else 'TARGET MISSED'}"
    )
    if sized:
        empty = (runs[0].events_per_second + sized[1].events_per_second) / 2
        ratio = sized[0].events_per_second / empty
        print(f"\nIngest as the trail grows (the same events, {args.events:,} of them):")
        full = sized[0].events_per_second
        print(f"  into empty tables (mean of the runs before and after)  {_rate(empty)} events/s")
        print(f"  into tables holding {args.at_size:,} records  {_rate(full)} events/s")
        print(
            f"  ratio full / empty  {ratio:.3f}   target >= 0.8  "
            f"{'met' if ratio >= 0.8 else 'TARGET MISSED'}"
        )
    if rule_runs:
        rates_without = [runs[0].events_per_second, rule_runs[1].events_per_second]
        mean_without = sum(rates_without) / len(rates_without)
        ratio = rule_runs[0].events_per_second / mean_without
        print("\nSwitch rules: 50 groups, every built-in type switched off for some of them;")
        print("the bench user is in 10 groups whose rules spare the types it sends, so every")
        print("event is still stored and only the cost of checking is measured.")
        print(
            f"  without rules (mean of the runs before and after)  {_rate(mean_without)} events/s"
        )
        print(
            f"  with rules                                          "
            f"{_rate(rule_runs[0].events_per_second)} events/s"
        )
        print(
            f"  ratio with/without  {ratio:.3f}   target >= 0.9  "
            f"{'met' if ratio >= 0.9 else 'TARGET MISSED'}"
        )
    if seal_ratios:
        # The median proper: with an even number of rounds, the mean of the middle two
        # (the upper one alone, as this once took, flattered the figure).
        median = statistics.median(ratio for _, _, ratio in seal_ratios)
        print("\nSealing: a sealer process seals what is new every second during the phase")
        print("(60 times as often as the beat task); afterwards every event must be sealed")
        print("and the chain must verify. Rounds alternate their order.")
        for number, (with_sealing, without, ratio) in enumerate(seal_ratios, 1):
            print(
                f"  round {number}: with {_rate(with_sealing)} events/s, without "
                f"{_rate(without)} events/s, ratio {ratio:.3f}"
            )
        print(
            f"  median ratio with/without  {median:.3f}   target >= 0.95  "
            f"{'met' if median >= 0.95 else 'TARGET MISSED'}"
        )
        print(
            "  an ingested event costs the machine "
            + ", ".join(f"{cpu:.0f}" for cpu in ingest_cpu)
            + " us of CPU (phases without sealing, client and server); the sealer's lines"
            " above give its cost a record"
        )
    if args.profile:
        profile_requests(url, fixture, batches[: args.profile])
    return 0


if __name__ == "__main__":
    sys.exit(main())
