"""Schemathesis over the OpenAPI document (``/api/schema/``): no operation answers 5xx.

The schemathesis CLI runs from a venv of its own (``.venv-schemathesis``, made by
``make schemathesis-venv``): it needs Python 3.12, because its coverage phase trips a
CPython 3.11.7 ``ast`` bug on this machine, and the project runs on 3.11. It runs
against pytest-django's live server (real HTTP, the test database), twice: with a
staff user's token and with a plain user's, each with a fixed seed, every phase
(examples, coverage, fuzzing, stateful) and a time budget, and the only check is
``not_a_server_error``: 400, 401, 403, 404, 405, 413 and 429 are all fine answers to
generated input, a 5xx never is. The data the paths need (entities of every catalog
kind, records, sessions, event types) exists before the run, and schemathesis draws
path ids from it, so detail, edit and action endpoints are reached, not only 404.

Without the venv the test skips, unless ``AUDIT_REQUIRE_SCHEMATHESIS=1`` (CI) makes
that a failure. ``AUDIT_SCHEMATHESIS_SECONDS`` sets each run's budget (default 50) and
``AUDIT_SCHEMATHESIS_SEED`` its seed, for a longer or a different search by hand.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from audit import logger
from audit.models import EventType, UserSession
from catalog.models import Connection, Job, Notebook, PredictiveModel, Project, Query, Script

pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
ST = ROOT / ".venv-schemathesis" / "bin" / "st"
SEED = int(os.environ.get("AUDIT_SCHEMATHESIS_SEED", "20261201"))
BUDGET = int(os.environ.get("AUDIT_SCHEMATHESIS_SECONDS", "50"))


def _schemathesis() -> Path:
    if ST.exists():
        return ST
    message = f"schemathesis is not installed at {ST}: run `make schemathesis-venv`"
    if os.environ.get("AUDIT_REQUIRE_SCHEMATHESIS") == "1":
        pytest.fail(message + " (AUDIT_REQUIRE_SCHEMATHESIS=1)")
    pytest.skip(message)


def _world(base_url: str) -> dict[str, Any]:
    """Two people with tokens and two of every catalog kind for the paths to find (the
    staff run may delete some; the other run still finds the rest)."""
    staff = User.objects.create_user("admin", "admin@example.com", "pw", is_staff=True)
    alice = User.objects.create_user("alice", "alice@example.com", "pw")
    bob = User.objects.create_user("bob", "bob@example.com", "pw")
    team = Group.objects.create(name="analysts")
    alice.groups.add(team)
    ids: dict[str, list[str]] = {}
    for n, owner in enumerate((alice, bob)):
        project = Project.objects.create(name=f"Sales {n}", owner=owner)
        project.shared_with_groups.add(team)
        connection = Connection.objects.create(
            name=f"Northwind {n}", owner=owner, project=project, data_source="postgres"
        )
        query = Query.objects.create(
            name=f"Top {n}", owner=owner, project=project, connection=connection, text="SELECT 1"
        )
        job = Job.objects.create(name=f"Nightly {n}", owner=owner, project=project)
        job.queries.add(query)
        made = {
            "projects": project,
            "connections": connection,
            "queries": query,
            "jobs": job,
            "scripts": Script.objects.create(name=f"Clean {n}", owner=owner, project=project),
            "predictive-models": PredictiveModel.objects.create(
                name=f"Churn {n}", owner=owner, method="xgboost"
            ),
            "notebooks": Notebook.objects.create(name=f"Explore {n}", owner=owner),
        }
        for plural, entity in made.items():
            ids.setdefault(plural, []).append(str(entity.pk))
    tokens = {
        "staff": Token.objects.create(user=staff).key,
        "user": Token.objects.create(user=alice).key,
    }
    # Records posted over HTTP (so the token's api session exists) and from Python.
    batch = [
        {"type": "log", "message": "hello", "params": {"n": 1}},
        {"type": "query-start", "entities": [{"type": "query", "id": ids["queries"][0]}]},
        {"type": "error", "message": "Boom", "stackTrace": "Error: x\n at f (a.js:1:2)"},
    ]
    for key in tokens.values():
        posted = httpx.post(
            f"{base_url}/api/audit/events/",
            json=batch,
            headers={"Authorization": f"Token {key}"},
            timeout=30,
        )
        assert posted.status_code == 202, posted.text
    logger.log("project-opened", "Opened", entities=[("project", ids["projects"][0])], user=alice)
    logger.log("entity-shared", "Shared", entities=[team], user=bob)
    return {
        "tokens": tokens,
        "ids": ids,
        "kinds": ["project", "query", "connection", "group", "user", "notebook"],
        "objects": [ids["projects"][0], ids["queries"][0], str(team.pk), str(alice.pk)],
        "sessions": [str(s.uuid) for s in UserSession.objects.all()],
        "types": list(EventType.objects.order_by("name").values_list("name", flat=True)[:20]),
    }


def _config(world: dict[str, Any], path: Path) -> Path:
    """A schemathesis.toml that draws path parameters (most of the time) from what
    exists: each catalog kind's ids for its own paths, sessions, types, entities."""

    def draw(dictionary: str) -> str:
        return f'{{ dictionary = "{dictionary}", probability = 0.8 }}'

    lines = []
    dictionaries = {f"ids-{plural}": values for plural, values in world["ids"].items()}
    for name in ("kinds", "objects", "sessions", "types"):
        dictionaries[name] = world[name]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines += [
        "[parameters]",
        f'"path.kind" = {draw("kinds")}',
        f'"path.object_id" = {draw("objects")}',
        f'"path.uuid" = {draw("sessions")}',
        f'"path.name" = {draw("types")}',
        "",
    ]
    for plural in world["ids"]:
        lines += [
            "[[operations]]",
            f'include-path-regex = "^/api/catalog/{plural}/"',
            f'parameters = {{ "path.id" = {draw(f"ids-{plural}")} }}',
            "",
        ]
    path.write_text("\n".join(lines))
    return path


