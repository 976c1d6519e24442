"""Export benchmark: how fast the CloudWatch outbox drains, against how fast ingest fills it.

Why this exists: issue 6 asks that the exporter never be the bottleneck of ingest, i.e.
that it drains at least as fast as ``bench/ingest.py`` ingests (about 10,000 events/s
over HTTP on the 2-core reference machine). It also measures what the outbox trigger
costs the insert path, since the outbox is filled inside every INSERT of records.

What one run does, on its own PostgreSQL database (``DATABASE_URL``, default
``audit_bench``, created if absent and migrated; its audit tables are truncated):

1. measures HTTP ingest in this run: ``bench/ingest.py --events N --json`` (gunicorn,
   a client process, batches of 500) on the same database, so that the drain is
   compared with what ingest stores on the same machine at the same time;
2. starts moto's server in a process of its own on 127.0.0.1 (real HTTP, as a remote
   CloudWatch would be; in-process it would share the GIL with the exporter);
3. stores records through ``audit.recording.record_events`` in batches of 500, with the
   outbox trigger off and in the export's other states, to show what the outbox costs
   the insert path;
4. for each worker count of ``--workers`` (1 and 2): stores N records with every type
   mapped (the outbox fills in their transactions), drains them with that many
   processes calling ``export.drain()`` (what the Celery task and ``manage.py
   cloudwatch_export`` run) to a log group of their own and times it until the outbox
   is empty; the records go to three streams, or to one with ``--streams 1`` (the
   exporter keeps one batch in flight per stream, so one stream is its slowest case);
5. reads every stream back from moto and checks that each record arrived exactly once;
6. prints the figures: each drain against this run's HTTP ingest (target: one worker
   at least as fast), two workers against one, and a JSON line with ``--json``.

Run from the project root:
``.venv/bin/python bench/export.py [--records N] [--workers 1,2] [--streams 1|2|3]
[--http-events N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/audit_bench"
INGEST_TARGET = 10_000  # events/s: bench/ingest.py's HTTP figure on the reference machine
STREAMS = {
    "log": "bench_log",
    "main-menu-item-click": "bench_usage",
    "query-start": "bench_queries",
}
BATCH = 500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """moto's standalone server in a child process."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        binary = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1)
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("moto's server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _setup(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="auditproj.settings", DEBUG="0")
    # DEBUG off refuses to encrypt the CloudWatch secret under the development key.
    os.environ.setdefault("AUDIT_ENCRYPTION_KEY", "bench-only-not-a-secret")
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT / "bench"))
    from ingest import ensure_database

    ensure_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE audit_entitylink, audit_auditrecord, cloudwatch_export_outboxentry, "
            "cloudwatch_export_streamstatus RESTART IDENTITY CASCADE"
        )


def _trigger(on: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE audit_auditrecord {'ENABLE' if on else 'DISABLE'} "
            "TRIGGER cloudwatch_export_enqueue"
        )


def _events(count: int, seed: int, streams: int = len(STREAMS)) -> list[Any]:
    from audit.recording import build_event

    rng = random.Random(seed)
    names = list(STREAMS)[:streams]
    return [
        build_event(
            rng.choice(names),
            f"user opened view {rng.randrange(1000)} of project {rng.randrange(50)}",
            {
                "view": f"v{rng.randrange(100)}",
                "rows": rng.randrange(1_000_000),
                "columns": [f"c{j}" for j in range(rng.randrange(1, 6))],
                "elapsed_ms": round(rng.random() * 1000, 3),
            },
        )
        for _ in range(count)
    ]


def _ingest(events: list[Any]) -> float:
    """Events/s of storing ``events`` in batches (each its own transaction)."""
    from audit.recording import record_events

    started = time.perf_counter()
    for start in range(0, len(events), BATCH):
        record_events(events[start : start + BATCH], resolve_names=False)
    return len(events) / (time.perf_counter() - started)


def _drain_worker(queue: Any) -> None:
    from django.db import connections

    from cloudwatch_export import export

    connections.close_all()  # never share the parent's socket
    report = export.drain()
    queue.put((report.sent, report.error, report.resent))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain(workers: int) -> tuple[float, int, list[str], int]:
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    started = time.perf_counter()
    processes = [context.Process(target=_drain_worker, args=(queue,)) for _ in range(workers)]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    sent = sum(result[0] for result in results)
    return elapsed, sent, [result[1] for result in results if result[1]], sum(r[2] for r in results)


