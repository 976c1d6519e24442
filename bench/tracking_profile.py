"""Where a tracked save's time goes inside PostgreSQL: each part of storing its record
priced by taking it away, in one run.

Why this exists: a tracked save costs about 1.6-1.75x a plain save (``bench/tracking.py``,
``bench/tracking_peers.py``), and django-pghistory, whose trigger writes one row to a
table with few indexes, about 1.3x. The record of a tracked save is stored by
``audit_insert_record`` (``audit.sql``), riding on the save's own statement; this prices
what that function does, so that the figure says which index or trigger costs what, and
what removing it would buy.

What one run does, on its own database (``audit_bench_tracking``, created if absent,
migrated; its audit tables are emptied first):

1. a user, a session and one project to save;
2. for each variant below, ``--rounds`` times in rotated order, in a transaction that is
   rolled back at the end (so an index dropped or a trigger disabled for a variant is
   back for the next one): a PL/pgSQL loop calls ``audit_insert_record`` ``--calls``
   times with a realistic record (a small ``params``, a two-field ``changes``, two links:
   the project itself and its parent), timed inside the server (no round trips);
3. the same loop doing what a plain create does (``INSERT`` of a project), the yardstick;
4. prints per variant: microseconds per record, and what the part taken away costs
   (full minus the variant), each also as a share of the plain create's INSERT.

Variants: the full function; without the analysis row triggers (the rollups); without
the seals' guard (the shared advisory lock); without the export's trigger; without each
secondary index of the records and the links; with no links; and the floor (every
trigger off, every secondary index dropped, no links).

Run from the project root::

    .venv/bin/python bench/tracking_profile.py [--calls 3000] [--rounds 5]

(``DATABASE_URL`` may name another PostgreSQL database; the default is
``postgres://postgres@127.0.0.1:5432/audit_bench_tracking``; it must connect as the
tables' owner, which may disable their triggers.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/audit_bench_tracking"

RECORD_INDEXES = (
    "audit_rec_created",
    "audit_rec_user",
    "audit_rec_session",
    "audit_rec_type",
    "audit_rec_fingerprint",
    "audit_rec_level",
)
LINK_INDEXES = (
    "audit_entitylink_record_id_31de17ef",
    "audit_link_entity",
    "audit_link_entity_type",
    "audit_link_entity_user",
)
SEAL_TRIGGER = ("audit_auditrecord", "audit_auditrecord_seal_guard")
EXPORT_TRIGGER = ("audit_auditrecord", "cloudwatch_export_enqueue")

# The loop runs in the server; ``%(...)s`` are filled by psycopg. The record is what a
# tracked edit of a project stores: its type, level, a message, params, a diff, the
# user and session, and two links (the project, and the project as "parent").
RECORD_LOOP = """
DO $$
DECLARE
  started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..%(calls)s LOOP
    PERFORM audit_insert_record(
      gen_random_uuid(), %(type_id)s, 'audit', 'Project Sales edited',
      '{"fields": ["description"]}'::jsonb,
      '{"description": {"old": "revision 1", "new": "revision 2"}}'::jsonb,
      %(user_id)s, %(session_id)s, now(), 'server', '', %(links)s::jsonb);
  END LOOP;
  PERFORM set_config('bench.took', (extract(epoch FROM clock_timestamp() - started))::text,
                     true);
END $$;
"""
# The yardstick: what a plain create writes, a new project row (its primary key, owner
# and ``updated_at`` indexes, the owner's foreign key checked at commit).
PLAIN_LOOP = """
DO $$
DECLARE
  started timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..%(calls)s LOOP
    INSERT INTO catalog_project (id, name, description, created_at, updated_at, published,
                                 owner_id)
    VALUES (gen_random_uuid(), 'Project ' || i, 'revision 1 of a realistic description',
            now(), now(), false, %(user_id)s);
  END LOOP;
  PERFORM set_config('bench.took', (extract(epoch FROM clock_timestamp() - started))::text,
                     true);
