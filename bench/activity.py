"""Entity activity benchmark: the activity API's latency as the audit table grows.

Why this exists: an entity's history must cost the same for an entity with 9 records
and one with 100,000, at page 1 and at page 101, whether the table holds 100,000 or
1,000,000 records (issue 3: p95 under 20 ms for both pages, flat as the table grows).
The page is a keyset range scan of the link index ``(content_type, object_id,
record_id DESC)`` joined to records by primary key (``audit.selectors.
entity_activity_page``); this measures it end to end through Django.

What one run does, on its own database (``audit_bench_activity``, created if absent,
migrated; its audit tables are truncated first, so never point it at records that
matter):

1. creates a staff user, one session row and 10,001 groups (the entity kind "group":
   10,000 normal entities and one hot one);
2. fills 100,000 records with ``INSERT ... SELECT FROM generate_series`` (server side,
   no rows cross the wire): every 10th record is about the hot entity, the others
   about a normal entity picked by a multiplicative hash (so each entity's records are
   spread over the whole table, the case where a backwards walk of the records table
   is slowest), and every third record links a second normal entity as its
   "project"; then VACUUM (ANALYZE);
3. measures, through Django's test client in-process (the whole middleware and DRF
   stack, session-authenticated as staff, DEBUG=0), ``--requests`` GETs of
   ``/api/audit/entities/group/ID/activity/`` for each of:
   * hot entity, first page;
   * hot entity, page 101 (cursor found once by following ``next`` 100 times);
   * a random normal entity per request, first page ("cold-ish": a different
     entity each time);
   * a random normal entity per request, its deepest cursor (``before`` its second
     oldest record: the scan runs to the far end of the entity's range; such an
     entity has too few records for 100 pages);
   * hot entity, a type filter that matches nothing (the worst case of a filter,
     bounded by ``audit.selectors.FILTER_WINDOW`` links per request);
4. fills up to 1,000,000 records (the hot entity then holds 100,000), VACUUM (ANALYZE),
   and measures again;
5. prints a table of p50/p95 per case and stage, the target, and EXPLAIN ANALYZE of
   the page's statements (hot entity, page 101) once.

Run from the project root: ``.venv/bin/python bench/activity.py [--requests 200]``
(``--quick``: 60,000 and 120,000 records, 20 requests a case, a smoke run)
(``DATABASE_URL`` may name another PostgreSQL database; the default is
``postgres://postgres@127.0.0.1:5432/audit_bench_activity``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/audit_bench_activity"
NORMAL_ENTITIES = 10_000
HOT_EVERY = 10  # every 10th record is about the hot entity: 100,000 of 1,000,000
STAGES = (100_000, 1_000_000)
QUICK_STAGES = (60_000, 120_000)  # --quick: the smallest with a hot entity of 101 pages
PAGE = 50
DEEP_PAGES = 100
TARGET_P95_MS = 20.0
GROUP_PREFIX = "bench-activity-"
HOT_NAME = GROUP_PREFIX + "hot"
STAFF_NAME = "bench-activity-staff"
# A mix of types, as an entity's history has: edits, runs, shares, comments, errors.
TYPES = [
    "query-edited",
    "query-start",
    "query-start",
    "query-start",
    "table-produced",
    "entity-shared",
    "comment-posted",
    "project-opened",
    "log",
    "error",
]


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


def setup_django(url: str) -> None:
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        DATABASE_URL=url,
        DEBUG="0",
        DJANGO_SETTINGS_MODULE="auditproj.settings",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    )
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass(frozen=True)
class Fixture:
    staff_id: int
    session_id: int
    group_content_type_id: int
    hot_id: int
    type_ids: list[int]
    type_levels: list[str]


def prepare(*, empty: bool = True) -> Fixture:
    """Staff user, session row, 10,001 groups; empties the audit tables.

    ``empty=False`` (``bench/activity_http.py --reuse``) leaves the records and the
    ``bench_entities`` table of an earlier fill as they are and only looks the rest up.
    """
    from django.contrib.auth.models import Group, User
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from audit.models import EventType, SessionKind, UserSession

    staff, _ = User.objects.get_or_create(username=STAFF_NAME, defaults={"is_staff": True})
    with connection.cursor() as cursor:
        if empty:
            cursor.execute("TRUNCATE audit_entitylink, audit_auditrecord RESTART IDENTITY CASCADE")
        cursor.execute(
            "INSERT INTO auth_group (name) SELECT %s || g FROM generate_series(1, %s) g "
            "ON CONFLICT (name) DO NOTHING",
            [GROUP_PREFIX, NORMAL_ENTITIES],
        )
        if empty:
            cursor.execute("DROP TABLE IF EXISTS bench_entities")
            # idx 0..9,999 -> a normal group's id, for the fill's hash to pick from.
            cursor.execute(
                "CREATE UNLOGGED TABLE bench_entities AS "
                "SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, "
                "id::text AS object_id, name FROM auth_group WHERE name ~ %s",
                [f"^{GROUP_PREFIX}[0-9]+$"],
            )
            cursor.execute("CREATE UNIQUE INDEX ON bench_entities (idx)")
    hot, _ = Group.objects.get_or_create(name=HOT_NAME)
    session, _ = UserSession.objects.get_or_create(
        user=staff, kind=SessionKind.SERVER, client="bench:activity"
    )
    types = dict(EventType.objects.filter(name__in=TYPES).values_list("name", "id"))
    levels = dict(EventType.objects.filter(name__in=TYPES).values_list("name", "level"))
    return Fixture(
        staff_id=staff.pk,
        session_id=session.pk,
        group_content_type_id=ContentType.objects.get_for_model(Group).pk,
        hot_id=hot.pk,
        type_ids=[types[name] for name in TYPES],
        type_levels=[levels[name] for name in TYPES],
    )


FILL_RECORDS = """
INSERT INTO audit_auditrecord (id, uuid, type_id, level, message, params, changes,
    stack_trace, fingerprint, user_id, session_id, created_at, client_time, source,
    request_id)
