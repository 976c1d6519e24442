"""Demo data: users, groups and four weeks of plausible activity (``manage.py seed_demo``).

The point is a first run that looks like a platform people use: several browser
sessions a week per person, each a short story (open a project, edit and run a
query, look at a chart, share it, hit an error now and then), plus a server process
that runs nightly jobs. Everything is written through the recording service
(``record_events``), in the batches a browser logger would send, so the demo also
exercises the real write path. Seeding is idempotent: users and groups are created
once, and the activity only when no earlier run left its sessions behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .context import AuditContext, SessionRef, new_request_id
from .models import SessionKind, Source, UserSession
from .recording import build_event, record_events
from .validation import ValidEvent

SEED_CLIENT = "seed_demo"  # marks the sessions this module made: the idempotency key
WEEKS = 4
GROUPS = ("analysts", "engineers", "viewers")
BATCH_WINDOW = timedelta(minutes=15)  # events of a session stored per call, at most


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    full_name: str
    persona: str
    groups: tuple[str, ...] = ()
    superuser: bool = False
    sessions_per_week: tuple[int, int] = (4, 7)


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "admin-demo", "Ada Admin", "admin", (), True, (3, 5)),
    DemoUser("alice", "alice-demo", "Alice Martin", "analyst", ("analysts",), False, (8, 12)),
    DemoUser("bob", "bob-demo", "Bob Chen", "analyst", ("analysts", "engineers"), False, (6, 9)),
    DemoUser("carol", "carol-demo", "Carol Novak", "engineer", ("engineers",), False, (6, 9)),
    DemoUser("dave", "dave-demo", "Dave Okafor", "viewer", ("viewers",), False, (3, 6)),
)

# What the platform holds, by name (the catalog's entities arrive in a later app).
PROJECTS = (
    "Sales Q3",
    "Churn analysis",
    "Clinical trial CT-204",
    "Marketing funnel",
    "Supply chain",
    "Assay results",
)
QUERIES = (
    "Top customers by revenue",
    "Orders last 30 days",
    "Churned accounts",
    "Compound activity by target",
    "Inventory below reorder point",
    "Weekly active users",
)
CONNECTIONS = (
    "Northwind (PostgreSQL)",
    "Warehouse (Snowflake)",
    "ChEMBL (PostgreSQL)",
    "S3: lab-results",
)
VIEWERS = (
    "Grid",
    "Scatter plot",
    "Histogram",
    "Line chart",
    "Bar chart",
    "Box plot",
    "Pie chart",
    "Trellis plot",
)
MENU_ITEMS = (
    "Browse | Projects",
    "Data | Queries",
    "Data | Connections",
    "Functions | Scripts",
    "ML | Models",
    "Tools | Notebooks",
    "Help | Tutorials",
)
DIALOGS = (
    "Add viewer",
    "Filter",
    "Aggregate rows",
    "Join tables",
    "Export to CSV",
    "Add new column",
)
SCRIPTS = ("normalize_assays.py", "forecast_sales.R", "dedupe_customers.py", "cluster_compounds.py")
NOTEBOOKS = ("Churn exploration", "Assay QC", "Demand forecast")
MODELS = ("Churn classifier", "Solubility regressor", "Demand forecaster")
JOBS = ("Nightly sales refresh", "Assay import", "Weekly churn scoring")
PACKAGES = ("Chem", "PowerPack", "Charts", "Sequence")
TUTORIALS = ("Getting started", "Data access", "Visualizations", "Scripting", "Predictive modeling")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
)
JS_ERRORS = (
    (
        "TypeError: Cannot read properties of undefined (reading 'columns')",
        ("ScatterPlotViewer.render", "viewers.js"),
        ("Viewer.onSizeChanged", "viewers.js"),
        ("ResizeObserver.<anonymous>", "core.js"),
    ),
    (
        "RangeError: Maximum call stack size exceeded",
        ("FilterGroup.apply", "filters.js"),
        ("FilterGroup.apply", "filters.js"),
        ("DataFrame.onFilterChanged", "dataframe.js"),
    ),
    (
        "Error: Query execution timed out after 60000 ms",
        ("QueryRunner.poll", "queries.js"),
        ("async QueryView.run", "queries.js"),
        ("HTMLButtonElement.onclick", "app.js"),
    ),
)


@dataclass(frozen=True)
class Step:
    """One event of a story, before it has a time: what a logger would be told."""

    type: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    entities: tuple[Any, ...] = ()
    level: str | None = None
    stack_trace: str = ""
    source: str = Source.CLIENT


@dataclass
class SeedSummary:
    """What a run did, for the command to print."""

    users_created: list[str] = field(default_factory=list)
    users_existing: list[str] = field(default_factory=list)
    token: str = ""
    sessions: int = 0
    records: int = 0
    activity_existed: bool = False


@dataclass
class Cast:
    """The people and groups the stories may mention."""

    users: dict[str, User]
    groups: dict[str, Group]


# --- people -------------------------------------------------------------------------


def ensure_groups() -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}


def ensure_user(spec: DemoUser, groups: dict[str, Group], joined: datetime) -> tuple[User, bool]:
    """The demo user, created with its known password; an existing one is left as is
    (its password may have been changed on purpose)."""
    user = User.objects.filter(username=spec.username).first()
    if user is not None:
        return user, False
    first, last = spec.full_name.split(" ", 1)
    user = User(
        username=spec.username,
        email=f"{spec.username}@example.com",
        first_name=first,
        last_name=last,
        is_staff=spec.superuser,
        is_superuser=spec.superuser,
        date_joined=joined,
    )
    user.set_password(spec.password)
    user.save()
    user.groups.set([groups[name] for name in spec.groups])
    return user, True


# --- stories ------------------------------------------------------------------------


def _js_stack(rng: random.Random, frames: tuple[tuple[str, str], ...]) -> str:
    """A V8 trace whose line numbers vary: the fingerprint must still group them."""
    lines = [
        f"    at {func} (https://demo.datagrok.local/js/{file}?v=1.{rng.randint(0, 9)}:"
        f"{rng.randint(10, 2000)}:{rng.randint(1, 80)})"
        for func, file in frames
    ]
    return "\n".join(lines)


def _explore_project(rng: random.Random, cast: Cast) -> list[Step]:
    project = rng.choice(PROJECTS)
    steps = [
        Step("main-menu-item-click", "Browse | Projects", {"item": "Browse | Projects"}),
        Step(
            "project-opened",
            f"Opened project {project}",
            {"project": project, "tables": rng.randint(1, 6)},
        ),
    ]
    for viewer in rng.sample(VIEWERS, rng.randint(1, 3)):
        steps.append(_viewer(rng, viewer, project))
    return steps


def _viewer(rng: random.Random, viewer: str, project: str) -> Step:
    rows = rng.randint(200, 250_000)
    return Step(
        "viewer-rendered",
        f"{viewer} rendered",
        {"viewer": viewer, "project": project, "rows": rows, "renderMs": rng.randint(8, 900)},
    )


def _query_work(rng: random.Random, cast: Cast) -> list[Step]:
    query, connection = rng.choice(QUERIES), rng.choice(CONNECTIONS)
    rows, ms = rng.randint(10, 500_000), rng.randint(40, 9000)
    steps = [Step("main-menu-item-click", "Data | Queries", {"item": "Data | Queries"})]
    if rng.random() < 0.1:
        steps.append(
            Step(
                "query-created",
                f"Created query {query}",
                {"query": query, "connection": connection},
            )
        )
    steps += [
        Step(
            "query-edited",
            f"Edited query {query}",
            {"query": query, "connection": connection, "changed": ["sql"]},
        ),
        Step(
            "query-start",
            f"Ran query {query}",
            {"query": query, "connection": connection},
            source=Source.SERVER,
        ),
        Step(
            "table-produced",
            f"{query}: {rows:,} rows in {ms:,} ms",
            {"query": query, "rows": rows, "durationMs": ms},
            source=Source.SERVER,
        ),
        _viewer(rng, rng.choice(VIEWERS), query),
    ]
    if ms > 6000:
        steps.append(
            Step(
                "log",
                f"Slow query {query}: {ms:,} ms",
                {"query": query, "durationMs": ms},
                level="warning",
            )
        )
    if rng.random() < 0.15:
        steps.append(Step("query-published", f"Published query {query}", {"query": query}))
    return steps


def _analysis(rng: random.Random, cast: Cast) -> list[Step]:
    dialog = rng.choice(DIALOGS)
    project = rng.choice(PROJECTS)
    return [
        Step("dialog-ok", f"{dialog} dialog confirmed", {"dialog": dialog, "project": project}),
        _viewer(rng, rng.choice(VIEWERS), project),
        Step(
            "log", "Layout saved", {"project": project, "viewers": rng.randint(2, 6)}, level="debug"
        ),
    ]


def _share(rng: random.Random, cast: Cast) -> list[Step]:
    group = cast.groups[rng.choice(GROUPS)]
    project = rng.choice(PROJECTS)
    silent = rng.random() < 0.25
    kind = "entity-shared-silent" if silent else "entity-shared"
    return [
        Step(
            "dialog-ok",
            "Share dialog confirmed",
            {"dialog": "Share", "project": project},
            entities=(("group", group.pk, "shared-with"),),
        ),
        Step(
            kind,
            f"Shared project {project} with {group.name}",
            {"project": project, "access": rng.choice(["view", "edit"]), "notify": not silent},
            entities=(("group", group.pk, "shared-with"),),
        ),
    ]


def _comment(rng: random.Random, cast: Cast) -> list[Step]:
    mentioned = cast.users[rng.choice(["alice", "bob", "carol", "dave"])]
    project = rng.choice(PROJECTS)
    return [
        Step(
            "comment-posted",
            f"Commented on {project}, mentioning @{mentioned.username}",
            {"project": project, "length": rng.randint(12, 400)},
            entities=(("user", mentioned.pk, "mentioned"),),
        )
    ]


def _script_work(rng: random.Random, cast: Cast) -> list[Step]:
    script = rng.choice(SCRIPTS)
    steps = [
        Step("main-menu-item-click", "Functions | Scripts", {"item": "Functions | Scripts"}),
        Step("script-edited", f"Edited script {script}", {"script": script}),
        Step("script-start", f"Ran script {script}", {"script": script}, source=Source.SERVER),
        Step(
            "table-produced",
            f"{script} produced a table",
            {"script": script, "rows": rng.randint(10, 90_000)},
            source=Source.SERVER,
        ),
    ]
    if rng.random() < 0.2:
        steps.append(Step("script-published", f"Published script {script}", {"script": script}))
    return steps


def _job_work(rng: random.Random, cast: Cast) -> list[Step]:
    job = rng.choice(JOBS)
    return [
        Step("job-edited", f"Edited job {job}", {"job": job, "changed": ["schedule"]}),
        Step(
            "job-transformations-edited",
            f"Changed the steps of {job}",
            {"job": job, "steps": rng.randint(2, 9)},
        ),
        Step(
            "job-start",
            f"Started job {job}",
            {"job": job, "trigger": "manual"},
            source=Source.SERVER,
        ),
    ]


def _connection_work(rng: random.Random, cast: Cast) -> list[Step]:
    connection = rng.choice(CONNECTIONS)
    steps = [
        Step("main-menu-item-click", "Data | Connections", {"item": "Data | Connections"}),
        Step(
            "connection-edited",
            f"Edited connection {connection}",
            {"connection": connection, "changed": rng.sample(["host", "db", "timeout"], 1)},
        ),
        Step(
            "dialog-ok",
            "Test connection dialog confirmed",
            {"dialog": "Test connection", "connection": connection, "ok": True},
        ),
    ]
    if rng.random() < 0.2:
        steps.append(
            Step(
                "connection-published",
                f"Published connection {connection}",
                {"connection": connection},
            )
        )
    return steps


def _notebook_work(rng: random.Random, cast: Cast) -> list[Step]:
    notebook = rng.choice(NOTEBOOKS)
    return [
        Step("main-menu-item-click", "Tools | Notebooks", {"item": "Tools | Notebooks"}),
        Step(
            "notebook-edited",
            f"Edited notebook {notebook}",
            {"notebook": notebook, "cells": rng.randint(3, 40)},
        ),
        Step(
            "notebook-start",
            f"Ran notebook {notebook}",
            {"notebook": notebook},
            source=Source.SERVER,
        ),
    ]


def _model_work(rng: random.Random, cast: Cast) -> list[Step]:
    model = rng.choice(MODELS)
    return [
        Step("main-menu-item-click", "ML | Models", {"item": "ML | Models"}),
        Step(
            "predictive-model-start",
            f"Applied model {model}",
            {"model": model, "rows": rng.randint(100, 50_000)},
            source=Source.SERVER,
        ),
        Step(
            "viewer-rendered",
            "Confusion matrix rendered",
            {"viewer": "Confusion matrix", "model": model, "renderMs": rng.randint(5, 200)},
        ),
    ]


def _package_test(rng: random.Random, cast: Cast) -> list[Step]:
    return _package_tested(rng)


def _package_tested(rng: random.Random) -> list[Step]:
    package = rng.choice(PACKAGES)
    passed = rng.randint(20, 140)
    failed = rng.choice([0, 0, 0, 1, 2])
    return [
        Step(
            "package-tested",
            f"{package}: {passed} passed, {failed} failed",
            {"package": package, "passed": passed, "failed": failed},
            level="warning" if failed else None,
            source=Source.SERVER,
        )
    ]


def _invite(rng: random.Random, cast: Cast) -> list[Step]:
    invitee = cast.users[rng.choice(["alice", "bob", "carol", "dave"])]
    group = cast.groups[rng.choice(GROUPS)]
    return [
        Step(
            "user-invited",
            f"Invited {invitee.email} to {group.name}",
            {"email": invitee.email, "group": group.name},
            entities=(("user", invitee.pk, "invitee"), ("group", group.pk, "joined")),
        ),
    ]


def _tutorial(rng: random.Random, cast: Cast) -> list[Step]:
    tutorial = rng.choice(TUTORIALS)
    return [
        Step("main-menu-item-click", "Help | Tutorials", {"item": "Help | Tutorials"}),
        Step(
            "tutorial-completed",
            f"Completed tutorial {tutorial}",
            {"tutorial": tutorial, "minutes": rng.randint(4, 35)},
        ),
    ]


def _error(rng: random.Random, cast: Cast) -> list[Step]:
    message, *frames = rng.choice(JS_ERRORS)
    return [
        Step(
            "error",
            message,
            {
                "url": f"/p/{rng.choice(PROJECTS).lower().replace(' ', '-')}",
                "browser": rng.choice(["Chrome 126", "Firefox 127"]),
            },
            stack_trace=f"{message}\n{_js_stack(rng, tuple(frames))}",
        )
    ]


def _note(rng: random.Random, cast: Cast) -> list[Step]:
    rows = rng.randint(100, 900_000)
    return [
        rng.choice(
            [
                Step("log", f"Loaded {rows:,} rows from cache", {"rows": rows, "cache": "hit"}),
                Step("log", "HELLO WORLD", {"test": "value", "foo": "bar"}),
                Step("log", "Autosave", {"persistent": "value"}, level="debug"),
            ]
        )
    ]


Story = Callable[[random.Random, Cast], list[Step]]

# How often each persona does what (relative weights).
PERSONAS: dict[str, dict[Story, float]] = {
    "analyst": {
        _explore_project: 3,
        _query_work: 4,
        _analysis: 3,
        _share: 1,
        _comment: 1,
        _notebook_work: 0.5,
        _tutorial: 0.2,
        _error: 0.35,
        _note: 1,
    },
    "engineer": {
        _script_work: 3,
        _job_work: 2,
        _connection_work: 1.5,
        _package_test: 1,
        _query_work: 1.5,
        _notebook_work: 1,
        _model_work: 1,
        _error: 0.5,
        _note: 1.5,
    },
    "viewer": {
        _explore_project: 4,
        _analysis: 2,
        _comment: 1,
        _tutorial: 0.4,
        _error: 0.25,
        _note: 0.5,
    },
    "admin": {
        _invite: 1,
        _connection_work: 1,
        _share: 1,
        _explore_project: 1,
        _note: 1,
        _error: 0.2,
    },
}


def story(rng: random.Random, persona: str, cast: Cast) -> list[Step]:
    """One session's events, 5 to 40, as a run of the persona's usual activities."""
    weights = PERSONAS[persona]
    target = int(rng.triangular(5, 40, 28))
    steps: list[Step] = []
    while len(steps) < target:
        steps += rng.choices(list(weights), weights=list(weights.values()))[0](rng, cast)
    return steps[:target]


# --- time ---------------------------------------------------------------------------


@dataclass
class _PlannedSession:
    user: User | None
    kind: str
    start: datetime
    ip: str
    user_agent: str
    steps: list[tuple[datetime, Step]]


def _timed(rng: random.Random, start: datetime, steps: list[Step]) -> list[tuple[datetime, Step]]:
    """Steps with times: people pause between actions; the server answers in seconds."""
    at = start + timedelta(seconds=rng.randint(5, 60))
    timed = []
    for step in steps:
        pause = rng.uniform(0.5, 4) if step.source == Source.SERVER else rng.expovariate(1 / 75)
        at += timedelta(seconds=min(pause, 900))
        timed.append((at, step))
    return timed


def _session_starts(rng: random.Random, spec: DemoUser, today: datetime) -> Iterator[datetime]:
    """Start times over the last ``WEEKS`` weeks, mostly working hours on weekdays; one
    morning, afternoon or evening slot per session so a person's sessions never overlap."""
    slots = ((8, 11), (13, 16), (19, 21))
    for week in range(WEEKS):
        count = rng.randint(*spec.sessions_per_week)
        days = [today - timedelta(days=1 + week * 7 + d) for d in range(7)]
        choices = [
            (day, slot)
            for day in days
            for slot in slots
            if day.weekday() < 5 or rng.random() < 0.25
        ]
        for day, (low, high) in rng.sample(choices, min(count, len(choices))):
            yield day + timedelta(hours=rng.randint(low, high - 1), minutes=rng.randint(0, 59))


