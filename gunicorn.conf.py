"""Production server settings, read by ``gunicorn auditproj.wsgi`` from the working
directory (``make serve`` runs it from the repository root).

Why threads: gunicorn's default ``sync`` worker serves one connection at a time from
its first byte to its last, so a handful of clients that send their headers slowly (a
line a second) hold every worker and nobody else is answered. The ``gthread`` worker
keeps a pool of threads per process: a kept-alive connection waits in the worker's
poller without a thread (so does a new one that sent nothing for 5 s), but a connection
that has started sending holds one thread until its request is complete (gunicorn puts
no time limit on reading the headers). So the number of slow clients the server absorbs
is ``workers x threads`` minus the requests in flight (80 here on 2 cores); beyond that,
put a buffering proxy (nginx) in front, which receives the whole request before it
passes it on.

Every value can be changed from the environment; the command line
(``gunicorn auditproj.wsgi --workers 3``) and ``GUNICORN_CMD_ARGS`` override this file.
"""

from __future__ import annotations

import os


def _positive_int(name: str, default: int, *, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise RuntimeError(f"{name} must be at least {minimum}, not {value}")
    return value


def _cores() -> int:
    """Cores this process may run on (a cpuset counts; a CFS quota does not: set
    GUNICORN_WORKERS in a container limited by quota)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _bind() -> list[str]:
    explicit = os.environ.get("BIND", "").strip()
    if explicit:
        return [address.strip() for address in explicit.split(",") if address.strip()]
    return [f"127.0.0.1:{_positive_int('PORT', 8000)}"]


wsgi_app = "auditproj.wsgi"
bind = _bind()

# Processes: the usual 2 x cores + 1 (5 on 2 cores), at most 8: with the threads below
# that is up to 128 database connections (see threads).
worker_class = "gthread"
workers = _positive_int(
    "GUNICORN_WORKERS", _positive_int("WEB_CONCURRENCY", min(2 * _cores() + 1, 8))
)
# Threads per process: each slow client holds one from its first byte to the end of its
# request, so these are sized for tens of them (5 x 16 = 80 threads on 2 cores), not
# for CPU (the GIL runs one thread of a process at a time). Threads cost little memory
# while idle and are started only when needed; each one that has served a request keeps
# its own database connection open (DB_CONN_MAX_AGE), so workers x threads is also the
# most connections this server opens to PostgreSQL: keep it under max_connections.
threads = _positive_int("GUNICORN_THREADS", 16)
# Connections one process takes at most. At this limit it stops accepting and the
# kernel keeps the next connection for a process that has room. Equal to the threads,
# a process never takes a connection it has no free thread for, however unevenly the
# connections are spread (whichever process calls accept() first wins; 40 slow clients
# against 5 processes put 19 on one of them here). The cost: no keep-alive (every
# response closes its connection, as the sync worker did). Raising it above the
# threads keeps that many idle connections alive per process, and lets a process whose
# threads are all held queue that many new connections behind them.
worker_connections = _positive_int("GUNICORN_WORKER_CONNECTIONS", threads)
# Seconds an idle kept-alive connection stays open (in the poller, without a thread),
# when worker_connections leaves room for any; and how long a connection that sent
# nothing for 5 s waits in the poller before it is closed. 0 when there is no room for
# kept-alive connections: gunicorn would warn that it cannot keep any.
keepalive = _positive_int("GUNICORN_KEEPALIVE", 5 if worker_connections > threads else 0, minimum=0)


def _follow_threads(server: object) -> None:
    """``--threads`` on the command line: worker_connections and keepalive follow it as
    they follow GUNICORN_THREADS, unless they were given too (else 32 threads would take
    16 connections)."""
    cfg = server.cfg  # type: ignore[attr-defined]
    if cfg.worker_connections == worker_connections and not _given("GUNICORN_WORKER_CONNECTIONS"):
        cfg.set("worker_connections", cfg.threads)
        if cfg.keepalive == keepalive and not _given("GUNICORN_KEEPALIVE"):
            cfg.set("keepalive", 0)


def _given(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


on_starting = on_reload = _follow_threads

# A worker whose main loop is silent this long (stuck, not merely busy: with threads the
# heartbeat comes from the loop, not from a request) is killed and replaced.
timeout = _positive_int("GUNICORN_TIMEOUT", 30)
# On SIGTERM or a restart, requests in flight get this long to finish (a slow client's
# too); keep it under the orchestrator's own grace period (Docker stop: 10 s, Kubernetes:
# 30 s).
graceful_timeout = _positive_int("GUNICORN_GRACEFUL_TIMEOUT", 20)

# Replace each worker after about this many requests (0: never), staggered by the
# jitter so that they do not all restart at once: a bound on slow memory growth.
max_requests = _positive_int("GUNICORN_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = _positive_int("GUNICORN_MAX_REQUESTS_JITTER", 200, minimum=0)

# What one request may send before gunicorn answers 400/431: bounds the memory a client
# can make a thread hold, not the time (see the module docstring). The API's longest
# URLs (filters and a pagination cursor) stay far below 4 KiB.
limit_request_line = _positive_int("GUNICORN_LIMIT_REQUEST_LINE", 4094, minimum=0)
limit_request_fields = _positive_int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
limit_request_field_size = _positive_int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190, minimum=0)

# Access log on stdout, errors on stderr, for the container or systemd's journal.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# The worker heartbeat file in memory: on a disk-backed /tmp (many containers) its
# fchmod calls can stall a worker.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicorn's control socket (``gunicornc``) only when asked for: its default path,
# ~/.gunicorn/gunicorn.ctl, is one for every instance of the user, so a second server
# (a test, a benchmark) would take it over and remove it when it stops.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True