SELECT g,
       md5('bench-activity-' || g)::uuid,
       (%(type_ids)s::int[])[1 + g %% %(ntypes)s],
       (%(levels)s::text[])[1 + g %% %(ntypes)s],
       'Bench record ' || g || ': ran the query and produced a table',
       jsonb_build_object('n', g, 'rows', g %% 5000, 'query', 'Sales by region'),
       CASE WHEN g %% %(ntypes)s = 0
            THEN jsonb_build_object('sql', jsonb_build_object('old', 'SELECT 1', 'new', 'SELECT 2'))
       END,
       '', '', %(user_id)s, %(session_id)s,
       timestamptz '2025-01-01' + g * interval '1 second',
       NULL, 'server', ''
FROM generate_series(%(start)s, %(stop)s) g
"""

# The entity each record is about (hot every 10th, else a hashed normal one), and for
# every third record a second normal entity as "project".
FILL_LINKS = """
INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name, created_at,
    type_id, user_id)
SELECT s.g, %(ct)s, COALESCE(e.object_id, %(hot)s), '', COALESCE(e.name, %(hot_name)s),
       timestamptz '2025-01-01' + s.g * interval '1 second',
       (%(type_ids)s::int[])[1 + s.g %% %(ntypes)s], %(user_id)s
FROM (SELECT g, CASE WHEN g %% %(hot_every)s = 0 THEN NULL
                     ELSE ((g::bigint * 2654435761) %% %(n)s)::int END AS idx
      FROM generate_series(%(start)s, %(stop)s) g) s
LEFT JOIN bench_entities e ON e.idx = s.idx
UNION ALL
SELECT s.g, %(ct)s, e.object_id, 'project', e.name,
       timestamptz '2025-01-01' + s.g * interval '1 second',
       (%(type_ids)s::int[])[1 + s.g %% %(ntypes)s], %(user_id)s
FROM (SELECT g, ((g::bigint * 40503 + 7) %% %(n)s)::int AS idx
      FROM generate_series(%(start)s, %(stop)s) g WHERE g %% 3 = 0) s
JOIN bench_entities e ON e.idx = s.idx
"""


def fill(fixture: Fixture, start: int, stop: int, *, vacuum: bool = True) -> float:
    """Records ``start..stop`` and their links, server side, then VACUUM (ANALYZE)
    unless ``vacuum`` is false (a caller filling in steps vacuums once, at the end);
    seconds."""
    from django.db import connection, transaction

    began = time.perf_counter()
    params: dict[str, Any] = {
        "type_ids": fixture.type_ids,
        "levels": fixture.type_levels,
        "ntypes": len(fixture.type_ids),
        "user_id": fixture.staff_id,
        "session_id": fixture.session_id,
        "ct": fixture.group_content_type_id,
        "hot": str(fixture.hot_id),
        "hot_name": HOT_NAME,
        "hot_every": HOT_EVERY,
        "n": NORMAL_ENTITIES,
    }
    step = 250_000
    for chunk_start in range(start, stop + 1, step):
        chunk = {**params, "start": chunk_start, "stop": min(stop, chunk_start + step - 1)}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(FILL_RECORDS, chunk)
            cursor.execute(FILL_LINKS, chunk)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audit_auditrecord', 'id'), %s)", [stop]
        )
    if vacuum:
        vacuum_tables()
    return time.perf_counter() - began


def vacuum_tables() -> None:
    """As autovacuum would after a while: statistics, and a visibility map that lets
    the link index be read without visiting the table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) audit_auditrecord")
        cursor.execute("VACUUM (ANALYZE) audit_entitylink")


