"""Slow clients do not stall the production server.

Starts the real ``gunicorn auditproj.wsgi`` from the venv, in the repository root so
that it reads the shipped ``gunicorn.conf.py``, against the test database. Twenty
connections then send a request one header line a second (slowloris) while ordinary
requests, a page and an authenticated API call, must each be answered within two
seconds.

To see what it guards against, give the server other arguments (they override the
configuration file), e.g. gunicorn's default sync workers (``--threads 1`` too: with
more than one thread gunicorn runs gthread whatever the worker class says):

    AUDIT_SERVING_TEST_ARGS="--worker-class sync --workers 2 --threads 1" \
        pytest tests/test_serving.py
"""

from __future__ import annotations

import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.live_servers import database_url

ROOT = Path(__file__).resolve().parent.parent

SLOW_CLIENTS = 20
ATTACK_SECONDS = 8.0
ANSWER_WITHIN = 2.0  # seconds, for each ordinary request
BOOT_WITHIN = 30.0

# Variables that would change the shipped configuration; the test runs it as it is.
_SERVER_VARIABLES = ("BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gunicorn() -> list[str]:
    script = Path(sys.executable).with_name("gunicorn")  # the venv's, beside its python
    return [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]


class Server:
    """``gunicorn auditproj.wsgi`` in its own process group, stopped whatever happens."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="test-serving-", suffix=".log")  # noqa: SIM115
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in _SERVER_VARIABLES and not key.startswith("GUNICORN_")
        }
        env.update(
            DATABASE_URL=database_url(),
            DJANGO_SETTINGS_MODULE="auditproj.settings",
            DEBUG="0",
            PORT=str(self.port),  # read by gunicorn.conf.py
        )
        env.pop("REDIS_URL", None)
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL  # the test's own database
        extra = shlex.split(os.environ.get("AUDIT_SERVING_TEST_ARGS", ""))
        self.process = subprocess.Popen(
            [*_gunicorn(), "auditproj.wsgi", *extra],
            cwd=ROOT,  # where gunicorn finds gunicorn.conf.py
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the workers go down with the master
        )

    def wait_until_answering(self) -> None:
        deadline = time.monotonic() + BOOT_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if self.get("/login/").status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer within {BOOT_WITHIN:.0f} s:\n{self.log_text()}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=ANSWER_WITHIN)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response
        finally:
            conn.close()

    def log_text(self, last: int = 4000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-last:]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self.log.close()


class SlowClients:
    """Connections that start a request and send one more header line every second."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self.sockets: list[socket.socket] = []
        self.errors: list[str] = []
        self.lines = 0
        self.stopping = threading.Event()
        try:
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n".encode())
                self.sockets.append(sock)
        except BaseException:
            self.close()
            raise
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stopping.wait(1.0):
            self.lines += 1
            for number, sock in enumerate(self.sockets):
                try:
                    sock.sendall(f"X-Slow-{self.lines}: {number}\r\n".encode())
                except OSError as exc:  # the server closed it: not the attack meant
                    self.errors.append(f"client {number}, line {self.lines}: {exc!r}")

    def finish(self) -> list[str]:
        """End each request and read its status line: the server held them all."""
        self.stopping.set()
        self.thread.join()
        for sock in self.sockets:
            sock.sendall(b"\r\n")
        statuses = []
        for sock in self.sockets:
            try:
                statuses.append(sock.recv(64).split(b"\r\n", 1)[0].decode())
            except OSError as exc:
                statuses.append(repr(exc))
        return statuses

    def close(self) -> None:
        self.stopping.set()
        for sock in self.sockets:
            sock.close()


@pytest.mark.django_db(transaction=True)
def test_slow_clients_leave_the_server_answering_others(token) -> None:
    server = Server()
    slow = None
    try:
        server.wait_until_answering()
        auth = {"Authorization": f"Token {token.key}"}
        assert server.get("/api/audit/config/", auth).status == 200

        slow = SlowClients(server.host, server.port, SLOW_CLIENTS)
        time.sleep(1.0)  # every slow connection accepted and holding its thread

        answered: list[float] = []
        failures: list[str] = []
        requests = [("/login/", {}), ("/api/audit/config/", auth)]
        end = time.monotonic() + ATTACK_SECONDS
        while time.monotonic() < end:
            path, headers = requests[(len(answered) + len(failures)) % 2]
            started = time.monotonic()
            try:
                status = server.get(path, headers).status
            except OSError as exc:  # TimeoutError: not answered within ANSWER_WITHIN
                failures.append(f"{path}: {exc!r} after {time.monotonic() - started:.1f} s")
                continue
            took = time.monotonic() - started
            if status != 200 or took >= ANSWER_WITHIN:
                failures.append(f"{path}: {status} in {took:.2f} s")
            answered.append(took)
            time.sleep(0.05)

        assert not failures, (
            f"{len(failures)} of {len(failures) + len(answered)} requests not answered "
            f"within {ANSWER_WITHIN} s while {SLOW_CLIENTS} slow clients were connected: "
            f"{failures[:5]}\n--- gunicorn ---\n{server.log_text()}"
        )
        assert len(answered) >= 20, answered
        assert not slow.errors, slow.errors
        assert slow.lines >= ATTACK_SECONDS - 1  # they kept trickling the whole time
        statuses = slow.finish()
        assert all(status.startswith("HTTP/1.1 ") for status in statuses), statuses
        assert "Using worker: gthread" in server.log_text(last=100_000)  # the shipped config
        print(
            f"{len(answered)} requests answered beside {SLOW_CLIENTS} slow clients, "
            f"slowest in {max(answered):.3f} s"
        )
    finally:
        if slow is not None:
            slow.close()
        server.stop()
