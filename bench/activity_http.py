"""Entity activity over real HTTP at 10,000,000 records, against a no-op endpoint.

Why this exists: ``bench/activity.py`` shows that an entity's history costs the same at
page 1 and page 101, in-process, up to 1,000,000 records. What a user waits for is the
answer of the real server: gunicorn, keep-alive, token or session authentication, the
whole middleware stack, on a trail ten times larger. The target (the issue's): at
10,000,000 records, the p95 of the panel API and of the HTML fragment at most 1.5x the
p95 of an authenticated no-op DRF endpoint measured in the same run, for the first page
and page 1,000 alike, filters included: a type or user filter that matches few records
must not read thousands. A ratio to a no-op measured alongside says what the activity
itself adds, whatever the machine and whatever else runs on it.

What one run does, on ``bench/activity.py``'s database (``audit_bench_activity``,
created if absent, migrated; its audit tables are truncated, so never point it at
records that matter):

1. fills ``--records`` records (default 10,000,000) with ``bench/activity.py``'s
   ``prepare`` and ``fill`` (server-side ``INSERT ... SELECT FROM generate_series``;
   10,001 groups: every 10th record is about the hot one, the others about one of
   10,000 normal groups, every third also links a normal group as its "project"), in
   steps with progress and rate, the analysis triggers off (nothing here reads the
   rollups, and they would fold millions of rows); then VACUUM (ANALYZE). With
   ``--reuse`` an earlier fill of the same size is kept if it is intact (as many
   records as asked for, ids 1..N, the hot entity's links, ``bench_entities``): a 10M
   fill takes minutes;
2. gives ``bench/activity.py``'s staff user a DRF token and a login session (neither
   recorded: made the way tests make them), and creates a user who never acts, for a
   user filter that matches nothing;
3. finds, in-process, the cursor of the hot entity's page 1,000 by following ``next``
   999 times (API, 50 a page) and the "load more" link 999 times (HTML fragment, 25 a
   page), and checks each against the database (page 1,000 starts right below the
   49,950th / 24,975th newest record). A smaller fill has fewer pages: the deepest full
   page with a next one is used and named;
4. starts ``gunicorn auditproj.wsgi`` with ``DJANGO_SETTINGS_MODULE=bench.noop_settings``
   (the project's URLs plus ``/bench/noop/``: an ``APIView`` with the default
   authentication and ``IsAuthenticated`` answering ``{"ok": true}``), gthread 1 worker
   x 4 threads, DEBUG=0, and one keep-alive client in this process. It checks every
   case's answer first (status 200; the API's 50 results, all about the entity, below
   the cursor, of the filtered type; the fragment's 25 entries, or none and a way
   further back), then times ``--requests`` GETs of each case, in rounds that take
   every case once in a shuffled order after warm-up rounds, so that the machine's
   noise falls on all cases alike:
   * baselines: ``GET /bench/noop/`` with the token, and with the session cookie;
   * panel API (``/api/audit/entities/group/ID/activity/``), token: hot entity first
     page and page 1,000; a random normal entity's first page (another one each
     request); the hot entity filtered by a type the fill never writes
     (``dialog-ok``), by a type a tenth of the table has but none of the hot
     entity's records (``error``), and by a user who never acts; a random normal
     entity filtered by ``error`` (a few of its records match);
   * panel API, session: hot entity first page and page 1,000;
   * HTML fragment (``/activity/group/ID/``), session: hot entity first page, page
     1,000 (its own ``before`` cursor), filtered by ``dialog-ok`` and by the idle user;
5. prints p50, p95 and p95 over the baseline of the same authentication per case,
   ``met`` or ``MISSED`` against 1.5x, the load average before and after and the run
   time; and for every case that missed, where its time goes: the same request
   in-process (its statements and their time) and EXPLAIN (ANALYZE, BUFFERS) of its
   page's ids and records, and of its slowest statement when that is another one. The
   exit status is 0 whether or not the target is met, 1 when an answer is wrong.

Run from the project root::

    .venv/bin/python bench/activity_http.py                 # 10,000,000 records, 200 requests
    .venv/bin/python bench/activity_http.py --reuse         # the same, keeping an intact fill
    .venv/bin/python bench/activity_http.py --quick         # 200,000 records, 30 requests
    .venv/bin/python bench/activity_http.py --records 1000000 --requests 100

(``DATABASE_URL`` may name another PostgreSQL database; the default is
``postgres://postgres@127.0.0.1:5432/audit_bench_activity``.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory comes first on the path, and bench/activity.py
# would shadow the app of the same name (and bench/analysis.py the analysis app).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench import activity, analysis, ingest  # noqa: E402  (the project root comes first)
from bench.sql_timer import SqlTimer  # noqa: E402

SETTINGS = "bench.noop_settings"
NOOP_PATH = "/bench/noop/"
API_PATH = "/api/audit/entities/group/{}/activity/"
PANEL_PATH = "/activity/group/{}/"
RECORDS = 10_000_000
QUICK_RECORDS = 200_000
REQUESTS = 200
QUICK_REQUESTS = 30
WARMUP_ROUNDS = 10
QUICK_WARMUP_ROUNDS = 3
FILL_STEP = 1_000_000  # records per progress line (bench/activity.py commits 250,000 at a time)
DEEP_PAGE = 1_000
TARGET_RATIO = 1.5
ABSENT_TYPE = "dialog-ok"  # a built-in type the fill never writes
RARE_TYPE = "error"  # every 10th record outside the hot entity's, none of the hot one's
IDLE_NAME = "bench-activity-idle"  # exists, never acts
ENTRY = re.compile(rb'<li class="act-entry[^"]*" data-record="(\d+)"')
MORE_LINK = re.compile(rb'class="act-more-link" href="[^"]*?before=(\d+)"')

# What is wrong with an answer (path, body), or None when it is what it should be.
Check = Callable[[str, bytes], str | None]


# --------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillState:
    """What the records table holds now, to tell whether an earlier fill can be kept."""

    records: int
    max_id: int
    hot_links: int
    entities: int | None  # rows of bench_entities; None when the table is absent


def fill_state() -> FillState:
    """Counts that an intact fill of N records has: N records with ids 1..N, N / 10
    links to the hot entity, 10,000 rows in ``bench_entities`` (the fill's own table)."""
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    counted = analysis.sql("SELECT count(*), coalesce(max(id), 0) FROM audit_auditrecord")
    records, max_id = counted[0]
    hot = Group.objects.filter(name=activity.HOT_NAME).values_list("pk", flat=True).first()
    hot_links = 0
    if hot is not None:
        hot_links = analysis.one(
            "SELECT count(*) FROM audit_entitylink WHERE content_type_id = %s AND object_id = %s",
            [ContentType.objects.get_for_model(Group).pk, str(hot)],
        )
    entities = None
    if analysis.one("SELECT to_regclass('bench_entities') IS NOT NULL"):
        entities = analysis.one("SELECT count(*) FROM bench_entities")
    return FillState(int(records), int(max_id), int(hot_links), entities)


def not_reusable(state: FillState, records: int) -> str | None:
    """Why the table is not an intact fill of ``records`` records, or None."""
    if state.entities != activity.NORMAL_ENTITIES:
        return "no bench_entities table of 10,000 groups (not filled by the bench)"
    if (state.records, state.max_id) != (records, records):
        return f"it holds {state.records:,} records up to id {state.max_id:,}, not {records:,}"
    hot = records // activity.HOT_EVERY
    if state.hot_links != hot:
        return f"the hot entity has {state.hot_links:,} links, not {hot:,}"
    return None


def fill_in_steps(fixture: activity.Fixture, records: int) -> None:
    """bench/activity.py's fill, a step at a time with progress, the analysis triggers
    off; then VACUUM (ANALYZE), once."""
    began = time.perf_counter()
    step = min(FILL_STEP, max(1, records // 4))
    with analysis.triggers_disabled():
        for start in range(1, records + 1, step):
            stop = min(records, start + step - 1)
            seconds = activity.fill(fixture, start, stop, vacuum=False)
            print(
                f"  records {start:>10,}..{stop:<10,} {seconds:6.1f} s "
                f"({(stop - start + 1) / max(seconds, 1e-9):>9,.0f}/s)  "
                f"{stop * 100 // records:>3} %",
                flush=True,
            )
    filled = time.perf_counter() - began
    print(f"filled {records:,} records in {filled:.1f} s ({records / filled:,.0f}/s)", flush=True)
    began = time.perf_counter()
    activity.vacuum_tables()
    print(f"VACUUM (ANALYZE) in {time.perf_counter() - began:.1f} s", flush=True)


def prepare_people(fixture: activity.Fixture) -> analysis.Staff:
    """A DRF token and a login session for bench/activity.py's staff user, and the idle
    user. Neither the token nor the session is recorded (``credentials_unrecorded``,
    and a session saved directly): a record would break the fill's ids 1..N."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from audit.receivers import credentials_unrecorded

    staff = User.objects.get(pk=fixture.staff_id)
    with credentials_unrecorded():
        token, _ = Token.objects.get_or_create(user=staff)
    session = SessionStore()
    session[SESSION_KEY] = str(staff.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    session.set_expiry(24 * 3600)
    session.save()
    User.objects.get_or_create(username=IDLE_NAME)
    return analysis.Staff(staff.pk, token.key, session.session_key or "")


# --------------------------------------------------------------------------------------
# Deep pages: found by following the links, checked against the database
# --------------------------------------------------------------------------------------


def in_process_client(staff: analysis.Staff, *, session: bool) -> Any:
    """Django's test client authenticated as the server's client is (token or cookie)."""
    from django.conf import settings
    from django.test import Client

    if not session:
        return Client(HTTP_AUTHORIZATION=f"Token {staff.token}")
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = staff.session_key
    return client


def deepest_page(hot_records: int, page_size: int) -> int:
    """Page 1,000, or on a smaller fill the last full page that still has a next one."""
    page = min(DEEP_PAGE, hot_records // page_size - 1)
    if page < 2:
        raise SystemExit(f"the hot entity has {hot_records:,} records: too few for a deep page")
    return page


def api_cursor(client: Any, fixture: activity.Fixture, page: int) -> int:
    """The ``before`` of the API's page ``page``, by following ``next`` page - 1 times."""
    url = activity.deep_cursor(client, API_PATH.format(fixture.hot_id), page - 1)
    return int(parse_qs(urlparse(url).query)["before"][0])


def panel_cursor(client: Any, fixture: activity.Fixture, page: int) -> int:
    """The ``before`` of the fragment's page ``page``, by following its "load more"
    link page - 1 times (``fragment=items``: the same cursor, without the facets)."""
    base = PANEL_PATH.format(fixture.hot_id)
    cursor = None
    for _ in range(page - 1):
        query = f"?before={cursor}&fragment=items" if cursor else "?fragment=items"
        response = client.get(base + query)
        found = MORE_LINK.search(response.content) if response.status_code == 200 else None
        if found is None:
            raise SystemExit(f"GET {base + query}: {response.status_code}, no 'load more' link")
        cursor = int(found.group(1))
    assert cursor is not None
    return cursor


def expect_cursor(fixture: activity.Fixture, page: int, page_size: int, cursor: int) -> None:
    """Page ``page`` starts right below the ((page - 1) x size)th newest record: the
    links neither skipped nor repeated a record on the way."""
    expected = analysis.one(
        "SELECT record_id FROM audit_entitylink WHERE content_type_id = %s AND object_id = %s "
        "ORDER BY record_id DESC OFFSET %s LIMIT 1",
        [fixture.group_content_type_id, str(fixture.hot_id), (page - 1) * page_size - 1],
    )
    if cursor != expected:
        raise SystemExit(
            f"page {page} of {page_size}: following the links gave cursor {cursor}, the "
            f"database says {expected}"
        )


# --------------------------------------------------------------------------------------
# Cases and their checks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    paths: tuple[str, ...]  # one per round, cycled (a random entity: another each round)
    session: bool  # the login session cookie; else the API token
    check: Check
    baseline: str | None  # key of the no-op of the same authentication; None: a baseline

    @property
    def auth(self) -> str:
        return "session" if self.session else "token"

    @property
    def name(self) -> str:
        return f"{self.label} ({self.auth})"


def _entity_of(path: str) -> str:
    found = re.search(r"/group/(\d+)/", path)
    assert found is not None, path
    return found.group(1)


def noop_check(path: str, body: bytes) -> str | None:
    return None if json.loads(body) == {"ok": True} else f"expected {{'ok': true}}: {body[:200]!r}"


def api_check(*, rows: int | None, below: int | None = None, type_name: str | None = None) -> Check:
    """An API page: ``rows`` results (None: 1 to 50), each about the path's entity, of
    ``type_name`` if given, newest first and below ``below``."""

    def check(path: str, body: bytes) -> str | None:
        results = json.loads(body)["results"]
        if rows is None and not 1 <= len(results) <= activity.PAGE:
            return f"{len(results)} results, expected 1 to {activity.PAGE}"
        if rows is not None and len(results) != rows:
            return f"{len(results)} results, expected {rows}"
        ids = [result["id"] for result in results]
        if ids != sorted(ids, reverse=True) or (below is not None and ids and ids[0] >= below):
            return f"ids not newest first below {below}: {ids[:3]}..."
        entity = _entity_of(path)
        for result in results:
            if not any(e["type"] == "group" and e["id"] == entity for e in result["entities"]):
                return f"record {result['id']} does not link group {entity}"
            if type_name is not None and result["type"] != type_name:
                return f"record {result['id']} is a {result['type']}, not a {type_name}"
        return None

    return check


def panel_check(*, rows: int, below: int | None = None) -> Check:
    """A fragment: ``rows`` entries below ``below``, or none and a way further back
    (a filtered page that found nothing in its window)."""

    def check(path: str, body: bytes) -> str | None:
        if b'class="act-panel"' not in body:
            return "no activity panel in the answer"
        ids = [int(found) for found in ENTRY.findall(body)]
        if len(ids) != rows:
            return f"{len(ids)} entries, expected {rows}"
        if below is not None and ids and max(ids) >= below:
            return f"entries at or above the cursor {below}"
        if not rows and b"act-searching" not in body and b"No matching activity" not in body:
            return "no entries and neither 'search older' nor 'no matching activity'"
        return None

    return check


@dataclass(frozen=True)
class Targets:
    """What the cases ask for: the hot entity, its deep cursors, random entities."""

    hot: int
    api_page: int
    api_cursor: int
    panel_page: int
    panel_cursor: int
    panel_size: int  # entries a fragment page shows
    randoms: tuple[str, ...]  # a normal entity's id per round


def build_cases(targets: Targets) -> list[Case]:
    hot_api = API_PATH.format(targets.hot)
    hot_panel = PANEL_PATH.format(targets.hot)
    deep_api = f"{hot_api}?before={targets.api_cursor}"
    deep_panel = f"{hot_panel}?before={targets.panel_cursor}"
    page, panel_size = activity.PAGE, targets.panel_size
    random_first = tuple(API_PATH.format(oid) for oid in targets.randoms)
    random_rare = tuple(f"{path}?type={RARE_TYPE}" for path in random_first)
    api_deep_label = f"page {targets.api_page:,}"
    panel_deep_label = f"page {targets.panel_page:,}"

    def api(key: str, label: str, paths: tuple[str, ...], check: Check, session: bool) -> Case:
        auth = "noop-session" if session else "noop-token"
        return Case(key, f"API: {label}", paths, session, check, auth)

    def html(key: str, label: str, path: str, check: Check) -> Case:
        return Case(key, f"fragment: {label}", (path,), True, check, "noop-session")

    return [
        Case("noop-token", f"baseline: GET {NOOP_PATH}", (NOOP_PATH,), False, noop_check, None),
        Case("noop-session", f"baseline: GET {NOOP_PATH}", (NOOP_PATH,), True, noop_check, None),
        api("api-first", "hot, first page", (hot_api,), api_check(rows=page), False),
        api(
            "api-deep",
            f"hot, {api_deep_label}",
            (deep_api,),
            api_check(rows=page, below=targets.api_cursor),
            False,
        ),
        api("api-random", "random entity, first page", random_first, api_check(rows=None), False),
        api(
            "api-absent-type",
            f"hot, type={ABSENT_TYPE} (none)",
            (f"{hot_api}?type={ABSENT_TYPE}",),
            api_check(rows=0),
            False,
        ),
        api(
            "api-rare-type",
            f"hot, type={RARE_TYPE} (none of the entity's)",
            (f"{hot_api}?type={RARE_TYPE}",),
            api_check(rows=0),
            False,
        ),
        api(
            "api-random-rare",
            f"random entity, type={RARE_TYPE} (few)",
            random_rare,
            _few(RARE_TYPE),
            False,
        ),
        api(
            "api-idle-user",
            "hot, user= idle (none)",
            (f"{hot_api}?user={IDLE_NAME}",),
            api_check(rows=0),
            False,
        ),
        api("api-first-s", "hot, first page", (hot_api,), api_check(rows=page), True),
        api(
            "api-deep-s",
            f"hot, {api_deep_label}",
            (deep_api,),
            api_check(rows=page, below=targets.api_cursor),
            True,
        ),
        html("html-first", "hot, first page", hot_panel, panel_check(rows=panel_size)),
        html(
            "html-deep",
            f"hot, {panel_deep_label}",
            deep_panel,
            panel_check(rows=panel_size, below=targets.panel_cursor),
        ),
        html(
            "html-absent-type",
            f"hot, type={ABSENT_TYPE} (none)",
            f"{hot_panel}?type={ABSENT_TYPE}",
            panel_check(rows=0),
        ),
        html(
            "html-idle-user",
            "hot, user= idle (none)",
            f"{hot_panel}?user={IDLE_NAME}",
            panel_check(rows=0),
        ),
    ]


def _few(type_name: str) -> Check:
    """Any number of results (a random entity may have none of the type), each of it."""
    page_check = api_check(rows=None, type_name=type_name)

    def check(path: str, body: bytes) -> str | None:
        if not json.loads(body)["results"]:
            return None
        return page_check(path, body)

    return check


def random_entities(rng: random.Random, rounds: int) -> tuple[str, ...]:
    """A normal entity's id per round, picked at random (cold-ish: rarely the same)."""
    ids = [row[0] for row in analysis.sql("SELECT object_id FROM bench_entities ORDER BY idx")]
    return tuple(rng.choice(ids) for _ in range(rounds))


# --------------------------------------------------------------------------------------
# Over HTTP
# --------------------------------------------------------------------------------------


def get(client: analysis.KeepAlive, case: Case, path: str) -> tuple[bytes, float]:
    status, body, elapsed = client.request("GET", path, session=case.session)
    if status != 200:
        raise SystemExit(f"{case.name}: GET {path}: HTTP {status}: {body[:400]!r}")
    return body, elapsed


def check_answers(client: analysis.KeepAlive, cases: list[Case]) -> None:
    """Every case's answer is what it should be (the first five paths of a random one)
    before anything is timed: a fast wrong answer would meet any target."""
    for case in cases:
        for path in dict.fromkeys(case.paths[:5]):
            body, _ = get(client, case, path)
            problem = case.check(path, body)
            if problem:
                raise SystemExit(f"{case.name}: GET {path}: {problem}")
    print(f"checked the answers of {len(cases)} cases", flush=True)


def measure(
    client: analysis.KeepAlive, cases: list[Case], requests: int, warmup: int, seed: int
) -> dict[str, list[float]]:
    """Rounds that take every case once in a shuffled order; the first ``warmup``
    rounds are not kept. Milliseconds per case."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {case.key: [] for case in cases}
    for round_ in range(warmup + requests):
        order = list(cases)
        rng.shuffle(order)
        for case in order:
            _, elapsed = get(client, case, case.paths[round_ % len(case.paths)])
            if round_ >= warmup:
                times[case.key].append(elapsed)
    if client.reopened:
        print(f"  (the client reopened its connection {client.reopened} times)")
    return times


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


@dataclass
class Result:
    case: Case
    p50: float
    p95: float
    ratio: float | None = None  # p95 / the baseline's p95; None for a baseline

    @property
    def met(self) -> bool:
        return self.ratio is None or self.ratio <= TARGET_RATIO


def results(cases: list[Case], times: dict[str, list[float]]) -> list[Result]:
    found = {}
    for case in cases:
        kept = times[case.key]
        found[case.key] = Result(
            case, analysis.percentile(kept, 0.5), analysis.percentile(kept, 0.95)
        )
    for result in found.values():
        if result.case.baseline is not None:
            result.ratio = result.p95 / found[result.case.baseline].p95
    return list(found.values())


def print_table(found: list[Result]) -> None:
    print(f"  {'case':<44}{'auth':<9}{'p50 ms':>8}{'p95 ms':>8}{'x base':>8}  target")
    for result in found:
        ratio = "" if result.ratio is None else f"{result.ratio:.2f}"
        verdict = "" if result.ratio is None else ("met" if result.met else "MISSED")
        print(
            f"  {result.case.label:<44}{result.case.auth:<9}{result.p50:>8.1f}{result.p95:>8.1f}"
            f"{ratio:>8}  {verdict}"
        )


def where_time_goes(
    case: Case, staff: analysis.Staff, explained: dict[tuple[str, str], str], runs: int = 5
) -> str:
    """The case's first request in-process ``runs`` times: the whole request, its
    statements and their time (the last run), EXPLAIN (ANALYZE, BUFFERS) of the page's
    ids (the first statement on the links), of its records (the first on the records)
    and of the slowest statement if that is another one. ``explained`` (statement and
    parameters -> the case that showed its plan) keeps a plan from being printed twice
    (token and session, say)."""
    from django.db import connection

    client = in_process_client(staff, session=case.session)
    path = case.paths[0]
    client.get(path)  # warm: connections, caches
    totals = []
    sent: list[tuple[float, str, Any]] = []
    for _ in range(runs):
        timer = SqlTimer()
        with connection.execute_wrapper(timer):
            began = time.perf_counter()
            client.get(path)
            totals.append((time.perf_counter() - began) * 1000)
        sent = timer.sent  # the last run's
    lines = [
        f"{case.name}, GET {path} in-process: "
        f"{statistics.median(totals):.1f} ms a request (median of {runs}), {len(sent)} "
        f"statements, {sum(ms for ms, _, _ in sent):.1f} ms SQL:"
    ]
    lines += [f"  {ms:7.2f} ms  {_short(sql)}" for ms, sql, _ in sent]
    ids = next((item for item in sent if "audit_entitylink" in item[1]), None)
    page = next((item for item in sent if "audit_auditrecord" in item[1]), None)
    slowest = max(sent, key=lambda item: item[0]) if sent else None
    shown: list[Any] = []
    # On PostgreSQL an exact page reads its ids and its records in one statement.
    ids_title = "page's ids and records" if ids is not None and ids is page else "page's ids"
    for title, item in ((ids_title, ids), ("page's records", page), ("slowest", slowest)):
        if item is None or any(item is done for done in shown):
            continue
        shown.append(item)
        _, sql, params = item
        seen = explained.setdefault((sql, repr(params)), case.name)
        if seen != case.name:
            lines.append(f"\n{title}: the statement and plan shown for {seen} above")
            continue
        lines.append(
            f"\nEXPLAIN (ANALYZE, BUFFERS) of the {title} statement:\n{sql}\n  params {params}"
        )
        lines.append(analysis.explain(sql, params))
    return "\n".join(lines)


def _short(sql: str, width: int = 110) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records",
        type=lambda text: int(text.replace("_", "").replace(",", "")),
        help=f"records to fill (default {RECORDS:,})",
    )
    parser.add_argument(
        "--requests", type=int, help=f"timed requests per case (default {REQUESTS})"
    )
    parser.add_argument("--warmup", type=int, help=f"warm-up rounds (default {WARMUP_ROUNDS})")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_RECORDS:,} records, {QUICK_REQUESTS} requests"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep an intact earlier fill of the same size"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.records = args.records or (QUICK_RECORDS if args.quick else RECORDS)
    args.requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    if args.warmup is None:
        args.warmup = QUICK_WARMUP_ROUNDS if args.quick else WARMUP_ROUNDS
    if args.records < 10_000 or args.requests < 1:
        parser.error("--records at least 10000, --requests at least 1")
    return args


def prepare_records(records: int, reuse: bool) -> activity.Fixture:
    """The fill: kept with ``--reuse`` when intact, made otherwise."""
    state = fill_state()
    why = not_reusable(state, records)
    if reuse:
        if why:
            raise SystemExit(f"--reuse: the table is not an intact fill: {why}; run without it")
        print(f"reusing the fill of {records:,} records (--reuse)", flush=True)
        return activity.prepare(empty=False)
    if why is None:
        print(f"(the table already held this fill of {records:,}: --reuse would keep it)")
    fixture = activity.prepare()
    print(f"filling {records:,} records (hot entity: {records // activity.HOT_EVERY:,})")
    fill_in_steps(fixture, records)
    return fixture


def find_targets(
    fixture: activity.Fixture, staff: analysis.Staff, records: int, rounds: int, seed: int
) -> Targets:
    """Deep cursors (followed, then checked) and the random entities of each round."""
    from activity.selectors import PAGE_SIZE as PANEL_SIZE

    hot_records = records // activity.HOT_EVERY
    began = time.perf_counter()
    api_page = deepest_page(hot_records, activity.PAGE)
    cursor = api_cursor(in_process_client(staff, session=False), fixture, api_page)
    expect_cursor(fixture, api_page, activity.PAGE, cursor)
    panel_page = deepest_page(hot_records, PANEL_SIZE)
    deep_panel = panel_cursor(in_process_client(staff, session=True), fixture, panel_page)
    expect_cursor(fixture, panel_page, PANEL_SIZE, deep_panel)
    print(
        f"API page {api_page:,} (before={cursor}) and fragment page {panel_page:,} "
        f"(before={deep_panel}) found by following the links, checked against the database, "
        f"in {time.perf_counter() - began:.1f} s",
        flush=True,
    )
    randoms = random_entities(random.Random(seed), rounds)
    return Targets(fixture.hot_id, api_page, cursor, panel_page, deep_panel, PANEL_SIZE, randoms)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = os.environ.get("DATABASE_URL") or activity.DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/activity_http.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    began = time.perf_counter()
    env = analysis.setup_django(url, SETTINGS)
    print(f"load average {analysis.load()} on {os.cpu_count()} cores at the start", flush=True)
    fixture = prepare_records(args.records, args.reuse)
    staff = prepare_people(fixture)
    rounds = args.warmup + args.requests
    targets = find_targets(fixture, staff, args.records, rounds, args.seed)
    cases = build_cases(targets)
    config = ingest.ServerConfig("gthread", 1, 4)
    load_before = analysis.load()
    with ingest.Gunicorn(config, env) as server:
        client = analysis.KeepAlive(server.port, staff)
        try:
            check_answers(client, cases)
            times = measure(client, cases, args.requests, args.warmup, args.seed)
        finally:
            client.close()
    found = results(cases, times)
    print(describe_run(args, config, targets.panel_size))
    print_table(found)
    missed = [result for result in found if not result.met]
    timed = sum(result.ratio is not None for result in found)
    verdict = "met by every case" if not missed else f"MISSED by {len(missed)} of {timed}"
    print(f"\ntarget p95 <= {TARGET_RATIO}x the no-op's: {verdict}")
    print(f"load average {load_before} before the server, {analysis.load()} after")
    explained: dict[tuple[str, str], str] = {}
    for result in missed:
        print("\n" + where_time_goes(result.case, staff, explained))
    print(f"\ntotal run time {time.perf_counter() - began:.0f} s")
    return 0


def describe_run(args: argparse.Namespace, config: ingest.ServerConfig, panel_size: int) -> str:
    """The table's heading: what was filled, served and timed, and what 'x base' means."""
    hot = args.records // activity.HOT_EVERY
    return (
        f"\nActivity over HTTP at {args.records:,} records (hot entity {hot:,} = "
        f"{hot // activity.PAGE:,} API pages of {activity.PAGE}, {hot // panel_size:,} fragment "
        f"pages of {panel_size}): {config.label}, keep-alive, DEBUG=0; {args.requests} timed "
        f"requests per case in shuffled rounds after {args.warmup} warm-up rounds. 'x base' is "
        f"p95 over the p95 of the no-op with the same authentication; target <= {TARGET_RATIO}x.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