@dataclass
class Run:
    """One schemathesis run: its console report and its JSON report."""

    who: str
    code: int
    output: str
    report: dict[str, Any]
    seconds: float

    @property
    def server_errors(self) -> list[dict[str, Any]]:
        """The failures of ``not_a_server_error`` (ST101): a 5xx answer."""
        return [f for f in self.report.get("failures", []) if f.get("code") == "ST101"]

    @property
    def broken(self) -> str | None:
        """Why the run itself cannot be trusted, if it cannot: it did not finish, or
        tested nothing. Errors that are not answers (the test server closing a
        connection on a 70 KB header, with its own 431) are shown, not failed on."""
        if not self.report:
            return f"no report (exit {self.code})"
        if not self.report.get("complete"):
            return f"did not complete (stop reason {self.report.get('stop_reason')})"
        if not self.report.get("operations", {}).get("tested"):
            return "tested no operation"
        return None

    def summary(self) -> str:
        return self.output[self.output.find("SUMMARY") :] if "SUMMARY" in self.output else ""


def _run(st: Path, base_url: str, who: str, token: str, config: Path, cwd: Path) -> Run:
    report_path = cwd / f"report-{who}.json"
    command = [
        str(st),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/schema/",
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-time",
        str(BUDGET),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--continue-on-failure",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
    ]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=BUDGET + 120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        check=False,
    )
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Run(who, done.returncode, done.stdout + done.stderr, report, time.monotonic() - started)


@contextmanager
def _no_delay(live_server: Any) -> Iterator[None]:
    """Sets TCP_NODELAY on the live server's connections for the block.

    Django's test server sends a response's headers and its body in two writes; on a
    kept-alive connection Nagle's algorithm holds the second until the client ACKs the
    first, which the client delays by some 40 ms: each request then costs 45 ms instead
    of 4, and the time budget buys a tenth of the requests."""
    httpd = live_server.thread.httpd
    accept = httpd.get_request

    def get_request() -> tuple[socket.socket, Any]:
        connection, address = accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    httpd.get_request = get_request
    try:
        yield
    finally:
        del httpd.get_request


def test_no_operation_answers_a_server_error(live_server: Any, tmp_path: Path) -> None:
    st = _schemathesis()
    world = _world(live_server.url)
    config = _config(world, tmp_path / "schemathesis.toml")
    runs = []
    with _no_delay(live_server):
        for who in ("user", "staff"):  # staff last: it may delete what the user run reads
            runs.append(_run(st, live_server.url, who, world["tokens"][who], config, tmp_path))
    timing = ", ".join(f"{run.who} {run.seconds:.0f} s" for run in runs)
    bad = [run for run in runs if run.server_errors or run.broken]
    assert not bad, f"schemathesis ({timing}):\n\n" + "\n\n".join(
        f"===== as {run.who}: {run.broken or 'server errors'} (exit {run.code}) =====\n"
        + run.output
        for run in bad
    )
    for run in runs:  # shown with -s
        print(f"===== schemathesis as {run.who} =====\n{run.summary()}")
    print(f"schemathesis: {timing}")
