"""Change-tracking benchmark: what recording costs a save, as a ratio in one run.

A loop of creates and edits of a registered model (``catalog.Project``), each save in
autocommit as a request would make it, runs with tracking on and with tracking off
(``audit.disabled()``), in many short rounds, each timing both loops back to
back (which goes first alternates), so that a noisy machine hurts both alike: the
figure is the median of the rounds' ratios. Prints saves/s for each and the ratio;
the target is at most 1.5x. For scale: django-auditlog costs about 6x a plain save,
django-pghistory's triggers about 1.1x. The database is the benchmark's own: each run
empties its audit and project tables first.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/audit_bench_tracking \
        .venv/bin/python bench/tracking.py [--objects 100] [--edits 3] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/audit_bench_tracking"


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def loop(objects: int, edits: int, owner: Any) -> float:
    """Create ``objects`` projects and edit each ``edits`` times; returns seconds."""
    from catalog.models import Project

    started = time.perf_counter()
    for n in range(objects):
        project = Project.objects.create(name=f"Project {n}", owner=owner, description="")
        for e in range(edits):
            project.description = f"revision {e} of a realistic description " * 3
            project.save()
    return time.perf_counter() - started


def start_clean(connection: Any) -> None:
    """Every run starts from the same tables: what earlier runs left (hundreds of
    thousands of rows, and dead row versions where autovacuum is off) would otherwise
    make each run slower than the last, the tracked side more than the other."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_entitylink, audit_auditrecord, catalog_project CASCADE")
        for table in ("audit_entitylink", "audit_auditrecord", "catalog_project"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("bench/tracking.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "auditproj.settings"
    ensure_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ
    )
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection

    import audit
    from audit.context import AuditContext, bind
    from audit.models import AuditRecord
    from bench.sql_timer import SqlTimer

    owner, _ = User.objects.get_or_create(username="bench-tracking")
    start_clean(connection)
    saves = args.objects * (1 + args.edits)
    on: list[float] = []
    off: list[float] = []
    in_db: dict[bool, list[float]] = {True: [], False: []}  # seconds in execute, per round

    def timed(tracking: bool) -> float:
        clock = SqlTimer()
        with connection.execute_wrapper(clock):
            seconds = loop(args.objects, args.edits, owner)
        in_db[tracking].append(clock.seconds)
        return seconds

    def tracked() -> float:
        before = AuditRecord.objects.count()
        seconds = timed(True)
        recorded = AuditRecord.objects.count() - before
        assert recorded == saves, f"expected {saves} records, found {recorded}"
        return seconds

    def untracked() -> float:
        with audit.disabled():
            return timed(False)

    with bind(AuditContext(user=owner)):
        tracked(), untracked()  # warm caches, connections and the function's plans
        for round_ in range(args.rounds):
            # Vacuumed and analysed each round, as autovacuum would (it is off here): a
            # prepared statement's plan made for the empty tables the run began with
            # would read a row by key with a sequential scan ever after
            # (bench/tracking_peers.py's ``analyze``).
            with connection.cursor() as cursor:
                cursor.execute(
                    "VACUUM (ANALYZE) audit_entitylink, audit_auditrecord, catalog_project"
                )
            if round_ % 2:
                off.append(untracked())
                on.append(tracked())
            else:
                on.append(tracked())
                off.append(untracked())

    ratios = [a / b for a, b in zip(on, off, strict=True)]
    median_on, median_off = statistics.median(on), statistics.median(off)
    print(
        f"\nChange tracking benchmark on {connection.vendor}: {args.rounds} rounds of "
        f"{args.objects} creates + {args.objects * args.edits} edits ({saves} saves) "
        "with tracking on and the same with it off, each save in autocommit"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'':24}{'median s':>10}{'best s':>10}{'saves/s (median)':>18}")
    print(f"{'tracking off':24}{median_off:10.3f}{min(off):10.3f}{saves / median_off:18,.0f}")
    print(f"{'tracking on':24}{median_on:10.3f}{min(on):10.3f}{saves / median_on:18,.0f}")
    ratio = statistics.median(ratios)
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"\nratio on/off            {ratio:.2f}x  (median of the rounds; quartiles "
        f"{quartiles[0]:.2f}-{quartiles[2]:.2f}, totals {sum(on) / sum(off):.2f}x)"
    )
    print(f"target                  <= 1.5x  {'met' if ratio <= 1.5 else 'TARGET MISSED'}")
    # Where a save's time goes: waiting on the database (the statement's round trip,
    # its parsing and planning, its execution with every trigger, the commit) and the
    # rest, Python. Medians over the rounds, the warm-up left out.
    print(f"\n{'us a save (median)':24}{'total':>10}{'database':>10}{'Python':>10}")
    for label, rounds, tracking in (("tracking off", off, False), ("tracking on", on, True)):
        total = statistics.median(rounds) * 1e6 / saves
        database = statistics.median(in_db[tracking][1:]) * 1e6 / saves
        print(f"{label:24}{total:10.0f}{database:10.0f}{total - database:10.0f}")


if __name__ == "__main__":
    main()
