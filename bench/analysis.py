"""Usage analysis benchmark: every analysis answer over HTTP as the trail grows to 10M records.

Why this exists: analysis answers are read from rollups (``analysis.rollups``) whose size
grows with days x users x types, never with records, so they must stay flat as the
trail grows (issue: p95 at 10,000,000 records at most 2x p95 at 100,000, and under
100 ms for the 30-day overview on the 2-core machine); the rollups are kept by
statement-level triggers in the ingest transaction, which must cost little (ingest with
them at least 0.9 of ingest without them); and a stored record must be counted within
5 s.

What one run does, on its own database (``audit_bench_analysis``, created if absent,
migrated; its audit and analysis tables are truncated first, so never point it at
records that matter):

1. creates 2,000 users, 500 groups (the entities records link), a staff user with an
   API token and a login session;
2. lays out the sessions of 90 days ending today, once: each user joined before the
   period (70 %) or on a day within it, is a heavy, regular or occasional user (how
   likely they are active on a weekday, weekends a seventh of that), and has 1 to 3
   sessions on an active day (morning, midday, afternoon; 10 to 160 minutes). That is
   about 81,000 sessions (``audit_usersession`` rows);
3. for each stage (100,000, 1,000,000 and 10,000,000 records): empties the records and
   fills the stage's number server-side (``INSERT ... SELECT`` from the sessions and
   ``generate_series``, a few days per statement, progress printed). Records go to
   sessions in proportion to their length and their user's intensity, at a random
   moment of the session; ids follow ``created_at`` (the project keeps records in time
   order), so each stage is a fresh fill, not an append (an append would put new ids
   before old times). Types: 39 of the built-in ones with a Zipf-like spread, and 5 %
   errors (``error``, level ``error``) whose fingerprint is one of 300 (a few frequent,
   most rare), with a short stack trace; 30 % of the other records link a group, 5 %
   also a user. The analysis triggers are DISABLED during the fill and the rollups are
   then recomputed with ``analysis.rollups.rebuild()`` (timed: the "after a restore"
   figure); keeping the triggers on would make every fill statement write and fold
   millions of delta rows;
4. VACUUM (ANALYZE) of every table filled, then ``gunicorn auditproj.wsgi`` (DEBUG=0,
   gthread 1 worker x 4 threads, keep-alive) on a free port, and a keep-alive client in
   this process times each answer ``--requests`` times, in rounds that take every case
   once in a shuffled order (so the machine's noise falls on all cases alike), after
   warm-up rounds:
   * usage, 7, 30 and 90 days by day, and 90 days by week
     (``/api/audit/analysis/usage/``), token auth;
   * errors, 7, 30 and 90 days (``/api/audit/analysis/errors/``);
   * the most frequent error's detail, 30 days;
   * the overview page ``/analysis/``, 30 days (session auth);
   * the baseline: ``GET /api/audit/config/`` (token auth, no analysis);
   and, in-process through Django's test client, where each answer's time goes: its
   SQL statements, their time, and the rest (Python);
5. prints a table per stage, then p95 at the largest stage against p95 at the smallest
   for every answer (target <= 2x) and the 30-day overview's p95 against 100 ms,
   ``MISSED`` where a target is missed, with EXPLAIN (ANALYZE, BUFFERS) of the slowest
   statement of every answer that missed;
6. freshness: posts one event through the ingest API and polls the usage answer until
   it counts it (target <= 5 s);
7. with ``--ingest``: HTTP ingest events/s (``bench/ingest.py``'s realistic 500-event
   batches, its server and client) with the analysis triggers enabled and disabled,
   alternating in the same run (on/off, off/on, on/off, ...: ``--ingest-rounds`` pairs,
   so that drift of the machine falls on both), and the ratio of the means (target
   >= 0.9). This empties the audit tables (the rollups stay as the last stage left them).

Run from the project root::

    .venv/bin/python bench/analysis.py                 # 100k, 1M, 10M records
    .venv/bin/python bench/analysis.py --quick         # 10k, 50k, 100k; few requests
    .venv/bin/python bench/analysis.py --stages 100000,1000000 --ingest
    .venv/bin/python bench/analysis.py --only-ingest

(``DATABASE_URL`` may name another PostgreSQL database; the default is
``postgres://postgres@127.0.0.1:5432/audit_bench_analysis``.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on the path, and this module would
# shadow the app of the same name (``analysis`` is a namespace package: no __init__.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402  (the project root must be on the path first)
from bench.sql_timer import SqlTimer  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/audit_bench_analysis"
STAGES = (100_000, 1_000_000, 10_000_000)
QUICK_STAGES = (10_000, 50_000, 100_000)
USERS = 2_000
GROUPS = 500
DAYS = 90
ERROR_SHARE = 0.05
FINGERPRINTS = 300
LINK_SHARE = 0.30  # of the records that are not errors: a group
USER_LINK_SHARE = 0.05  # and of those, also a user (role "audience")
CHUNK_RECORDS = 400_000  # records per fill statement (whole days)
USER_PREFIX = "bench-analysis-user-"
GROUP_PREFIX = "bench-analysis-team-"
STAFF_NAME = "bench-analysis-staff"
TARGET_RATIO = 2.0  # p95 at the largest stage / p95 at the smallest
TARGET_OVERVIEW_MS = 100.0
TARGET_FRESH_S = 5.0
TARGET_INGEST = 0.9
TRIGGERS = ingest.ANALYSIS_TRIGGERS  # "off" is every trigger of the analysis app
AUDIT_TABLES = ("audit_auditrecord", "audit_entitylink", "audit_usersession")
ANALYSIS_TABLES = (
    "analysis_delta",
    "analysis_entitydelta",
    "analysis_typehour",
    "analysis_userday",
    "analysis_usersday",
    "analysis_usershour",
    "analysis_usertypeday",
    "analysis_sessionday",
    "analysis_errorgroup",
    "analysis_errorday",
    "analysis_errorweek",
    "analysis_entityday",
    "analysis_userfirstseen",
)

# The 39 built-in types records have besides ``error``, most frequent first; weight 1/rank.
POPULAR_TYPES = [
    "log",
    "viewer-rendered",
    "main-menu-item-click",
    "query-start",
    "table-produced",
    "dialog-ok",
    "project-opened",
    "script-start",
    "query-edited",
    "notebook-start",
    "job-start",
    "action-start",
    "comment-posted",
    "entity-shared",
    "query-created",
    "script-edited",
    "notebook-edited",
    "project-edited",
    "connection-edited",
    "predictive-model-start",
    "query-transformations-edited",
    "job-transformations-edited",
    "tutorial-completed",
    "script-created",
    "notebook-created",
    "project-created",
    "query-published",
    "connection-created",
    "job-created",
    "job-edited",
    "predictive-model-created",
    "predictive-model-edited",
    "script-published",
    "notebook-published",
    "connection-published",
    "predictive-model-published",
    "query-deleted",
    "script-deleted",
    "project-deleted",
]
TYPE_SLOTS = 1000  # the weighted pick: an array of type indexes, one slot per 1/1000

ERROR_CLASSES = ["TypeError", "RangeError", "ReferenceError", "Error", "SyntaxError"]


# --------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------


def environment(url: str, settings: str = "auditproj.settings") -> dict[str, str]:
    """The server's environment (and this process's Django): bench/ingest.py's, plus a
    gthread server with keep-alive and without request-count restarts or access log;
    ``settings`` names the settings module (another benchmark adds URLs of its own)."""
    env = ingest.server_environment(url)
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        GUNICORN_THREADS="4",
        GUNICORN_WORKER_CONNECTIONS="8",  # above the threads: connections kept alive
        GUNICORN_KEEPALIVE="30",
        GUNICORN_MAX_REQUESTS="0",  # a worker restarted mid-run would time a cold start
        GUNICORN_ACCESS_LOG="",
    )
    return env


def setup_django(url: str, settings: str = "auditproj.settings") -> dict[str, str]:
    """This process's Django on the server's settings; the database created if absent
    and migrated."""
    env = environment(url, settings)
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    ingest.ensure_database(url)
    ingest.migrate(env)
    import django

    django.setup()
    return env


def sql(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on Django's connection (autocommit); its rows, if any."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def one(statement: str, params: Any = None) -> Any:
    return sql(statement, params)[0][0]


# A uniform number in [0, 1) from an integer and a salt: PostgreSQL's own hash, inlined.
BENCH_U = """
CREATE OR REPLACE FUNCTION bench_u(a bigint, salt bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(a, salt) & 4294967295)::float8 / 4294967296 $$
"""


@dataclass
class Staff:
    user_id: int
    token: str
    session_key: str


def prepare_people() -> Staff:
    """2,000 users and 500 groups (server-side, no signals), the staff user with an API
    token and a login session (made before the audit tables are emptied: the token's
    creation is itself a record)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    staff, _ = User.objects.get_or_create(
        username=STAFF_NAME, defaults={"is_staff": True, "is_superuser": True}
    )
    token, _ = Token.objects.get_or_create(user=staff)
    session = SessionStore()
    session[SESSION_KEY] = str(staff.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    session.set_expiry(7 * 24 * 3600)
    session.save()
    sql(BENCH_U)
    sql(
        "INSERT INTO auth_user (username, password, first_name, last_name, email, is_staff, "
        "is_superuser, is_active, date_joined) "
        "SELECT %s || lpad(g::text, 4, '0'), '!', '', '', '', false, false, true, now() "
        "FROM generate_series(1, %s) g ON CONFLICT (username) DO NOTHING",
        [USER_PREFIX, USERS],
    )
    sql(
        "INSERT INTO auth_group (name) SELECT %s || lpad(g::text, 3, '0') "
        "FROM generate_series(1, %s) g ON CONFLICT (name) DO NOTHING",
        [GROUP_PREFIX, GROUPS],
    )
    sql("DROP TABLE IF EXISTS bench_groups")
    sql(
        "CREATE UNLOGGED TABLE bench_groups AS SELECT (row_number() OVER (ORDER BY id) - 1)::int "
        "AS idx, id::text AS object_id, name FROM auth_group WHERE name LIKE %s",
        [GROUP_PREFIX + "%"],
    )
    sql("CREATE UNIQUE INDEX ON bench_groups (idx)")
    return Staff(staff.pk, token.key, session.session_key or "")


def truncate_all() -> None:
    """Empty the audit tables (records, links, sessions) and every analysis table but
    the state row; ids restart."""
    sql(f"TRUNCATE {', '.join(AUDIT_TABLES + ANALYSIS_TABLES)} RESTART IDENTITY CASCADE")


# Users: 10 % heavy (active 90 % of weekdays, intensity x4), 30 % regular (60 %, x1.5),
# 60 % occasional (15 %, x0.6); 70 % joined before the period, the others on a day of it.
USERS_TABLE = """
CREATE UNLOGGED TABLE bench_users AS
SELECT idx, user_id,
       CASE WHEN kind < 0.1 THEN 4 WHEN kind < 0.4 THEN 1.5 ELSE 0.6 END
           * (0.5 + bench_u(idx, 2)) AS intensity,
       CASE WHEN kind < 0.1 THEN 0.9 WHEN kind < 0.4 THEN 0.6 ELSE 0.15 END AS p_active,
       CASE WHEN bench_u(idx, 3) < 0.7 THEN 0 ELSE floor(bench_u(idx, 4) * %(days)s)::int END
           AS joined
FROM (SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id AS user_id
      FROM auth_user WHERE username LIKE %(prefix)s) u,
     LATERAL (SELECT bench_u(u.idx, 1) AS kind) k
"""

# Sessions: 1-3 a day when the user is active (weekends: a seventh as likely), started
# in the morning, at midday or in the afternoon (UTC), 10 to 160 minutes long; none
# starts in the last 10 minutes, and none ends after now.
SESSIONS_TABLE = """
CREATE UNLOGGED TABLE bench_sessions AS
SELECT row_number() OVER (ORDER BY start_at, user_id, k)::bigint AS id, user_id, day, start_at,
       least(end_at, %(now)s - interval '1 minute') AS end_at, intensity, 0::bigint AS n
FROM (
    SELECT u.user_id, u.intensity, d AS day, k,
           %(day0)s::timestamptz + d * interval '1 day'
               + (7 + (k - 1) * 3.5 + 3 * bench_u(u.idx * 1000 + d * 4 + k, 5)) * interval '1 hour'
               AS start_at,
           %(day0)s::timestamptz + d * interval '1 day'
               + (7 + (k - 1) * 3.5 + 3 * bench_u(u.idx * 1000 + d * 4 + k, 5)) * interval '1 hour'
               + (10 + 150 * bench_u(u.idx * 1000 + d * 4 + k, 6)) * interval '1 minute'
               AS end_at
    FROM bench_users u, generate_series(0, %(days)s - 1) d, generate_series(1, 3) k
    WHERE d >= u.joined
      AND bench_u(u.idx * 1000 + d, 7) < u.p_active
          * CASE WHEN extract(isodow FROM %(day0)s::date + d) >= 6 THEN 0.15 ELSE 1 END
      AND k <= 1 + floor(3 * bench_u(u.idx * 1000 + d, 8))
) s
WHERE start_at < %(now)s - interval '10 minutes'
"""


def prepare_sessions(today: date, now: datetime) -> int:
    """The users' traits and the period's sessions (``bench_sessions``, and the same rows
    in ``audit_usersession`` under the same ids); how many sessions."""
    day0 = today - timedelta(days=DAYS - 1)
    for table in ("bench_sessions", "bench_users"):
        sql(f"DROP TABLE IF EXISTS {table}")
    sql(USERS_TABLE, {"days": DAYS, "prefix": USER_PREFIX + "%"})
    params = {"day0": datetime.combine(day0, datetime.min.time(), UTC), "now": now, "days": DAYS}
    sql(SESSIONS_TABLE, params)
    sql("CREATE UNIQUE INDEX ON bench_sessions (id)")
    sql("CREATE INDEX ON bench_sessions (day)")
    sql(
        "INSERT INTO audit_usersession (id, uuid, user_id, kind, started_at, last_seen_at, "
        "ended_at, ip, user_agent, client) SELECT id, gen_random_uuid(), user_id, 'browser', "
        "start_at, end_at, end_at, '10.1.2.3', 'Mozilla/5.0 (X11; Linux x86_64) bench', '' "
        "FROM bench_sessions"
    )
    sql(
        "SELECT setval(pg_get_serial_sequence('audit_usersession', 'id'), max(id)) "
        "FROM bench_sessions"
    )
    sql("ANALYZE bench_sessions")
    return int(one("SELECT count(*) FROM bench_sessions"))


# --------------------------------------------------------------------------------------
# Filling the records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kinds:
    """What the fill statements pick from (ids of this database)."""

    type_ids: list[int]  # TYPE_SLOTS slots, weighted
    levels: list[str]
    names: list[str]
    error_type: int
    fingerprints: list[str]
    group_ct: int
    user_ct: int


def kinds() -> Kinds:
    from django.contrib.auth.models import Group, User
    from django.contrib.contenttypes.models import ContentType

    from audit.models import EventType

    found = {t.name: t for t in EventType.objects.filter(name__in=[*POPULAR_TYPES, "error"])}
    missing = {*POPULAR_TYPES, "error"} - set(found)
    if missing:
        raise SystemExit(f"event types missing: {sorted(missing)}")
    weights = [1 / rank for rank in range(1, len(POPULAR_TYPES) + 1)]
    total = sum(weights)
    slots: list[tuple[int, str, str]] = []
    for name, weight in zip(POPULAR_TYPES, weights, strict=True):
        count = max(1, round(weight / total * TYPE_SLOTS))
        kind = found[name]
        for index in range(count):
            level = kind.level
            if name == "log" and index % 10 == 0:
                level = "warning"  # a tenth of the log lines are warnings, a twentieth debug
            elif name == "log" and index % 20 == 5:
                level = "debug"
            slots.append((kind.pk, level, name))
    slots = slots[:TYPE_SLOTS]
    while len(slots) < TYPE_SLOTS:
        slots.append(slots[0])
    return Kinds(
        type_ids=[s[0] for s in slots],
        levels=[s[1] for s in slots],
        names=[s[2] for s in slots],
        error_type=found["error"].pk,
        # 40 hex digits, like audit.fingerprint's SHA-1
        fingerprints=[
            uuid.uuid5(uuid.NAMESPACE_URL, f"bench-error-{n}").hex
            + uuid.uuid5(uuid.NAMESPACE_DNS, f"{n}").hex[:8]
            for n in range(FINGERPRINTS)
        ],
        group_ct=ContentType.objects.get_for_model(Group).pk,
        user_ct=ContentType.objects.get_for_model(User).pk,
    )


# The records of the sessions of days [day_lo, day_hi], ids in time order from base + 1.
# Errors: bench_u(id, 11) < share; fingerprint number skewed towards 0 (300 u^2).
FILL_RECORDS = """
INSERT INTO audit_auditrecord (id, uuid, type_id, level, message, params, changes, stack_trace,
    fingerprint, user_id, session_id, created_at, client_time, source, request_id)
SELECT r.id,
       gen_random_uuid(),
       CASE WHEN r.err THEN %(error_type)s ELSE (%(type_ids)s::bigint[])[r.slot] END,
       CASE WHEN r.err THEN 'error' ELSE (%(levels)s::text[])[r.slot] END,
       CASE WHEN r.err
            THEN (%(classes)s::text[])[1 + r.fp %% 5] || ': cannot read properties of '
                 || 'undefined (reading ''column' || r.fp || ''')'
            ELSE initcap((%(names)s::text[])[r.slot]) || ': grid of sales by region, '
                 || (r.id %% 997) || ' rows rendered in ' || (r.id %% 89) || ' ms'
       END,
       jsonb_build_object('viewer', (ARRAY['Grid', 'Scatter plot', 'Histogram', 'Bar chart'])
                              [1 + (r.id %% 4)::int],
                          'rows', r.id %% 100000, 'ms', r.id %% 2500,
                          'project', 'Sales ' || (r.id %% 40)),
       NULL,
       CASE WHEN r.err
            THEN (%(classes)s::text[])[1 + r.fp %% 5] || ': cannot read properties of undefined'
                 || E'\\n    at GridView.renderRows' || r.fp
                 || ' (https://platform.example.com/static/js/grid.8f3a2c1d.js:1:' || r.id %% 9999
                 || E')\\n    at ViewerHost.render (https://platform.example.com/static/js/'
                 || 'viewers.8f3a2c1d.js:1:20417)'
                 || E'\\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)'
            ELSE ''
       END,
       CASE WHEN r.err THEN (%(fingerprints)s::text[])[1 + r.fp] ELSE '' END,
       r.user_id, r.session_id, r.t, r.t - (r.id %% 900) * interval '1 millisecond', 'client', ''
FROM (
    SELECT x.*, bench_u(x.id, 11) < %(error_share)s AS err,
           1 + floor(bench_u(x.id, 13) * %(slots)s)::int AS slot,
           floor(%(nfp)s * bench_u(x.id, 12) ^ 2)::int AS fp
    FROM (
        SELECT %(base)s + row_number() OVER (ORDER BY t, session_id, k) AS id, y.*
        FROM (
            SELECT s.id AS session_id, s.user_id, k,
                   s.start_at + (s.end_at - s.start_at) * bench_u(s.id * 1000003 + k, 3) AS t
            FROM bench_sessions s, generate_series(1, s.n) k
            WHERE s.day BETWEEN %(day_lo)s AND %(day_hi)s AND s.n > 0
        ) y
    ) x
) r
"""

# A group for 30 % of the records that are not errors (a few groups much more often than
# most), and for 5 % of those also a user as audience.
FILL_LINKS = """
INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name, created_at,
    type_id, user_id)
SELECT r.id, %(group_ct)s, g.object_id, '', g.name, r.created_at, r.type_id, r.user_id
FROM audit_auditrecord r
JOIN bench_groups g ON g.idx = floor(%(ngroups)s * bench_u(r.id, 22) ^ 2)::int
WHERE r.id BETWEEN %(lo)s AND %(hi)s AND r.fingerprint = '' AND bench_u(r.id, 21) < %(share)s
UNION ALL
SELECT r.id, %(user_ct)s, u.user_id::text, 'audience',
       %(prefix)s || lpad((u.idx + 1)::text, 4, '0'), r.created_at, r.type_id, r.user_id
FROM audit_auditrecord r
JOIN bench_users u ON u.idx = floor(%(nusers)s * bench_u(r.id, 24))::int
WHERE r.id BETWEEN %(lo)s AND %(hi)s AND r.fingerprint = ''
  AND bench_u(r.id, 21) < %(share)s * %(user_share)s
"""

# Records per session for a stage: in proportion to length x intensity, exactly N in all.
SPLIT = """
UPDATE bench_sessions s SET n = c.n FROM (
    SELECT id, floor(%(n)s * cum / total) - floor(%(n)s * (cum - w) / total) AS n
    FROM (SELECT id, w, sum(w) OVER (ORDER BY id) AS cum, sum(w) OVER () AS total
          FROM (SELECT id, (intensity * extract(epoch FROM end_at - start_at))::numeric AS w
                FROM bench_sessions) a) b
) c WHERE c.id = s.id
"""


@contextmanager
def triggers_disabled() -> Iterator[None]:
    for table, trigger in TRIGGERS:
        sql(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        for table, trigger in TRIGGERS:
            sql(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def fill(records: int, found: Kinds) -> tuple[float, int]:
    """Empty the records and fill ``records`` of them (triggers off); seconds, links."""
    from django.db import connection, transaction

    sql("TRUNCATE audit_entitylink, audit_auditrecord RESTART IDENTITY CASCADE")
    sql(f"TRUNCATE {', '.join(ANALYSIS_TABLES)}")
    sql(SPLIT, {"n": records})
    per_day = sql("SELECT day, sum(n)::bigint FROM bench_sessions GROUP BY day ORDER BY day")
    chunks: list[tuple[int, int, int]] = []  # (first day, last day, records)
    for day, count in per_day:
        if chunks and chunks[-1][2] + count <= CHUNK_RECORDS:
            first, _, total = chunks[-1]
            chunks[-1] = (first, day, total + count)
        else:
            chunks.append((day, day, int(count)))
    params: dict[str, Any] = {
        "error_type": found.error_type,
        "type_ids": found.type_ids,
        "levels": found.levels,
        "names": found.names,
        "classes": ERROR_CLASSES,
        "fingerprints": found.fingerprints,
        "error_share": ERROR_SHARE,
        "slots": TYPE_SLOTS,
        "nfp": FINGERPRINTS,
    }
    link_params: dict[str, Any] = {
        "group_ct": found.group_ct,
        "user_ct": found.user_ct,
        "ngroups": GROUPS,
        "nusers": USERS,
        "share": LINK_SHARE,
        "user_share": USER_LINK_SHARE,
        "prefix": USER_PREFIX,
    }
    began = time.perf_counter()
    base = 0
    links = 0
    with triggers_disabled():
        for first, last, count in chunks:
            step = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '256MB'")
                cursor.execute(
                    FILL_RECORDS, {**params, "base": base, "day_lo": first, "day_hi": last}
                )
                if cursor.rowcount != count:
                    raise SystemExit(f"days {first}-{last}: {cursor.rowcount} records, not {count}")
                cursor.execute(FILL_LINKS, {**link_params, "lo": base + 1, "hi": base + count})
                links += cursor.rowcount
            base += count
            seconds = time.perf_counter() - step
            print(
                f"  records {base - count + 1:>10,}..{base:<10,} days {first:>2}-{last:<2} "
                f"{seconds:6.1f} s ({count / max(seconds, 1e-9):>9,.0f}/s)  "
                f"{base * 100 // records:>3} %",
                flush=True,
            )
    sql("SELECT setval(pg_get_serial_sequence('audit_auditrecord', 'id'), %s)", [max(base, 1)])
    return time.perf_counter() - began, links


def vacuum() -> float:
    began = time.perf_counter()
    for table in (*AUDIT_TABLES, "auth_user", *ANALYSIS_TABLES, "analysis_rollupstate"):
        sql(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - began


def describe_fill(records: int) -> list[str]:
    """What the fill made, from the rollups (cheap) and the records' own counts."""
    weekday, weekend = sql(
        "SELECT avg(n) FILTER (WHERE dow < 6), avg(n) FILTER (WHERE dow >= 6) FROM ("
        "SELECT day, extract(isodow FROM day) AS dow, sum(events) AS n FROM analysis_userday "
        "GROUP BY day) d"
    )[0]
    errors, fingerprints = sql(
        "SELECT coalesce(sum(events), 0), count(*) FROM analysis_errorgroup"
    )[0]
    rows = {
        table: int(one(f"SELECT count(*) FROM {table}"))
        for table in (
            "analysis_typehour",
            "analysis_userday",
            "analysis_usersday",
            "analysis_usertypeday",
            "analysis_sessionday",
            "analysis_errorday",
            "analysis_errorweek",
            "analysis_entityday",
        )
    }
    users = one("SELECT count(*) FROM analysis_userfirstseen")
    types = one("SELECT count(DISTINCT type_id) FROM analysis_typehour")
    return [
        f"records per weekday {float(weekday or 0):,.0f}, per weekend day "
        f"{float(weekend or 0):,.0f}; {users:,} users seen, {types} types, "
        f"{rows['analysis_sessionday']:,} session-days",
        f"errors {int(errors):,} ({int(errors) * 100 / max(records, 1):.2f} %) in "
        f"{fingerprints} fingerprints",
        "rollup rows: "
        + ", ".join(f"{t.removeprefix('analysis_')} {n:,}" for t, n in rows.items()),
    ]


# --------------------------------------------------------------------------------------
# Measuring over HTTP
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    path: str
    session: bool = False  # the page: session cookie; else the API token


def cases(today: date, fingerprint: str) -> list[Case]:
    until = today + timedelta(days=1)

    def period(days: int) -> str:
        return f"since={until - timedelta(days=days)}&until={until}"

    usage = "/api/audit/analysis/usage/"
    errors = "/api/audit/analysis/errors/"
    return [
        Case("noop", "baseline: GET /api/audit/config/", "/api/audit/config/"),
        Case("usage7", "usage, 7 days by day", f"{usage}?{period(7)}&bucket=day"),
        Case("usage30", "usage, 30 days by day", f"{usage}?{period(30)}&bucket=day"),
        Case("usage90", "usage, 90 days by day", f"{usage}?{period(90)}&bucket=day"),
        Case("usage90w", "usage, 90 days by week", f"{usage}?{period(90)}&bucket=week"),
        Case("errors7", "errors, 7 days", f"{errors}?{period(7)}"),
        Case("errors30", "errors, 30 days", f"{errors}?{period(30)}"),
        Case("errors90", "errors, 90 days", f"{errors}?{period(90)}"),
        Case("error30", "one error's detail, 30 days", f"{errors}{fingerprint}/?{period(30)}"),
        Case("overview30", "overview page /analysis/, 30 days", f"/analysis/?{period(30)}", True),
    ]


class KeepAlive:
    """One HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, port: int, staff: Staff) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = {"Authorization": f"Token {staff.token}"}
        self.cookie = {"Cookie": f"sessionid={staff.session_key}"}
        self.reopened = 0

    def request(
        self, method: str, path: str, *, session: bool = False, body: bytes | None = None
    ) -> tuple[int, bytes, float]:
        headers = dict(self.cookie if session else self.token)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            began = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.reopened += 1
                if attempt:
                    raise
                continue
            elapsed = (time.perf_counter() - began) * 1000
            if response.will_close:
                self.conn.close()
                self.reopened += 1
            return response.status, data, elapsed
        raise AssertionError("unreachable")

    def get(self, case: Case) -> float:
        status, data, elapsed = self.request("GET", case.path, session=case.session)
        if status != 200:
            raise SystemExit(f"GET {case.path}: HTTP {status}: {data[:400]!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()


@dataclass
class Timing:
    case: Case
    times: list[float] = field(default_factory=list)
    queries: float = 0.0  # in-process: statements per answer
    sql_ms: float = 0.0  # in-process: their time (median)
    total_ms: float = 0.0  # in-process: the whole request (median)
    slowest: tuple[float, str, Any] = (0.0, "", None)  # (ms, sql, params) of one run

    @property
    def p50(self) -> float:
        return percentile(self.times, 0.5)

    @property
    def p95(self) -> float:
        return percentile(self.times, 0.95)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def check(port: int, staff: Staff, found: list[Case], records: int) -> None:
    """The 90-day usage answer counts every record filled (all are in the period)."""
    case = next(case for case in found if case.key == "usage90")
    client = KeepAlive(port, staff)
    status, data, _ = client.request("GET", case.path)
    client.close()
    answer = json.loads(data) if status == 200 else {}
    counted = answer.get("totals", {}).get("events")
    if counted != records:
        raise SystemExit(f"the 90-day usage answer counts {counted} events, not {records:,}")
    totals = answer["totals"]
    print(
        f"  90-day answer: {totals['events']:,} events, {totals['users']:,} users, "
        f"{totals['sessions']:,} sessions (checked against the fill)"
    )


def measure_http(
    port: int, staff: Staff, found: list[Case], requests: int, warmup: int, seed: int
) -> dict[str, Timing]:
    client = KeepAlive(port, staff)
    timings = {case.key: Timing(case) for case in found}
    rng = random.Random(seed)
    try:
        for round_ in range(warmup + requests):
            order = list(found)
            rng.shuffle(order)
            for case in order:
                elapsed = client.get(case)
                if round_ >= warmup:
                    timings[case.key].times.append(elapsed)
    finally:
        client.close()
    if client.reopened:
        print(f"  (the client reopened its connection {client.reopened} times)")
    return timings


def breakdown(staff: Staff, timings: dict[str, Timing], runs: int) -> None:
    """Each answer ``runs`` times in-process (Django's test client, whole stack): the
    median request time, the median SQL time and the number of statements."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Token {staff.token}")
    page = Client()
    page.cookies[settings.SESSION_COOKIE_NAME] = staff.session_key
    for timing in timings.values():
        client = page if timing.case.session else api
        client.get(timing.case.path)  # warm
        totals, sqls, counts = [], [], []
        slowest: tuple[float, str, Any] = (0.0, "", None)
        for _ in range(runs):
            timer = SqlTimer()
            began = time.perf_counter()
            with connection.execute_wrapper(timer):
                response = client.get(timing.case.path)
            totals.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"in-process GET {timing.case.path}: {response.status_code}")
            sqls.append(timer.seconds * 1000)
            counts.append(timer.count)
            slowest = max(slowest, timer.slowest, key=lambda item: item[0])
        timing.total_ms = statistics.median(totals)
        timing.sql_ms = statistics.median(sqls)
        timing.queries = statistics.median(counts)
        timing.slowest = slowest


def top_fingerprint() -> str:
    return str(one("SELECT fingerprint FROM analysis_errorgroup ORDER BY events DESC LIMIT 1"))


def print_stage(records: int, timings: dict[str, Timing], requests: int) -> None:
    noop = timings["noop"]
    print(
        f"\n{records:,} records: {requests} timed requests per answer over HTTP (keep-alive); "
        "'x base' is p95 over the baseline's p95; in-process: statements, their time and "
        "the whole request (medians)"
    )
    print(
        f"  {'answer':<36}{'p50 ms':>8}{'p95 ms':>8}{'x base':>8}"
        f"{'stmts':>7}{'sql ms':>8}{'req ms':>8}"
    )
    for timing in timings.values():
        print(
            f"  {timing.case.label:<36}{timing.p50:>8.1f}{timing.p95:>8.1f}"
            f"{timing.p95 / noop.p95:>8.2f}{timing.queries:>7.0f}{timing.sql_ms:>8.1f}"
            f"{timing.total_ms:>8.1f}"
        )


def profile(staff: Staff, case: Case, runs: int = 3, top: int = 10) -> str:
    """cProfile of ``runs`` in-process requests: the project's functions (``analysis/``,
    ``audit/``) with the most cumulative time, so that a miss names where time goes."""
    import cProfile
    import io
    import pstats

    from django.conf import settings
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {staff.token}")
    if case.session:
        client.cookies[settings.SESSION_COOKIE_NAME] = staff.session_key
    client.get(case.path)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        client.get(case.path)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(re.escape(str(ROOT)) + "/(analysis|audit)/", top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    body = [line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip()]
    return f"cProfile of {runs} requests in-process (cumulative s over the {runs}):\n" + "\n".join(
        "  " + line for line in body
    )


def explain(statement: str, params: Any) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def final_report(results: dict[int, dict[str, Timing]]) -> list[str]:
    """The ratio table and the overview's target; returns the keys that missed."""
    stages = list(results)
    first, last = stages[0], stages[-1]
    print(f"\np95 per answer and stage (ms), and p95 at {last:,} / p95 at {first:,}")
    header = "".join(f"{stage:>13,}" for stage in stages)
    print(f"  {'answer':<36}{header}{'ratio':>8}  target <= {TARGET_RATIO:.0f}x")
    missed: list[str] = []
    for key, timing in results[first].items():
        row = "".join(f"{results[stage][key].p95:>13.1f}" for stage in stages)
        ratio = results[last][key].p95 / timing.p95
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        if key == "noop":
            verdict = "(baseline)"
        elif ratio > TARGET_RATIO:
            missed.append(key)
        print(f"  {timing.case.label:<36}{row}{ratio:>8.2f}  {verdict}")
    overview = results[last]["overview30"].p95
    verdict = "met" if overview < TARGET_OVERVIEW_MS else "MISSED"
    if overview >= TARGET_OVERVIEW_MS and "overview30" not in missed:
        missed.append("overview30")
    print(
        f"\n30-day overview page at {last:,} records: p95 {overview:.1f} ms, target < "
        f"{TARGET_OVERVIEW_MS:.0f} ms: {verdict}"
    )
    return missed


# --------------------------------------------------------------------------------------
# Freshness and ingest
# --------------------------------------------------------------------------------------


def freshness(port: int, staff: Staff, today: date) -> tuple[float, float, int]:
    """Post one event, poll the 7-day usage answer until it counts it: seconds from the
    202 to the first answer that counts it, from sending the event, and the polls."""
    client = KeepAlive(port, staff)
    until = today + timedelta(days=1)
    path = f"/api/audit/analysis/usage/?since={until - timedelta(days=7)}&until={until}"

    def counted() -> int:
        status, data, _ = client.request("GET", path)
        if status != 200:
            raise SystemExit(f"GET {path}: HTTP {status}: {data[:300]!r}")
        return int(json.loads(data)["totals"]["events"])

    before = counted()
    event = {
        "id": str(uuid.uuid4()),
        "type": "log",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": "Freshness probe of bench/analysis.py",
        "params": {"probe": True},
    }
    sent = time.perf_counter()
    status, data, _ = client.request("POST", ingest.INGEST_PATH, body=json.dumps([event]).encode())
    stored = time.perf_counter()
    if status != 202 or len(json.loads(data)["accepted"]) != 1:
        raise SystemExit(f"POST {ingest.INGEST_PATH}: HTTP {status}: {data[:300]!r}")
    polls = 0
    while True:
        polls += 1
        if counted() >= before + 1:
            break
        if time.perf_counter() - stored > 60:
            raise SystemExit("freshness: the event was not counted within 60 s")
        time.sleep(0.05)
    done = time.perf_counter()
    client.close()
    return done - stored, done - sent, polls


def set_triggers(enabled: bool) -> None:
    action = "ENABLE" if enabled else "DISABLE"
    for table, trigger in TRIGGERS:
        sql(f"ALTER TABLE {table} {action} TRIGGER {trigger}")


def ingest_ratio(url: str, env: dict[str, str], events: int, rounds: int, seed: int) -> None:
    """HTTP ingest with the triggers on and off, alternating (on first in odd rounds);
    bench/ingest.py's events, batches, server (sync:3) and client process."""
    from django.db import connections

    fixture = ingest.prepare_fixture()
    connections.close_all()
    start = datetime.now(UTC) - timedelta(days=1)
    made = ingest.generate_events(
        events, seed=seed, user_id=fixture.user_id, group_id=fixture.group_id, start=start
    )
    batches = ingest.encode_batches(made, 500)
    sizes = [len(made[i : i + 500]) for i in range(0, len(made), 500)]
    links = sum(len(e.get("entities", ())) for e in made)
    config = ingest.ServerConfig.parse(ingest.DEFAULT_SERVER)
    warm_count = 500 * 4 * config.workers * config.threads
    warm = ingest.generate_events(
        warm_count, seed=seed + 1, user_id=fixture.user_id, group_id=fixture.group_id, start=start
    )
    warmup = ingest.encode_batches(warm, 500)
    warmup_sizes = [len(warm[i : i + 500]) for i in range(0, warm_count, 500)]
    server_env = ingest.server_environment(url)
    rates: dict[bool, list[float]] = {True: [], False: []}
    pairs: list[float] = []
    load_before = os.getloadavg()[0]
    print(
        f"\ningest: {events:,} events per run ({len(batches)} batches of 500, {links:,} links), "
        f"{config.label}, {ingest.default_connections(config)} client connections, "
        f"{rounds} rounds of triggers on/off"
    )
    try:
        for number in range(rounds):
            order = (True, False) if number % 2 == 0 else (False, True)
            pair: dict[bool, float] = {}
            for enabled in order:
                set_triggers(enabled)
                sql("TRUNCATE analysis_delta, analysis_entitydelta")
                connections.close_all()
                run = ingest.run_http(
                    config,
                    env=server_env,
                    url=url,
                    fixture=fixture,
                    batches=batches,
                    sizes=sizes,
                    warmup=warmup,
                    warmup_sizes=warmup_sizes,
                    connections=ingest.default_connections(config),
                    expected_links=links,
                )
                deltas = one("SELECT count(*) FROM analysis_delta") if enabled else 0
                rates[enabled].append(run.events_per_second)
                pair[enabled] = run.events_per_second
                print(
                    f"  round {number + 1}, triggers {'on ' if enabled else 'off'}: "
                    f"{run.seconds:6.2f} s {run.events_per_second:>8,.0f} events/s, p50 "
                    f"{run.percentile(0.5) * 1000:.0f} ms p95 {run.percentile(0.95) * 1000:.0f} "
                    f"ms per batch" + (f"; {deltas:,} delta rows written" if enabled else ""),
                    flush=True,
                )
            pairs.append(pair[True] / pair[False])
    finally:
        set_triggers(True)
    on, off = statistics.mean(rates[True]), statistics.mean(rates[False])
    ratio = on / off
    verdict = "met" if ratio >= TARGET_INGEST else "MISSED"
    print(
        f"  triggers on  {on:>8,.0f} events/s (mean of {len(rates[True])})\n"
        f"  triggers off {off:>8,.0f} events/s (mean of {len(rates[False])})\n"
        f"  ratio on/off {ratio:.3f} (per round: {', '.join(f'{p:.3f}' for p in pairs)}; "
        f"median {statistics.median(pairs):.3f}); target >= {TARGET_INGEST}: {verdict}\n"
        f"  load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stages",
        type=lambda text: [int(part.replace("_", "")) for part in text.split(",") if part],
        help="record counts, comma-separated, ascending (default 100000,1000000,10000000)",
    )
    parser.add_argument("--quick", action="store_true", help="10k/50k/100k, few requests")
    parser.add_argument("--requests", type=int, help="timed requests per answer (default 100)")
    parser.add_argument("--ingest", action="store_true", help="also the ingest ratio, at the end")
    parser.add_argument("--only-ingest", action="store_true", help="only the ingest ratio")
    parser.add_argument("--ingest-events", type=int, help="events per ingest run (default 50000)")
    parser.add_argument("--ingest-rounds", type=int, help="on/off pairs (default 4)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    args.stages = args.stages or list(QUICK_STAGES if args.quick else STAGES)
    if args.stages != sorted(args.stages) or min(args.stages) < 1000:
        parser.error("--stages: ascending record counts of at least 1000")
    args.requests = args.requests or (15 if args.quick else 100)
    args.ingest_events = args.ingest_events or (5_000 if args.quick else 50_000)
    args.ingest_rounds = args.ingest_rounds or (2 if args.quick else 4)
    return args


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/analysis.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    began = time.perf_counter()
    env = setup_django(url)
    print(f"load average {load()} on {os.cpu_count()} cores at the start", flush=True)
    if args.only_ingest:
        truncate_all()
        ingest_ratio(url, env, args.ingest_events, args.ingest_rounds, args.seed)
        return 0

    from analysis import rollups

    staff = prepare_people()
    truncate_all()
    now = datetime.now(UTC)
    today = now.date()
    sessions = prepare_sessions(today, now)
    found = kinds()
    print(
        f"{USERS:,} users, {GROUPS} groups, {sessions:,} sessions over {DAYS} days ending "
        f"{today} (UTC); {len(POPULAR_TYPES) + 1} event types, {ERROR_SHARE:.0%} errors in "
        f"{FINGERPRINTS} fingerprints",
        flush=True,
    )
    results: dict[int, dict[str, Timing]] = {}
    port = 0
    for stage in args.stages:
        print(f"\n== {stage:,} records ==", flush=True)
        seconds, links = fill(stage, found)
        print(f"filled {stage:,} records and {links:,} links in {seconds:.1f} s", flush=True)
        started = time.perf_counter()
        counted = rollups.rebuild()
        rebuilt = time.perf_counter() - started
        print(
            f"rollups.rebuild(): {counted:,} records in {rebuilt:.1f} s "
            f"({counted / rebuilt:,.0f} records/s; the 'after a restore' figure)",
            flush=True,
        )
        print(f"VACUUM (ANALYZE) in {vacuum():.1f} s")
        for line in describe_fill(stage):
            print("  " + line)
        chosen = cases(today, top_fingerprint())
        config = ingest.ServerConfig("gthread", 1, 4)
        load_before = load()
        with ingest.Gunicorn(config, env) as server:
            port = server.port
            check(port, staff, chosen, stage)
            timings = measure_http(port, staff, chosen, args.requests, 5, args.seed)
            breakdown(staff, timings, 3 if args.quick else 7)
            if stage == args.stages[-1]:
                fresh = freshness(port, staff, today)
        results[stage] = timings
        print_stage(stage, timings, args.requests)
        print(f"  load average {load_before} before, {load()} after")

    missed = final_report(results)
    for key in missed:
        timing = results[args.stages[-1]][key]
        took, statement, params = timing.slowest
        print(
            f"\n{timing.case.label}: slowest statement in-process ({took:.1f} ms of "
            f"{timing.total_ms:.1f} ms; {timing.queries:.0f} statements, {timing.sql_ms:.1f} ms "
            "SQL), EXPLAIN (ANALYZE, BUFFERS):"
        )
        print(f"{statement}\n  params {params}\n{explain(statement, params)}")
        print(profile(staff, timing.case))
    after_store, after_send, polls = fresh
    verdict = "met" if after_store <= TARGET_FRESH_S else "MISSED"
    print(
        f"\nfreshness: one event posted, counted by the usage answer {after_store:.3f} s "
        f"after its 202 ({after_send:.3f} s after it was sent; {polls} poll(s)); target <= "
        f"{TARGET_FRESH_S:.0f} s: {verdict}"
    )
    if args.ingest:
        ingest_ratio(url, env, args.ingest_events, args.ingest_rounds, args.seed)
    print(f"\nload average {load()} on {os.cpu_count()} cores at the end")
    print(f"total run time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