def _delivered(group: str, moto_url: str, streams: int) -> Counter[int]:
    import boto3

    logs = boto3.session.Session().client(
        "logs",
        region_name="eu-west-1",
        endpoint_url=moto_url,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="bench-secret",
    )
    found: Counter[int] = Counter()
    for stream in list(STREAMS.values())[:streams]:
        token = None
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
            kwargs |= {"startFromHead": True, "limit": 10_000}
            if token:
                kwargs["nextToken"] = token
            page = logs.get_log_events(**kwargs)
            found.update(json.loads(event["message"])["id"] for event in page["events"])
            if not page["events"] or page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
    return found


VARIANTS = ("no trigger", "export disabled", "enabled, unmapped types", "enabled, all mapped")


def _configure(variant: str, group: str, moto_url: str) -> None:
    """Put the export (and the trigger) in the state a variant of the ingest test needs."""
    import audit
    from cloudwatch_export import export_settings

    mapping = {"error": "bench_errors"} if variant == "enabled, unmapped types" else STREAMS
    with audit.disabled():
        export_settings.apply(
            export_settings.Changes(
                enabled=variant != "export disabled",
                log_group=group,
                region="eu-west-1",
                access_key="AKIAIOSFODNN7EXAMPLE",
                secret_key="bench-secret",
                endpoint_url=moto_url,
                message_format="json",
                mapping=mapping,
            )
        )
    _trigger(on=variant != "no trigger")


def _ingest_rounds(records: int, rounds: int, group: str, moto_url: str) -> dict[str, float]:
    """Median events/s of each variant over ``rounds`` rounds, in a rotating order so
    that a busy moment of the machine does not land on one variant only."""
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    events = _events(records, seed=1)
    _truncate()
    _ingest(events[: BATCH * 4])  # warm-up: caches, plans, the session row
    for round_ in range(rounds):
        for variant in VARIANTS[round_ % 4 :] + VARIANTS[: round_ % 4]:
            _truncate()
            _configure(variant, group, moto_url)
            rates[variant].append(_ingest(events))
    return {variant: statistics.median(found) for variant, found in rates.items()}


def _http_ingest_rate(url: str, events: int) -> float:
    """HTTP ingest's events/s in this run: ``bench/ingest.py`` (gunicorn, its own client
    process, batches of 500) on the same database, before the export's own phases."""
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ingest.py"), "--events", str(events), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"bench/ingest.py failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return float(json.loads(lines[-1])["http_events_per_s"])