def plan_user_sessions(
    rng: random.Random, spec: DemoUser, user: User, cast: Cast, today: datetime
) -> list[_PlannedSession]:
    office_ip = f"10.20.{DEMO_USERS.index(spec) + 1}.{rng.randint(10, 250)}"
    agent = USER_AGENTS[DEMO_USERS.index(spec) % len(USER_AGENTS)]
    planned = []
    for start in sorted(_session_starts(rng, spec, today)):
        ip = (
            office_ip if rng.random() < 0.8 else f"192.168.{rng.randint(0, 3)}.{rng.randint(2, 99)}"
        )
        steps = story(rng, spec.persona, cast)
        planned.append(
            _PlannedSession(user, SessionKind.BROWSER, start, ip, agent, _timed(rng, start, steps))
        )
    return planned


def plan_server_sessions(rng: random.Random, today: datetime) -> list[_PlannedSession]:
    """A worker process per week that runs the nightly jobs: records with no user."""
    planned = []
    for week in range(WEEKS):
        start = today - timedelta(days=7 * (week + 1)) + timedelta(hours=1)
        steps: list[tuple[datetime, Step]] = []
        for night in range(7):
            at = start + timedelta(days=night, minutes=rng.randint(0, 30))
            job = rng.choice(JOBS)
            steps.append(
                (
                    at,
                    Step(
                        "job-start",
                        f"Started job {job}",
                        {"job": job, "trigger": "schedule"},
                        source=Source.SERVER,
                    ),
                )
            )
            if rng.random() < 0.4:
                steps += [(at + timedelta(minutes=2), step) for step in _package_tested(rng)]
            steps.append(
                (
                    at + timedelta(minutes=rng.randint(3, 20)),
                    Step(
                        "log",
                        "Nightly retention check finished",
                        {"deleted": 0, "job": job},
                        source=Source.SERVER,
                    ),
                )
            )
        planned.append(_PlannedSession(None, SessionKind.SERVER, start, "", "", steps))
    return planned