END $$;
"""


@dataclass
class Variant:
    name: str
    setup: list[str] = field(default_factory=list)
    no_links: bool = False
    plain: bool = False
    took: list[float] = field(default_factory=list)  # microseconds a call, per round
    # The full record only: what the fold then spends counting each pending record
    # (``analysis.sql.PENDING_TO_DELTAS``), off the save, microseconds per round.
    folded: list[float] = field(default_factory=list)
    fold: bool = False

    @property
    def micros(self) -> float:
        return statistics.median(self.took)


def disable(table: str, trigger: str) -> str:
    return f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"


def variants() -> list[Variant]:
    from bench.ingest import ANALYSIS_TRIGGERS

    analysis = [disable(t, n) for t, n in ANALYSIS_TRIGGERS]
    statements, rows = analysis[:2], analysis[2:]
    every_trigger = [*analysis, disable(*SEAL_TRIGGER), disable(*EXPORT_TRIGGER)]
    indexes = [f"DROP INDEX {name}" for name in (*RECORD_INDEXES, *LINK_INDEXES)]
    found = [
        Variant("plain create's INSERT (yardstick)", plain=True),
        Variant("full record (as stored today)", fold=True),
        Variant("without the analysis triggers", analysis),
        Variant("  without the pending row trigger only", rows),
        Variant("  without their statement triggers only", statements),
        Variant("without the seals' guard", [disable(*SEAL_TRIGGER)]),
        Variant("without the export's trigger", [disable(*EXPORT_TRIGGER)]),
        Variant("without links", no_links=True),
    ]
    found += [
        Variant(f"without index {name}", [f"DROP INDEX {name}"])
        for name in (*RECORD_INDEXES, *LINK_INDEXES)
    ]
    found.append(
        Variant(
            "floor: no trigger, no secondary index, no links",
            every_trigger + indexes,
            no_links=True,
        )
    )
    return found


def setup_django(url: str) -> None:
    os.environ.pop("REDIS_URL", None)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="auditproj.settings")
    from bench.tracking import ensure_database

    ensure_database(url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()


def fixture() -> dict[str, Any]:
    """The user, session, project and type a record names; the tables emptied."""
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    import audit
    from audit.models import EventType, SessionKind, UserSession
    from catalog.models import Project

    user, _ = User.objects.get_or_create(username="bench-profile")
    with audit.disabled():
        project, _ = Project.objects.get_or_create(name="Sales", defaults={"owner": user})
    session, _ = UserSession.objects.get_or_create(
        user=user, kind=SessionKind.SERVER, client="bench:profile"
    )
    with connection.cursor() as cursor:
        # (and the ids other benchmarks' tracked saves left for a fold that never ran)
        cursor.execute("TRUNCATE audit_entitylink, audit_auditrecord, analysis_pending CASCADE")
        for table in ("audit_entitylink", "audit_auditrecord", "catalog_project"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    ct = ContentType.objects.get_for_model(Project).pk
    links = (
        f'[{{"content_type_id": {ct}, "object_id": "{project.pk}", "role": "", '
        f'"name": "Sales"}}, {{"content_type_id": {ct}, "object_id": "{project.pk}", '
        '"role": "parent", "name": "Sales"}]'
    )
    return {
        "type_id": EventType.objects.get(name="project-edited").pk,
        "user_id": user.pk,
        "session_id": session.pk,
        "project_id": project.pk,
        "links": links,
    }


def run(variant: Variant, params: dict[str, Any], calls: int) -> float:
    """One round of ``variant``: its set-up and loop in a transaction rolled back."""
    from django.db import connection, transaction

    from analysis.sql import PENDING_TO_DELTAS

    loop = PLAIN_LOOP if variant.plain else RECORD_LOOP
    values = {**params, "calls": calls, "links": "[]" if variant.no_links else params["links"]}
    took = 0.0
    with connection.cursor() as cursor:
        # Every round's rows are rolled back: without autovacuum their dead versions
        # would pile up in the pending list, which the fold's DELETE reads whole.
        cursor.execute("VACUUM analysis_pending")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in variant.setup:
                cursor.execute(statement)
            cursor.execute(loop, values)
            cursor.execute("SELECT current_setting('bench.took')")
            took = float(cursor.fetchone()[0])
            if variant.fold:
                started = time.perf_counter()
                cursor.execute(PENDING_TO_DELTAS, {"zone": "UTC"})
                counted = cursor.fetchone()[0]
                variant.folded.append((time.perf_counter() - started) * 1e6 / calls)
                if counted != calls:
                    raise SystemExit(f"the fold found {counted} pending records, not {calls}")
            raise _RollBack
    except _RollBack:
        pass
    return took * 1e6 / calls


class _RollBack(Exception):
    """Undo a variant's set-up and rows."""


def rotate(items: list[Variant], by: int) -> list[Variant]:
    by %= len(items)
    return items[by:] + items[:by]


def report(found: list[Variant], calls: int, rounds: int, emit: Callable[[str], None]) -> None:
    plain, full = found[0].micros, found[1].micros
    emit(
        f"\n{calls:,} calls a round, {rounds} rounds, rotated; median microseconds a call, "
        "timed inside PostgreSQL (no round trips)\n"
    )
    emit(f"  {'variant':<52}{'us/call':>9}{'part costs':>12}{'x plain':>9}")
    for variant in found:
        part = full - variant.micros
        shown = "" if variant in found[:2] else f"{part:10.1f}  {part / plain:7.2f}"
        emit(f"  {variant.name:<52}{variant.micros:9.1f}  {shown}")
    emit(
        f"\n  the record costs {full:.1f} us, {full / plain:.2f}x the plain create's INSERT "
        f"({plain:.1f} us) inside the server"
    )
    if found[1].folded:
        emit(
            f"  the fold counts each pending record later, off the save: "
            f"{statistics.median(found[1].folded):.1f} us a record (its deltas from the "
            "records and links)"
        )
    emit(f"  load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/tracking_profile.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    sys.path.insert(0, str(ROOT))
    began = time.perf_counter()
    setup_django(url)
    params = fixture()
    found = variants()
    for variant in found:  # warm: plans, caches
        run(variant, params, max(100, args.calls // 10))
    for number in range(args.rounds):
        for variant in rotate(found, number):
            variant.took.append(run(variant, params, args.calls))
        print(f"round {number + 1} of {args.rounds} done", flush=True)
    report(found, args.calls, args.rounds, print)
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