@dataclass
class Case:
    name: str
    p50: float
    p95: float
    rows: float  # mean records per page
    db_ms: float  # median planning + execution of the page's statements (EXPLAIN ANALYZE)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _get(client: Any, url: str) -> tuple[float, int]:
    began = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code} {response.content[:300]!r}")
    return elapsed, len(response.json()["results"])


def _timed(client: Any, urls: list[str], name: str, fixture: Fixture) -> Case:
    for url in urls[:10]:  # warm-up: connections, caches, code paths
        _get(client, url)
    times, rows = [], []
    for url in urls:
        elapsed, count = _get(client, url)
        times.append(elapsed)
        rows.append(count)
    db_ms = statistics.median(_db_time(fixture, url) for url in urls[:25])
    return Case(
        name, statistics.median(times), percentile(times, 0.95), statistics.mean(rows), db_ms
    )


def _page_statements(fixture: Fixture, url: str) -> list[str]:
    """The statements the selector sends for ``url``'s page, as it builds them: the
    page's record ids from the links, then its records and their links (a type filter
    that matches no type sends none)."""
    from urllib.parse import parse_qs, urlparse

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit import registry, selectors

    kind = registry.get("group")
    assert kind is not None
    parsed = urlparse(url)
    object_id = parsed.path.rstrip("/").split("/")[-2]
    query = parse_qs(parsed.query)
    before = query.get("before", [None])[0]
    with CaptureQueriesContext(connection) as queries:
        selectors.entity_activity_page(
            kind,
            object_id,
            before=int(before) if before else None,
            limit=PAGE,
            types=query.get("type", ()),
        )
    return [q["sql"] for q in queries.captured_queries if "audit_" in q["sql"]]


def _db_time(fixture: Fixture, url: str) -> float:
    """Planning + execution of the page's statements in PostgreSQL, in milliseconds."""
    from django.db import connection

    total = 0.0
    with connection.cursor() as cursor:
        for sql in _page_statements(fixture, url):
            cursor.execute("EXPLAIN (ANALYZE, TIMING OFF) " + sql)
            lines = [row[0] for row in cursor.fetchall()]
            total += sum(
                float(line.split(":")[1].split()[0])
                for line in lines
                if line.startswith(("Planning Time", "Execution Time"))
            )
    return total


def deep_cursor(client: Any, url: str, pages: int) -> str:
    """The URL of page ``pages + 1``, found by following ``next`` (the way a client
    gets there)."""
    for _ in range(pages):
        nxt = client.get(url).json()["next"]
        if nxt is None:
            raise SystemExit(f"{url} has fewer than {pages + 1} pages")
        url = nxt.replace("http://testserver", "")
    return url


def oldest_cursors(object_ids: list[str], ct: int) -> dict[str, int]:
    """For each entity, the id of its second oldest record: ``before`` it is the page
    at the far end of the entity's index range."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT object_id, (array_agg(record_id ORDER BY record_id))[2]
            FROM audit_entitylink
            WHERE content_type_id = %s AND object_id = ANY(%s)
            GROUP BY object_id
            """,
            [ct, object_ids],
        )
        return {oid: rid for oid, rid in cursor.fetchall() if rid is not None}


