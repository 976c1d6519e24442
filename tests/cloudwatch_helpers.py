"""Shared parts of the CloudWatch export tests: moto's server on 127.0.0.1 (real HTTP,
real boto3 with dummy keys), and helpers to configure the export and read back what
arrived. No test ever talks to AWS: every client gets moto's URL or a Stubber."""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from django.core.management import call_command

from cloudwatch_export import export_settings
from cloudwatch_export.models import ExportSettings

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"

_server: Any = None
_lock = threading.Lock()


def moto_url() -> str:
    """The URL of the one moto server of this test process, started on first use and
    left running until the process ends (a daemon thread)."""
    global _server
    with _lock:
        if _server is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            _server = server
        host, port = _server.get_host_and_port()
    return f"http://{host}:{port}"


def start_moto_on(port: int) -> Any:
    """Another moto server on a given port (same in-process backend, so the same
    data): the "endpoint comes back" half of the outage test."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def logs_client(url: str | None = None) -> Any:
    return boto3.session.Session().client(
        "logs",
        region_name=REGION,
        endpoint_url=url or moto_url(),
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def unique_group() -> str:
    """A log group of this test alone: moto's state lives as long as the process."""
    return f"/audit-tests/{uuid.uuid4().hex[:12]}"


def configure(
    mapping: dict[str, str],
    *,
    group: str | None = None,
    url: str | None = None,
    message_format: str = "json",
    enabled: bool = True,
) -> ExportSettings:
    """Map types (created if a transactional test's flush removed the seeded ones)."""
    from audit.models import EventType

    for name in mapping:
        EventType.objects.get_or_create(name=name)
    return export_settings.apply(
        export_settings.Changes(
            enabled=enabled,
            log_group=group or unique_group(),
            region=REGION,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            endpoint_url=moto_url() if url is None else url,
            message_format=message_format,
            mapping=mapping,
        )
    )


def events_in(group: str, stream: str, url: str | None = None) -> list[dict[str, Any]]:
    """Every event of one stream, oldest first, read back through the API."""
    logs = logs_client(url)
    found: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
            "limit": 10_000,
        }
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        found += page["events"]
        if not page["events"] or page.get("nextForwardToken") == token:
            return found
        token = page["nextForwardToken"]


def streams_of(group: str, url: str | None = None) -> set[str]:
    answer = logs_client(url).describe_log_streams(logGroupName=group)
    return {stream["logStreamName"] for stream in answer["logStreams"]}


def record_ids(events: Iterable[dict[str, Any]]) -> list[int]:
    """The record id each JSON message carries."""
    import json

    return [json.loads(event["message"])["id"] for event in events]


def run_configure(*args: str, stdin: str = "") -> str:
    """``manage.py cloudwatch_configure ARGS`` with ``stdin`` as standard input; its output."""
    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("cloudwatch_configure", *args, stdout=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def use_development_key(settings: Any) -> str:
    """Put back what a deployment without SECRET_KEY runs with (the test session has a
    key of its own, see conftest): the development key, no AUDIT_ENCRYPTION_KEY, DEBUG
    off. ``settings`` is pytest-django's fixture, which restores it all afterwards."""
    settings.SECRET_KEY = settings.AUDIT_DEVELOPMENT_SECRET_KEY
    settings.AUDIT_ENCRYPTION_KEY = ""
    settings.DEBUG = False
    return settings.SECRET_KEY


class MotoProcess:
    """moto's standalone server in a process of its own (``moto_server`` of the venv),
    so that a test can stop it dead with SIGSTOP (the kernel still accepts connections
    and requests, nothing answers) and let it go on with SIGCONT."""

    def __init__(self) -> None:
        self.port = free_port()
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
                    self.stop()
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.resume()  # a stopped process would not act on SIGTERM until continued
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait(10)


class SlowProxy:
    """A TCP proxy on 127.0.0.1 in front of ``port`` that holds every answer back for
    ``delay`` seconds, as a far CloudWatch would: the request has arrived, and been
    stored, well before the client hears so."""

    def __init__(self, port: int, delay: float) -> None:
        self.target, self.delay = port, delay
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self.sockets += [client, upstream]
            asked = threading.Event()
            threading.Thread(
                target=self._requests, args=(client, upstream, asked), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(upstream, client, asked), daemon=True
            ).start()

    @staticmethod
    def _requests(source: socket.socket, target: socket.socket, asked: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                asked.set()
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(target)

    def _answers(
        self, source: socket.socket, target: socket.socket, asked: threading.Event
    ) -> None:
        try:
            while data := source.recv(65536):
                if asked.is_set():  # the first bytes of an answer: hold them back
                    asked.clear()
                    time.sleep(self.delay)
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(target)

    def close(self) -> None:
        _close(self.server)
        for sock in self.sockets:
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Flaky:
    """A boto3 CloudWatch Logs client whose first ``PutLogEvents`` calls fail with
    ``errors`` (exceptions raised in turn, optionally after passing the call on, as a
    request that reached CloudWatch but whose answer was lost); all else goes through.
    ``calls`` lists the events of every PutLogEvents call, in order."""

    def __init__(self, logs: Any, *errors: BaseException, deliver_first: bool = False) -> None:
        self.logs, self.errors, self.deliver_first = logs, list(errors), deliver_first
        self.calls: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def put_log_events(self, **kwargs: Any) -> Any:
        with self.lock:
            self.calls.append(kwargs["logEvents"])
            error = self.errors.pop(0) if self.errors else None
        if error is None:
            return self.logs.put_log_events(**kwargs)
        if self.deliver_first:
            self.logs.put_log_events(**kwargs)
        raise error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logs, name)


def read_timeout(url: str = "http://127.0.0.1:9/") -> BaseException:
    from botocore.exceptions import ReadTimeoutError

    return ReadTimeoutError(endpoint_url=url)


def connect_refused(url: str = "http://127.0.0.1:9/") -> BaseException:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url=url)


def create_stream(group: str, stream: str, url: str | None = None) -> None:
    """The group and stream made beforehand, so that the first PutLogEvents lands."""
    logs = logs_client(url)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)


def settings_form(settings: ExportSettings, **values: Any) -> dict[str, Any]:
    """The export settings' admin form as the browser posts it, the map rows and one
    empty row included; ``values`` replace fields (None leaves a field out)."""
    rows = list(settings.mappings.order_by("id"))
    data: dict[str, Any] = {
        "enabled": "on" if settings.enabled else "",
        "log_group": settings.log_group,
        "region": settings.region,
        "access_key": settings.access_key,
        "secret_key": "",
        "endpoint_url": settings.endpoint_url,
        "message_format": settings.message_format,
        "seal_stream": settings.seal_stream,
        "mappings-TOTAL_FORMS": str(len(rows) + 1),
        "mappings-INITIAL_FORMS": str(len(rows)),
        "mappings-MIN_NUM_FORMS": "0",
        "mappings-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, row in enumerate(rows):
        data |= {
            f"mappings-{index}-id": str(row.pk),
            f"mappings-{index}-settings": str(settings.pk),
            f"mappings-{index}-event_type": str(row.event_type_id),
            f"mappings-{index}-stream": row.stream,
        }
    data |= {f"mappings-{len(rows)}-settings": str(settings.pk)}
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}