@dataclasses.dataclass
class Drained:
    workers: int
    seconds: float
    sent: int
    errors: list[str]
    resent: int
    left: int
    once: bool
    worker_cpu: float
    moto_cpu: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _store_and_drain(records: int, streams: int, workers: int, moto: MotoServer) -> Drained:
    """Store ``records`` mapped records (the outbox fills in their transactions), drain
    them with ``workers`` processes to a log group of their own, and check that each
    record arrived exactly once."""
    from audit.models import AuditRecord
    from cloudwatch_export.models import OutboxEntry

    group = f"/bench/export-{int(time.time())}-{workers}w"
    _truncate()
    _configure("enabled, all mapped", group, moto.url)
    _ingest(_events(records, seed=7, streams=streams))
    waiting = OutboxEntry.objects.count()
    assert waiting == records, f"{waiting} queued, expected {records}"
    print(
        f"draining {waiting:,} records to {streams} stream(s) with {workers} worker(s) ...",
        flush=True,
    )
    before = os.times()
    moto_before = _cpu_seconds(moto.process.pid)
    seconds, sent, errors, resent = _drain(workers)
    after = os.times()
    worker_cpu = after.children_user + after.children_system
    worker_cpu -= before.children_user + before.children_system
    delivered = _delivered(group, moto.url, streams)
    stored = set(AuditRecord.objects.values_list("id", flat=True))
    return Drained(
        workers=workers,
        seconds=seconds,
        sent=sent,
        errors=errors,
        resent=resent,
        left=OutboxEntry.objects.count(),
        once=all(count == 1 for count in delivered.values()) and set(delivered) == stored,
        worker_cpu=worker_cpu,
        moto_cpu=_cpu_seconds(moto.process.pid) - moto_before,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records to drain")
    parser.add_argument(
        "--workers", default="1,2", help="draining processes, one drain per count (1,2)"
    )
    parser.add_argument(
        "--streams", type=int, default=3, choices=(1, 2, 3), help="streams the records go to"
    )
    parser.add_argument("--ingest-records", type=int, default=20_000, help="per ingest run")
    parser.add_argument("--rounds", type=int, default=3, help="ingest runs per variant")
    parser.add_argument(
        "--http-events",
        type=int,
        default=100_000,
        help="events for this run's HTTP ingest figure (bench/ingest.py); 0: use the "
        f"reference figure, {INGEST_TARGET:,}/s",
    )
    parser.add_argument("--json", action="store_true", help="also print a JSON line")
    args = parser.parse_args(argv)
    workers = [int(part) for part in str(args.workers).split(",") if part]
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"the benchmark needs PostgreSQL; DATABASE_URL is {url!r}")
    load_before = os.getloadavg()[0]
    http_rate = 0.0
    if args.http_events:
        print(f"HTTP ingest of {args.http_events:,} events (bench/ingest.py) ...", flush=True)
        http_rate = _http_ingest_rate(url, args.http_events)
    _setup(url)

    moto = MotoServer()
    try:
        group = f"/bench/export-{int(time.time())}"
        print(
            f"ingest: {args.rounds} x {len(VARIANTS)} runs of {args.ingest_records:,} events ...",
            flush=True,
        )
        try:
            ingest = _ingest_rounds(args.ingest_records, args.rounds, group, moto.url)
        finally:
            _trigger(on=True)
        drains = [_store_and_drain(args.records, args.streams, w, moto) for w in workers]
    finally:
        moto.stop()
    target = http_rate or INGEST_TARGET
    source = "HTTP ingest in this run" if http_rate else "the reference HTTP figure"
    baseline = ingest["no trigger"]
    print()
    print("ingest through audit.recording, batches of 500 (median events/s):")
    for variant, found in ingest.items():
        cost = "" if variant == "no trigger" else f"  ({(baseline / found - 1) * 100:+.1f}% time)"
        print(f"  {variant:<36}{found:>10,.0f}{cost}")
    if http_rate:
        print(f"HTTP ingest (bench/ingest.py, {args.http_events:,} events): {http_rate:,.0f}/s")
    for drained in drains:
        per_cpu = drained.sent / drained.worker_cpu if drained.worker_cpu else 0.0
        print(
            f"drain of {args.records:,} records to {args.streams} stream(s) with "
            f"{drained.workers} worker(s):"
        )
        print(f"  {'time until the outbox is empty (s)':<36}{drained.seconds:>10.2f}")
        print(f"  {'records/s':<36}{drained.rate:>10,.0f}")
        print(
            f"  {'exporter CPU (s)':<36}{drained.worker_cpu:>10.2f}  "
            f"({per_cpu:,.0f} records per CPU second)"
        )
        print(f"  {'moto CPU (s), the CloudWatch stand-in':<36}{drained.moto_cpu:>10.2f}")
        print(f"  {'every record delivered exactly once':<36}{drained.once!s:>10}")
        print(f"  {'records resent (reported)':<36}{drained.resent:>10,}")
        print(f"  {'drain / ' + source:<36}{drained.rate / target:>10.2f}")
        if drained.errors or drained.left:
            print(f"  errors: {drained.errors}; {drained.left} records left in the outbox")
    single = next((d for d in drains if d.workers == 1), None)
    if single is not None:
        verdict = "met" if single.rate >= target else "TARGET MISSED"
        print(
            f"target: one worker drains at least as fast as {source} ({target:,.0f}/s): "
            f"{single.rate / target:.2f}x {verdict}"
        )
        for drained in drains:
            if drained.workers > 1 and single.rate:
                print(
                    f"{drained.workers} workers drain {drained.rate / single.rate:.2f}x "
                    "as fast as one"
                )
    print(f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    if args.json:
        print(
            json.dumps(
                {
                    "records": args.records,
                    "streams": args.streams,
                    "ingest_events_per_second": {k: round(v) for k, v in ingest.items()},
                    "http_ingest_events_per_second": round(http_rate),
                    "drains": [
                        {
                            "workers": d.workers,
                            "seconds": round(d.seconds, 3),
                            "records_per_second": round(d.rate),
                            "exporter_cpu_seconds": round(d.worker_cpu, 2),
                            "moto_cpu_seconds": round(d.moto_cpu, 2),
                            "delivered_once": d.once,
                            "resent": d.resent,
                        }
                        for d in drains
                    ],
                    "target": round(target),
                }
            )
        )
    ok = all(not d.errors and not d.left and d.once for d in drains)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
