"""Change tracking against its peers: what a tracked save costs over a plain one, for
our audit app and for django-pghistory, django-simple-history and django-auditlog, in
one run on one PostgreSQL database.

``bench/tracking.py`` measures ours alone (on against off); this puts the figure next
to what the usual Django libraries cost doing the same job on the same machine at the
same moment, so that "ours costs 1.4x" can be read against "a trigger costs 1.1x".
Five models with the same fields (``bench/peers/models.py``, a catalog entity's
columns): one tracked by nothing (the baseline), one by ``audit.register(...,
track=True)``, one by ``@pghistory.track()``, one by simple-history's
``HistoricalRecords()``, one by ``auditlog.register``. Ours three ways: as it is by
default (the save stages its change, ``audit.staged``: ``ours``), the same with the drain
that stores the records timed (``ours+drain``), and with the record stored in the save's
statement (``AUDIT_DEFERRED_TRACKING = 0``). And two variants that price our prepared
statement (``audit.prepared``): ours with ``AUDIT_PREPARED_STATEMENTS = 0``, and the
plain model saved with Django's own statements prepared. Each tool is given the acting
user its documented way; each timed loop creates N objects and edits each E times,
every save in autocommit as a request makes it. The acting user is set once around a
loop, as a middleware sets it once for a request making many saves, or with
``--context-per-save`` around each save, as for a request per save (pghistory then
writes a context row per save).

A run is many short rounds; in each, every variant runs its loop once, in an order
rotated from round to round so that none always goes first. A variant's time over the
plain loop's time in the same round is its ratio; the report gives each variant's
median ratio with quartiles, saves/s and the extra microseconds a save costs, because a
shared machine swings single rounds by ±20%. Before each round the variants' tables
are vacuumed and analysed (``analyze``): autovacuum is off here, and a plan made for
the empty tables the run began with would scan a whole table for each row a save
writes. After every
loop the rows each tool recorded are counted: one per save, creations and edits apart,
each with the acting user, or the run stops (exit 1). Targets, for each of our ways
(``OURS``): at most 1.10x plain, and cheaper than pghistory (``TARGET MISSED``
otherwise; the exit status stays 0).

Then where the time goes: up to five more rounds, each variant's loop run twice with
psycopg's ``Cursor.execute`` timed (``DriverClock``): a save's time in the database
(sending, the server's work, the commit's flush) and in Python (Django's and the tool's
own), and, the second time with ``synchronous_commit`` off, what the commit's flush is.
Each part is printed with its extra over the plain save's: which side a tool's cost is
on, and so what could remove it.

The peers are the ``bench`` extra (``pip install -e '.[dev,bench]'``); they are loaded
only by ``bench.peers_settings``, never by the project's settings. The database is the
benchmark's own, created if absent and migrated: each run empties its audit and bench
tables first.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/audit_bench_peers \\
        .venv/bin/python bench/tracking_peers.py [--objects 100] [--edits 3] [--rounds 20] \\
        [--context-per-save]
    .venv/bin/python bench/tracking_peers.py --quick     # 20 objects, 3 rounds: a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/audit_bench_peers"
SETTINGS = "bench.peers_settings"
PEERS = ("django-pghistory", "django-pgtrigger", "django-simple-history", "django-auditlog")
TARGET_RATIO = 1.10
# Our ways of tracking the targets are checked for: the default (the save stages its
# change, audit.staged), the save alone and with the drain of its records timed, and the
# record stored in the save's statement (AUDIT_DEFERRED_TRACKING = 0).
OURS = ("ours", "ours+drain", "ours in the statement")
NAME = 22  # the width of a variant's name in the tables


@dataclass(frozen=True)
class Variant:
    """One way of tracking a save, and how to check what it recorded.

    ``acting(user)`` sets the acting user the tool's documented way, as its middleware
    does for a request (around a loop, or around each save: ``Shape.per_save``);
    ``prepare(obj, user)`` is for a tool that takes the user on the instance.
    ``recorded(user)`` counts the rows the tool holds: all of this variant's, the
    creations with ``user`` as actor, the edits with ``user``.
    """

    name: str
    model: type[Any]
    acting: Callable[[Any], AbstractContextManager[Any]]
    prepare: Callable[[Any, Any], None]
    recorded: Callable[[Any], tuple[int, int, int]] | None
    tables: tuple[str, ...]
    settings: tuple[tuple[str, Any], ...] = ()  # set around the whole loop
    drained: bool = False  # the staged changes' drain timed at the loop's end


def _no_user(obj: Any, user: Any) -> None:
    """Tools that read the acting user from a context need nothing on the instance."""


def _history_user(obj: Any, user: Any) -> None:
    """django-simple-history's documented manual way: ``_history_user`` on the instance
    (its middleware otherwise reads ``request.user``)."""
    obj._history_user = user


def variants() -> list[Variant]:
    """The five variants, plain first, and two that price our prepared statement (ours
    without it, the plain save with Django's own statements prepared: a block of
    ``audit.prepared``); built after ``django.setup()``."""
    import pghistory
    from auditlog.context import set_actor
    from auditlog.models import LogEntry
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType
    from pghistory.models import Context as PghContext

    import audit
    from audit.models import AuditRecord, EntityLink, StagedChange
    from audit.prepared import prepared_reads
    from bench.peers.apps import KIND
    from bench.peers.models import (
        AuditlogItem,
        OursItem,
        PghistoryItem,
        PlainItem,
        SimpleHistoryItem,
    )

    pgh_event = apps.get_model("bench_peers", "PghistoryItemEvent")
    simple_history = SimpleHistoryItem.history.model
    auditlog_type = ContentType.objects.get_for_model(AuditlogItem)

    def ours(user: Any) -> tuple[int, int, int]:
        records = AuditRecord.objects.filter(type__name__startswith=f"{KIND}-")
        mine = records.filter(user=user, session__isnull=False)
        return (
            records.count(),
            mine.filter(type__name=f"{KIND}-created").count(),
            mine.filter(type__name=f"{KIND}-edited").count(),
        )

    def pgh(user: Any) -> tuple[int, int, int]:
        mine = pgh_event.objects.filter(pgh_context__metadata__user=user.pk)
        return (
            pgh_event.objects.count(),
            mine.filter(pgh_label="insert").count(),
            mine.filter(pgh_label="update").count(),
        )

    def simple(user: Any) -> tuple[int, int, int]:
        mine = simple_history.objects.filter(history_user=user)
        return (
            simple_history.objects.count(),
            mine.filter(history_type="+").count(),
            mine.filter(history_type="~").count(),
        )

    def auditlog(user: Any) -> tuple[int, int, int]:
        entries = LogEntry.objects.filter(content_type=auditlog_type)
        mine = entries.filter(actor=user)
        return (
            entries.count(),
            mine.filter(action=LogEntry.Action.CREATE).count(),
            mine.filter(action=LogEntry.Action.UPDATE).count(),
        )

    def table(model: Any) -> str:
        return str(model._meta.db_table)

    return [
        Variant(
            "plain",
            PlainItem,
            lambda user: contextlib.nullcontext(),
            _no_user,
            None,
            (table(PlainItem),),
        ),
        # The default (audit.staged): the save stages its change and the records are
        # stored by a drain (a reader's settle, or the beat). Twice: the saves alone
        # (``recorded`` drains, untimed, before it counts), and the saves with the drain
        # of them all timed at the loop's end, as the beat stores a second's changes.
        *(
            Variant(
                name,
                OursItem,
                lambda user: audit.bind(audit.AuditContext(user=user)),  # as our middleware
                _no_user,
                lambda user: _drained_then(ours, user),
                (table(StagedChange), table(EntityLink), table(AuditRecord), table(OursItem)),
                drained=drained,
            )
            for name, drained in (("ours", False), ("ours+drain", True))
        ),
        Variant(
            "ours in the statement",
            OursItem,
            lambda user: audit.bind(audit.AuditContext(user=user)),
            _no_user,
            ours,
            (table(EntityLink), table(AuditRecord), table(OursItem)),
            settings=(("AUDIT_DEFERRED_TRACKING", 0),),
        ),
        Variant(
            "pghistory",
            PghistoryItem,
            lambda user: pghistory.context(user=user.pk),  # what HistoryMiddleware sets
            _no_user,
            pgh,
            (table(pgh_event), table(PghContext), table(PghistoryItem)),
        ),
        Variant(
            "simple-history",
            SimpleHistoryItem,
            lambda user: contextlib.nullcontext(),
            _history_user,
            simple,
            (table(simple_history), table(SimpleHistoryItem)),
        ),
        Variant(
            "auditlog",
            AuditlogItem,
            lambda user: set_actor(user),  # AuditlogMiddleware: set_extra_data(actor=...)
            _no_user,
            auditlog,
            (table(LogEntry), table(AuditlogItem)),
        ),
        # Two more, to tell what the prepared statement is worth: ours with it switched
        # off, and the plain save with Django's statements prepared too.
        Variant(
            "ours unprepared",
            OursItem,
            lambda user: audit.bind(audit.AuditContext(user=user)),
            _no_user,
            lambda user: _drained_then(ours, user),
            (table(StagedChange), table(EntityLink), table(AuditRecord), table(OursItem)),
            settings=(("AUDIT_PREPARED_STATEMENTS", 0),),
        ),
        Variant(
            "plain prepared",
            PlainItem,
            lambda user: prepared_reads(),
            _no_user,
            None,
            (table(PlainItem),),
        ),
    ]


def _drain() -> None:
    from audit import staged

    staged.drain_all()


def _drained_then(count: Callable[[Any], tuple[int, int, int]], user: Any) -> tuple[int, int, int]:
    """``count(user)`` once every staged change is stored."""
    _drain()
    return count(user)


@dataclass(frozen=True)
class Shape:
    """What one timed loop does: ``objects`` creations, ``edits`` saves of each after
    it, and whether the acting user is set around each save (a request per save) or
    once around the loop (one request making them all)."""

    objects: int
    edits: int
    per_save: bool = False

    @property
    def saves(self) -> int:
        return self.objects * (1 + self.edits)


def loop(variant: Variant, shape: Shape, user: Any) -> float:
    """Create the objects and save each ``edits`` more times, with the acting user set
    as the tool documents; returns seconds. A create is ``objects.create``'s own steps,
    so that a tool taking the user on the instance gets it before the INSERT."""

    def acting() -> AbstractContextManager[Any]:
        return variant.acting(user) if shape.per_save else contextlib.nullcontext()

    from django.test import override_settings

    started = time.perf_counter()
    with (
        override_settings(**dict(variant.settings)),
        contextlib.nullcontext() if shape.per_save else variant.acting(user),
    ):
        for n in range(shape.objects):
            obj = variant.model(name=f"Item {n}", owner=user, description="")
            variant.prepare(obj, user)
            with acting():
                obj.save(force_insert=True)
            for e in range(shape.edits):
                obj.description = f"revision {e} of a realistic description " * 3
                with acting():
                    obj.save()
        if variant.drained:
            _drain()
    return time.perf_counter() - started


def checked_loop(variant: Variant, shape: Shape, user: Any) -> float:
    """``loop``, then proof that the tool recorded every save, creations and edits
    apart, each with the acting user; stops the run otherwise (a tool that silently
    recorded nothing would look cheap)."""
    before = variant.recorded(user) if variant.recorded else None
    seconds = loop(variant, shape, user)
    if variant.recorded is None or before is None:
        return seconds
    after = variant.recorded(user)
    total, created, edited = (a - b for a, b in zip(after, before, strict=True))
    expected = (shape.saves, shape.objects, shape.objects * shape.edits)
    if (total, created, edited) != expected:
        sys.exit(
            f"{variant.name}: expected {expected[0]} rows ({expected[1]} creations and "
            f"{expected[2]} edits, each with the acting user), found {total} rows, "
            f"{created} creations and {edited} edits with the user"
        )
    return seconds


def check_our_types() -> None:
    """Our kind's types exist after the warm-up and are server-only: registering a kind
    makes its ``KIND-created`` / ``-edited`` types on first use (``audit.event_types``),
    marked server-only because the kind is registered (``audit.server_types``)."""
    from audit.models import EventType
    from bench.peers.apps import KIND

    wanted = {f"{KIND}-created", f"{KIND}-edited"}
    found = set(
        EventType.objects.filter(name__in=wanted, server_only=True).values_list("name", flat=True)
    )
    if found != wanted:
        sys.exit(f"ours: expected server-only types {sorted(wanted)}, found {sorted(found)}")


def start_clean(connection: Any, tables: list[str]) -> None:
    """Every run starts from the same empty tables: what earlier runs left (and their
    dead row versions) would otherwise make each run slower than the last, the tracked
    variants more than the plain one (``bench/tracking.py``'s reason)."""
    quoted = ", ".join(f'"{name}"' for name in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {quoted} CASCADE")
        for name in tables:
            cursor.execute(f'VACUUM (ANALYZE) "{name}"')


def analyze(connection: Any, tables: list[str]) -> None:
    """Every variant's tables vacuumed and analysed before each round, as autovacuum
    keeps a live database; it is off on the benchmark's machine.

    Without fresh statistics the planner would keep the sizes it saw when the run began:
    empty tables. A prepared statement's generic plan, made then, reads a row by key with
    a sequential scan, and keeps doing so as the table grows to thousands of rows
    (measured: 92,599 such scans reading 509 million rows in one run of ours, and 38,517
    for the plain save with Django's statements prepared). ANALYZE also invalidates the
    plans cached on the connection, so each round plans for the tables as they are.
    Without VACUUM the dead rows of every update, and of every staged change drained,
    would pile up, and each drain would walk past all of them in the key's index."""
    quoted = ", ".join(f'"{name}"' for name in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {quoted}")


def rotated(items: list[Variant], round_: int) -> list[Variant]:
    """The variants in this round's order: each round starts one further along."""
    shift = round_ % len(items)
    return items[shift:] + items[:shift]


def load() -> str:
    """The 1, 5 and 15-minute load averages: a busy machine shows in the figures."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(
    shape: Shape, names: list[str], times: dict[str, list[float]], header: list[str]
) -> None:
    """The table and the targets: medians of per-round ratios, so that a round the
    machine slowed down counts once, whichever variant it hit."""
    saves = shape.saves
    plain = times["plain"]
    ratios = {name: [t / p for t, p in zip(times[name], plain, strict=True)] for name in names}
    for line in header:
        print(line)
    print(
        f"\n{'':{NAME}}{'median s':>10}{'saves/s':>10}{'ratio':>9}{'quartiles':>13}"
        f"{'extra us/save':>15}"
    )
    for name in names:
        median = statistics.median(times[name])
        q1, _, q3 = statistics.quantiles(ratios[name], n=4)
        extra = statistics.median(
            (t - p) / saves * 1e6 for t, p in zip(times[name], plain, strict=True)
        )
        quartiles = f"{q1:.2f}-{q3:.2f}"
        print(
            f"{name:{NAME}}{median:10.3f}{saves / median:10,.0f}"
            f"{statistics.median(ratios[name]):8.2f}x{quartiles:>13}{extra:15,.0f}"
        )
    pgh = statistics.median(ratios["pghistory"])
    print()
    for name in OURS:
        ours = statistics.median(ratios[name])
        for target, figure, met in (
            (f"{name} <= {TARGET_RATIO:.2f}x plain", f"{ours:.2f}x", ours <= TARGET_RATIO),
            (f"{name} < pghistory", f"{ours:.2f}x vs {pgh:.2f}x", ours < pgh),
        ):
            print(f"target {target:{NAME + 22}}{figure:16}{'met' if met else 'TARGET MISSED'}")


class DriverClock:
    """Time spent inside psycopg's ``Cursor.execute`` while installed: turning the
    statement and its values into what is sent, the round trip, the server's work and,
    in autocommit, the commit's flush. The rest of a save is Python: Django's, and the
    tool's own (ours builds the record; pghistory's context wrapper; simple-history and
    auditlog build their rows). Installed innermost, under every execute wrapper."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextlib.contextmanager
    def installed(self) -> Any:
        import psycopg

        original = psycopg.Cursor.execute

        def timed(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(cursor, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        psycopg.Cursor.execute = timed  # type: ignore[method-assign, assignment]
        try:
            yield self
        finally:
            psycopg.Cursor.execute = original  # type: ignore[method-assign]


def split(
    all_variants: list[Variant], shape: Shape, user: Any, rounds: int
) -> dict[str, tuple[float, float, float, float]]:
    """Per variant, microseconds a save: in all, in the driver and the database (the
    commit's flush included), and that part again with ``synchronous_commit`` off (what
    the flush costs); and the bytes of WAL a save writes (``pg_current_wal_insert_lsn``
    around the loop: nothing else writes meanwhile). Medians of ``rounds`` loops, after
    the timed rounds.

    The WAL is there because on this machine a commit's flush grows with it: about 40
    microseconds a KiB (an INSERT of 300 bytes against one of 2 KiB, with and without
    ``synchronous_commit``). Its largest part, right after a checkpoint, is the first
    change of each index page, written whole (8 KiB): an index keyed by a random entity
    id has a page of its own for almost every entity it is given."""
    from django.db import connection

    def wal_position() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()")
            return str(cursor.fetchone()[0])

    def wal_bytes(start: str, end: str) -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(%s, %s)", [end, start])
            return float(cursor.fetchone()[0])

    found: dict[str, list[tuple[float, float, float, float]]] = {v.name: [] for v in all_variants}
    tables = sorted({name for v in all_variants for name in v.tables})
    for round_ in range(rounds):
        analyze(connection, tables)
        for variant in rotated(all_variants, round_):
            figures = []
            for flush in ("on", "off"):
                with connection.cursor() as cursor:
                    cursor.execute(f"SET synchronous_commit = {flush}")
                clock = DriverClock()
                start = wal_position()
                with clock.installed():
                    seconds = loop(variant, shape, user)
                figures.append((seconds, clock.seconds, wal_bytes(start, wal_position())))
            (total, driver, wal), (_, unflushed, _) = figures
            found[variant.name].append((total, driver, unflushed, wal))
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")
    return {
        name: _per_save([statistics.median(v[i] for v in values) for i in range(4)], shape)
        for name, values in found.items()
    }


def _per_save(figures: list[float], shape: Shape) -> tuple[float, float, float, float]:
    total, driver, unflushed = (value / shape.saves * 1e6 for value in figures[:3])
    return total, driver, unflushed, figures[3] / shape.saves


def report_split(parts: dict[str, tuple[float, float, float, float]]) -> None:
    """Where each variant's time goes, and its extra over the plain save, part by part."""
    plain_total, plain_db, _, _ = parts["plain"]
    print(
        "\nwhere a save's time goes, us a save (median of the split rounds; 'database' is "
        "psycopg's execute: sending, the server's work, the commit's flush; 'WAL' bytes a "
        "save):"
    )
    print(
        f"{'':{NAME}}{'total':>8}{'database':>10}{'Python':>8}{'flush':>7}{'WAL':>7}"
        "   extra: database, Python"
    )
    for name, (total, db, unflushed, wal) in parts.items():
        python = total - db
        extra_db = db - plain_db
        extra_python = python - (plain_total - plain_db)
        print(
            f"{name:{NAME}}{total:8.0f}{db:10.0f}{python:8.0f}{db - unflushed:7.0f}{wal:7,.0f}"
            f"   {extra_db:+8.0f} {extra_python:+8.0f}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 objects, 3 rounds")
    parser.add_argument(
        "--context-per-save",
        action="store_true",
        help="set the acting user around each save (a request per save), not once a loop",
    )
    args = parser.parse_args()
    if args.quick:
        args.objects, args.rounds = 20, 3
    if args.rounds < 2 or args.objects < 1 or args.edits < 0:
        parser.error("needs at least 2 rounds (for quartiles) and 1 object")
    return args


def setup() -> None:
    """The benchmark's database, created and migrated with the bench settings, and
    Django set up on them in this process."""
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/tracking_peers.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    try:
        for name in PEERS:
            version(name)
    except PackageNotFoundError as missing:
        sys.exit(f"{missing}: install the bench extra: .venv/bin/pip install -e '.[dev,bench]'")
    from ingest import ensure_database  # bench/ is this script's own directory

    ensure_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ
    )
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()


def main() -> None:
    args = parse_args()
    load_before = load()
    setup()
    from django.contrib.auth.models import User
    from django.db import connection

    user, _ = User.objects.get_or_create(username="bench-tracking-peers")
    shape = Shape(args.objects, args.edits, args.context_per_save)
    all_variants = variants()
    start_clean(connection, [name for v in all_variants for name in v.tables])
    times: dict[str, list[float]] = {v.name: [] for v in all_variants}
    for variant in all_variants:  # warm caches, plans, and our kind's event types
        checked_loop(variant, shape, user)
    check_our_types()
    tables = sorted({name for v in all_variants for name in v.tables})
    for round_ in range(args.rounds):
        analyze(connection, tables)
        for variant in rotated(all_variants, round_):
            times[variant.name].append(checked_loop(variant, shape, user))

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    header = [
        f"\nTracked saves against plain ones on PostgreSQL {server}: {args.rounds} rounds "
        f"of {shape.objects} creates + {shape.objects * shape.edits} edits ({shape.saves} "
        "saves) per variant, each save in autocommit, the variants' order rotated each round",
        "acting user set "
        + ("around each save" if shape.per_save else "once around each variant's loop"),
        "versions: " + ", ".join(f"{name} {version(name)}" for name in ("Django", *PEERS)),
        f"load average before {load_before}, after {load()}",
        "every save recorded, with the acting user, by every tracking variant",
    ]
    report(shape, [v.name for v in all_variants], times, header)
    report_split(split(all_variants, shape, user, rounds=min(args.rounds, 5)))


if __name__ == "__main__":
    main()