def measure(client: Any, fixture: Fixture, requests: int, rng: random.Random) -> list[Case]:
    from django.db import connection

    base = "/api/audit/entities/group/{}/activity/"
    hot = base.format(fixture.hot_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT object_id FROM bench_entities ORDER BY idx")
        normal = [row[0] for row in cursor.fetchall()]
    first_hot = [hot] * requests
    deep = deep_cursor(client, hot, DEEP_PAGES)
    deep_hot = [deep] * requests
    picks = [rng.choice(normal) for _ in range(requests + 10)]
    first_normal = [base.format(oid) for oid in picks]
    deep_picks = [rng.choice(normal) for _ in range(requests + 10)]
    cursors = oldest_cursors(sorted(set(deep_picks)), fixture.group_content_type_id)
    deep_normal = [
        f"{base.format(oid)}?before={cursors[oid]}" for oid in deep_picks if oid in cursors
    ]
    return [
        _timed(client, first_hot, "hot entity, first page", fixture),
        _timed(client, deep_hot, f"hot entity, page {DEEP_PAGES + 1}", fixture),
        _timed(client, first_normal, "random normal entity, first page", fixture),
        _timed(client, deep_normal, "random normal entity, oldest page", fixture),
        # A type filter that matches nothing: read from the links' type index.
        _timed(
            client,
            [f"{hot}?type=dialog-ok"] * requests,
            "hot entity, filter matching none",
            fixture,
        ),
    ]


def explain(fixture: Fixture, url: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each of the page's statements exactly as the
    selector sends them."""
    from django.db import connection

    shown = []
    with connection.cursor() as cursor:
        for sql in _page_statements(fixture, url):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            shown.append(f"{sql}\n\n{plan}")
    return "\n\n".join(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 60,000 and 120,000 records, 20 requests"
    )
    args = parser.parse_args()
    stages = QUICK_STAGES if args.quick else STAGES
    if args.quick:
        args.requests = min(args.requests, 20)
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/activity.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    total = time.perf_counter()
    ensure_database(url)
    setup_django(url)

    from django.test import Client

    fixture = prepare()
    from audit.receivers import credentials_unrecorded

    client = Client()
    with credentials_unrecorded():  # a sign-in record would take id 1, which the fill uses
        client.force_login(_staff(fixture))
    rng = random.Random(args.seed)
    results: dict[int, list[Case]] = {}
    filled = 0
    for stage in stages:
        seconds = fill(fixture, filled + 1, stage)
        print(f"filled records {filled + 1:,}..{stage:,} in {seconds:.1f} s", flush=True)
        filled = stage
        results[stage] = measure(client, fixture, args.requests, rng)
        hot_records = stage // HOT_EVERY
        print(f"measured at {stage:,} records (hot entity: {hot_records:,})", flush=True)

    report(results, args.requests)
    hot = f"/api/audit/entities/group/{fixture.hot_id}/activity/"
    print(
        f"\nEXPLAIN ANALYZE of the page's statements (hot entity, page 101, "
        f"{stages[-1]:,} records):\n"
    )
    print(explain(fixture, deep_cursor(client, hot, DEEP_PAGES)))
    print(f"\ntotal run time {time.perf_counter() - total:.0f} s")


def _staff(fixture: Fixture) -> Any:
    from django.contrib.auth.models import User

    return User.objects.get(pk=fixture.staff_id)


def report(results: dict[int, list[Case]], requests: int) -> None:
    print(
        f"\nActivity API latency: Django test client in-process (whole middleware and DRF "
        f"stack, session auth as staff, DEBUG=0), {requests} requests per case, page size "
        f"{PAGE}. 'db' is the page's statements' planning + execution in PostgreSQL (median of "
        "EXPLAIN ANALYZE); the rest of a request is Python.\n"
    )
    worst = 0.0
    for stage, cases in results.items():
        print(f"{stage:,} records (hot entity: {stage // HOT_EVERY:,})")
        print(f"  {'case':<36}{'rows':>6}{'p50 ms':>9}{'p95 ms':>9}{'db ms':>8}")
        for case in cases:
            worst = max(worst, case.p95)
            print(
                f"  {case.name:<36}{case.rows:>6.0f}{case.p50:>9.2f}{case.p95:>9.2f}"
                f"{case.db_ms:>8.2f}"
            )
    sizes = list(results)
    first, last = results[sizes[0]], results[sizes[-1]]
    print(
        f"\np95 at {sizes[-1]:,} / p95 at {sizes[0]:,} (a page that holds more records costs more):"
    )
    for a, b in zip(first, last, strict=True):
        print(f"  {a.name:<36}{b.p95 / a.p95:>6.2f}x   rows {a.rows:.0f} -> {b.rows:.0f}")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average {load} on {os.cpu_count()} cores (client, server and PostgreSQL)")
    verdict = "met" if worst < TARGET_P95_MS else "TARGET MISSED"
    print(
        f"target: p95 < {TARGET_P95_MS:.0f} ms for every case: worst p95 {worst:.2f} ms ({verdict})"
    )


if __name__ == "__main__":
    main()
