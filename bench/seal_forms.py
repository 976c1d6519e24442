"""What hashing a block of records costs PostgreSQL in each seal form, in one run.

Why this exists: the sealer runs beside ingest on the same cores, so what it costs per
record is what it takes from ingest (``bench/ingest.py --sealing``). Form 1 writes each
record as a JSON text, a formatting call per column and time; form 2 hashes the row text
PostgreSQL writes for the record's columns and links in one C function; form 3 (what the
sealer uses now) hashes the bytes PostgreSQL sends for the same row in its binary
protocol, with no column formatted as text (``audit/seals.py``). This times the block
statement of each form over the same records, alternating, so the machine's drift falls on
all three.

What one run does: on a database that already holds records (by default the one
``bench/analysis.py`` fills, ``audit_bench_analysis``; at least ``--records`` of them),
``--rounds`` times in turn for each form, the block statement the sealer runs over
``--records`` records in blocks of ``audit.seals.BLOCK`` ids; then prints microseconds a
record per round and the median of each form, and how many links the records have.

Run from the project root::

    .venv/bin/python bench/seal_forms.py [--records 200000] [--rounds 3]

(``DATABASE_URL`` may name another PostgreSQL database.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analysis import DEFAULT_DATABASE_URL, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    from django.db import connection

    from audit import seals

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM audit_auditrecord")
        low, high = cursor.fetchone()
        if low is None or high - low + 1 < args.records:
            raise SystemExit(f"needs {args.records:,} records: run bench/analysis.py first")
        start = low + (high - low + 1 - args.records) // 2  # the middle of the trail
        end = start + args.records
        cursor.execute(
            "SELECT count(*) FROM audit_entitylink WHERE record_id >= %s AND record_id < %s",
            [start, end],
        )
        links = cursor.fetchone()[0]
        print(f"records #{start:,} to #{end - 1:,}: {args.records:,} records, {links:,} links")
        print(f"load average {_load()} at the start")
        timings: dict[int, list[float]] = {
            seals.FORM_JSON: [],
            seals.FORM_ROW: [],
            seals.FORM_BINARY: [],
        }
        for number in range(args.rounds):
            for form in timings:
                began = time.perf_counter()
                for first in range(start, end, seals.BLOCK):
                    upto = min(end - 1, first + seals.BLOCK - 1)
                    params = [first - 1, upto, first - 1, upto]
                    seals._hashes(cursor, seals._BLOCK_STATEMENTS[form], params)
                per = (time.perf_counter() - began) * 1e6 / args.records
                timings[form].append(per)
                print(f"  round {number + 1}, form {form}: {per:.2f} us a record")
    one, two, three = (statistics.median(timings[form]) for form in timings)
    print(
        f"median: form 1 (JSON text) {one:.2f}, form 2 (row text) {two:.2f}, "
        f"form 3 (binary row) {three:.2f} us a record"
    )
    print(f"form 2 / form 1: {two / one:.2f}; form 3 / form 2: {three / two:.2f}")
    print(f"load average {_load()} at the end")


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