# --- writing ------------------------------------------------------------------------


def _batches(
    steps: list[tuple[datetime, Step]], start: datetime
) -> list[list[tuple[datetime, Step]]]:
    """A session's events in the calls that store them: one per source per
    ``BATCH_WINDOW`` of the session (the browser logger's flushes, and the server's
    writes in between), in the order they would arrive."""
    buckets: dict[tuple[int, str], list[tuple[datetime, Step]]] = {}
    for at, step in steps:
        window = int((at - start) / BATCH_WINDOW)
        buckets.setdefault((window, step.source), []).append((at, step))
    return sorted(buckets.values(), key=lambda batch: batch[-1][0])


def _event(at: datetime, step: Step) -> ValidEvent:
    event = build_event(
        step.type,
        step.message,
        step.params,
        entities=step.entities,
        level=step.level,
        stack_trace=step.stack_trace or None,
    )
    event.client_time = at if step.source == Source.CLIENT else None
    return event


def _session_row(planned: _PlannedSession, rng: random.Random) -> UserSession:
    last = planned.steps[-1][0] if planned.steps else planned.start
    return UserSession(
        user=planned.user,
        kind=planned.kind,
        started_at=planned.start,
        last_seen_at=last,
        ended_at=last + timedelta(minutes=rng.randint(1, 25)),
        ip=planned.ip or None,
        user_agent=planned.user_agent,
        client=SEED_CLIENT,
    )


def write_events(session: UserSession, planned: _PlannedSession, rng: random.Random) -> int:
    """Record a session's events in the batches a client would send; returns how many
    were stored (a type switched off for the user's groups is dropped, as in real use)."""
    ref = SessionRef(pk=session.pk, uuid=session.uuid, user_id=session.user_id)
    stored = 0
    for batch in _batches(planned.steps, planned.start):
        ctx = AuditContext(user=planned.user, session=ref, request_id=new_request_id())
        received = batch[-1][0] + timedelta(milliseconds=rng.randint(80, 1500))
        result = record_events(
            [_event(at, step) for at, step in batch],
            ctx=ctx,
            source=batch[0][1].source,
            at=received,
        )
        stored += len(result.accepted)
    return stored


def activity_exists() -> bool:
    return UserSession.objects.filter(client=SEED_CLIENT).exists()


def seed(*, rng_seed: int = 2024, now: datetime | None = None) -> SeedSummary:
    """Create the demo people and, unless an earlier run did, their activity."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(rng_seed)
    summary = SeedSummary()
    with transaction.atomic():
        groups = ensure_groups()
        users: dict[str, User] = {}
        for spec in DEMO_USERS:
            user, created = ensure_user(spec, groups, today - timedelta(weeks=WEEKS + 1))
            users[spec.username] = user
            (summary.users_created if created else summary.users_existing).append(spec.username)
        summary.token = Token.objects.get_or_create(user=users["alice"])[0].key
    if activity_exists():
        summary.activity_existed = True
        return summary
    cast = Cast(users=users, groups=groups)
    planned = [
        session
        for spec in DEMO_USERS
        for session in plan_user_sessions(rng, spec, users[spec.username], cast, today)
    ]
    planned += plan_server_sessions(rng, today)
    planned.sort(key=lambda plan: plan.start)  # ids then follow time, as in real use
    with transaction.atomic():
        sessions = UserSession.objects.bulk_create([_session_row(p, rng) for p in planned])
        for session, plan in zip(sessions, planned, strict=True):
            summary.records += write_events(session, plan, rng)
    summary.sessions = len(sessions)
    return summary
