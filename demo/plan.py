"""Laying out the demo's weeks: what each person does in each sitting, and when.

Nothing is stored here. The plan is a list of timed steps, each a call of the
platform's own code (``demo.acts``) that ``demo.replay`` makes in time order, so that
every record comes from the path it would come from in real use.

The order of planning:

1. the sittings of every person from the day they join (``demo.calendar``);
2. the newcomers' invitations, in one of the admin's sittings before they join;
3. each entity's life (``demo.inventory``): created by its owner, shared, edited a few
   times, published, commented on, in that order and in the sittings of the people
   concerned;
4. each sitting's own work, by persona: opening projects, rendering viewers, running
   queries, scripts, jobs and models, testing connections, tutorials; only on
   entities the person may see by then, since the server would refuse a link to
   anything else;
5. the recurring errors (``demo.errors``) where their context occurs;
6. the nightly jobs of a server worker, restarted every week.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from catalog import kinds

from . import acts, errors
from .calendar import Plan, Sitting, Step, Worker, sittings
from .inventory import ALL_SPECS, COMMENT_POOL, Spec
from .people import PEOPLE

MIN_STEPS, MAX_STEPS = 4, 30  # a sitting's steps besides the sign-in and sign-out

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
DIALOGS = ("Add viewer", "Filter", "Aggregate rows", "Join tables", "Export to CSV", "Add column")
TUTORIALS = ("Getting started", "Data access", "Visualizations", "Scripting", "Predictive modeling")
MENU = {
    "project": "Browse | Projects",
    "query": "Data | Queries",
    "connection": "Data | Connections",
    "job": "Data | Jobs",
    "script": "Functions | Scripts",
    "predictive-model": "ML | Models",
    "notebook": "Tools | Notebooks",
}
PACKAGES = ("Chem", "PowerPack", "Charts", "Sequence")


class Planner:
    """Places steps in sittings and remembers when each entity came to exist, was shared
    and was published, which decides who may see it from when."""

    def __init__(self, rng: random.Random, first_day: datetime, days: int) -> None:
        self.rng = rng
        self.first_day = first_day
        self.days = days
        self.people = {person.username: person for person in PEOPLE}
        self.by_person: dict[str, list[Sitting]] = {
            person.username: sittings(rng, person, index, first_day, days)
            for index, person in enumerate(PEOPLE)
        }
        self.created: dict[str, datetime] = {}
        self.shared: dict[str, datetime] = {}
        self.published: dict[str, datetime] = {}
        self.specs: dict[str, Spec] = {spec.name: spec for spec in ALL_SPECS}

    # --- time ---------------------------------------------------------------------

    def joined(self, username: str) -> datetime:
        return self.first_day + timedelta(days=self.people[username].joins_on_day)

    def day_of(self, at: datetime) -> int:
        return (at - self.first_day).days

    def sitting_after(
        self, username: str, after: datetime, *, within: int = 10, room: int = 8
    ) -> Sitting | None:
        """One of the next three sittings of ``username`` that start after ``after``
        (within ``within`` days) and still have room; else the next one at all."""
        later = [s for s in self.by_person[username] if s.start > after]
        near = [
            s
            for s in later
            if s.start < after + timedelta(days=within) and s.room(MAX_STEPS) >= room
        ]
        if near:
            return self.rng.choice(near[:3])
        return later[0] if later else None

    def add(
        self,
        sitting: Sitting,
        do: Callable[[Any], None],
        label: str,
        *,
        after: datetime | None = None,
        pause: tuple[float, float] = (20, 240),
    ) -> datetime:
        """Append a step a human pause after the sitting's latest step (and ``after``)."""
        base = max(sitting.latest(), after or sitting.start)
        at = base + timedelta(seconds=self.rng.uniform(*pause))
        sitting.steps.append(Step(at, do, label))
        return at

    # --- who may see what -----------------------------------------------------------

    def visible_from(self, name: str, username: str) -> datetime | None:
        """When ``username`` may first view entity ``name``: its owner and staff from
        its creation, those it is shared with (directly or by group) from the share or
        from joining, everyone from its publication."""
        if name not in self.created:
            return None
        spec, person = self.specs[name], self.people[username]
        times = []
        if username == spec.owner or person.superuser:
            times.append(self.created[name])
        if name in self.shared and (
            username in spec.users or set(person.groups) & set(spec.groups)
        ):
            times.append(max(self.shared[name], self.joined(username)))
        if name in self.published:
            times.append(self.published[name])
        return min(times) if times else None

    def visible(self, username: str, at: datetime, kind: str | None = None) -> list[str]:
        """The entities (of ``kind``) ``username`` may view at ``at``."""
        found = []
        for name, spec in self.specs.items():
            if kind is not None and kinds.of(spec.model).kind != kind:
                continue
            since = self.visible_from(name, username)
            if since is not None and since <= at:
                found.append(name)
        return found


# --- 2. newcomers ---------------------------------------------------------------------


def plan_arrivals(planner: Planner) -> None:
    """The admin invites each newcomer a day to three before they join."""
    for person in PEOPLE:
        if not person.newcomer:
            continue
        joins = planner.joined(person.username)
        before = [
            s
            for s in planner.by_person["admin"]
            if joins - timedelta(days=4) < s.start < joins - timedelta(hours=12)
        ]
        if before:
            sitting = planner.rng.choice(before)
        else:
            start = joins - timedelta(days=1) + timedelta(hours=9, minutes=20)
            sitting = Sitting(planner.people["admin"], start, "10.20.1.10", "")
            sitting.user_agent = planner.by_person["admin"][0].user_agent
            planner.by_person["admin"].append(sitting)
            planner.by_person["admin"].sort(key=lambda s: s.start)
        planner.add(sitting, acts.menu("Admin | Users"), "menu")
        planner.add(sitting, acts.invite(person), f"invite {person.username}")


# --- 3. entities -----------------------------------------------------------------------


def _edits(rng: random.Random, spec: Spec) -> list[tuple[str, Any]]:
    """Each field's later values, fields interleaved at random, each field's in order."""
    turns = [name for name, versions in spec.history.items() for _ in versions[1:]]
    rng.shuffle(turns)
    done: dict[str, int] = defaultdict(int)
    edits = []
    for name in turns:
        done[name] += 1
        edits.append((name, spec.history[name][done[name]]))
    return edits


def plan_entity(planner: Planner, spec: Spec) -> None:
    rng = planner.rng
    earliest = planner.first_day + timedelta(hours=rng.uniform(0, 72))
    for dependency in (spec.project, spec.connection, *spec.queries):
        if dependency:
            earliest = max(earliest, planner.created[dependency])
    owner = spec.owner
    sitting = planner.sitting_after(owner, earliest, within=5)
    if sitting is None:
        return
    kind = kinds.of(spec.model).kind
    planner.add(sitting, acts.menu(MENU[kind]), "menu", after=earliest)
    created = planner.add(sitting, acts.create(spec), f"create {spec.name}", after=earliest)
    planner.created[spec.name] = last = created

    if spec.groups or spec.users:  # shared soon after it was made
        sitting = planner.sitting_after(owner, created, within=4) or sitting
        last = planner.add(
            sitting, acts.share(spec, notify=rng.random() < 0.75), "share", after=created
        )
        planner.shared[spec.name] = last

    for field_name, value in _edits(rng, spec):
        editor = "admin" if rng.random() < 0.1 else owner
        found = planner.sitting_after(editor, last)
        if found is None:
            continue
        last = planner.add(
            found, acts.edit(spec, field_name, value), f"edit {field_name}", after=last
        )

    if spec.published:
        found = planner.sitting_after(owner, last, within=8)
        if found is not None:
            last = planner.add(found, acts.publish(spec), "publish", after=last)
            planner.published[spec.name] = last


def plan_comments(planner: Planner, spec: Spec) -> None:
    rng = planner.rng
    comments = list(spec.comments)
    readers = [
        username
        for username in planner.people
        if username != spec.owner and planner.visible_from(spec.name, username) is not None
    ]
    if readers and rng.random() < 0.5:  # and a passer-by's remark
        comments.append((rng.choice(readers), rng.choice(COMMENT_POOL)))
    after = planner.created.get(spec.name)
    if after is None:
        return
    for author, text in comments:
        since = planner.visible_from(spec.name, author)
        if since is None:
            continue
        after = max(after, since)
        sitting = planner.sitting_after(author, after, within=14)
        if sitting is None:
            continue
        after = planner.add(sitting, acts.comment(spec, text), "comment", after=after)


# --- 4. a sitting's work ---------------------------------------------------------------


Work = Callable[[Planner, Sitting], int]  # adds steps; returns how many


def _pick(planner: Planner, sitting: Sitting, kind: str) -> str | None:
    names = planner.visible(sitting.person.username, sitting.latest(), kind)
    return planner.rng.choice(names) if names else None


def _maybe_error(planner: Planner, sitting: Sitting, context: str, entity: Spec | None) -> int:
    """The recurring errors of ``context`` that strike now, linked to ``entity``."""
    day = planner.day_of(sitting.latest())
    count = 0
    for error in errors.ERRORS:
        strikes = error.context == context and errors.happens(error, day)
        if strikes and planner.rng.random() < error.chance:
            planner.add(sitting, acts.client_error(error, entity), error.key, pause=(1, 6))
            count += 1
    return count


def _explore(planner: Planner, sitting: Sitting) -> int:
    name = _pick(planner, sitting, "project")
    if name is None:
        return 0
    spec = planner.specs[name]
    planner.add(sitting, acts.menu(MENU["project"]), "menu")
    planner.add(sitting, acts.open_project(spec), "open", pause=(3, 20))
    count = 2 + _maybe_error(planner, sitting, "app", spec)
    for viewer in planner.rng.sample(VIEWERS, planner.rng.randint(1, 3)):
        planner.add(sitting, acts.viewer(spec, viewer), "viewer", pause=(2, 40))
        count += 1
        if viewer == "Scatter plot":
            count += _maybe_error(planner, sitting, "viewer", spec)
    return count


def _analyse(planner: Planner, sitting: Sitting) -> int:
    name = _pick(planner, sitting, "project")
    if name is None:
        return 0
    spec = planner.specs[name]
    dialog = planner.rng.choice(DIALOGS)
    planner.add(sitting, acts.dialog(dialog, spec), "dialog")
    count = 1
    if dialog == "Filter":
        count += _maybe_error(planner, sitting, "filter", spec)
    planner.add(sitting, acts.viewer(spec, planner.rng.choice(VIEWERS)), "viewer", pause=(2, 30))
    planner.add(sitting, acts.note("Layout saved", spec, level="debug"), "note", pause=(5, 60))
    return count + 2


def _run(kind: str) -> Work:
    def work(planner: Planner, sitting: Sitting) -> int:
        name = _pick(planner, sitting, kind)
        if name is None:
            return 0
        spec = planner.specs[name]
        planner.add(sitting, acts.menu(MENU[kind]), "menu")
        planner.add(sitting, acts.run(spec), f"run {name}", pause=(5, 90))
        count = 2
        if kind == "query":
            count += _maybe_error(planner, sitting, "query", spec)
            planner.add(sitting, acts.viewer(spec, planner.rng.choice(VIEWERS)), "viewer")
            count += 1
        if kind == "predictive-model":
            planner.add(sitting, acts.viewer(spec, "Confusion matrix"), "viewer", pause=(2, 20))
            count += 1
        return count

    return work


def _test_connection(planner: Planner, sitting: Sitting) -> int:
    name = _pick(planner, sitting, "connection")
    if name is None:
        return 0
    planner.add(sitting, acts.menu(MENU["connection"]), "menu")
    planner.add(sitting, acts.dialog("Test connection", planner.specs[name]), "dialog")
    return 2


def _tutorial(planner: Planner, sitting: Sitting) -> int:
    planner.add(sitting, acts.menu("Help | Tutorials"), "menu")
    planner.add(
        sitting,
        acts.tutorial(planner.rng.choice(TUTORIALS), planner.rng.randint(4, 35)),
        "tutorial",
        pause=(240, 1500),
    )
    return 2


def _note(planner: Planner, sitting: Sitting) -> int:
    name = _pick(planner, sitting, "project")
    rows = planner.rng.randint(100, 900_000)
    spec = planner.specs[name] if name else None
    planner.add(sitting, acts.note(f"Loaded {rows:,} rows from cache", spec), "note")
    return 1


PERSONAS: dict[str, dict[Work, float]] = {
    "analyst": {
        _explore: 3,
        _run("query"): 4,
        _analyse: 3,
        _run("notebook"): 0.5,
        _tutorial: 0.1,
        _note: 1,
    },
    "engineer": {
        _run("script"): 3,
        _run("job"): 2,
        _test_connection: 1.5,
        _run("query"): 1.5,
        _run("notebook"): 1,
        _run("predictive-model"): 1,
        _explore: 1,
        _note: 1.5,
    },
    "viewer": {_explore: 4, _analyse: 2, _tutorial: 0.3, _note: 0.5},
    "admin": {_test_connection: 1, _explore: 1, _run("job"): 0.5, _note: 1},
}


def plan_work(planner: Planner, sitting: Sitting) -> None:
    """Fill the sitting with its person's usual work up to a number of steps between
    ``MIN_STEPS`` and ``MAX_STEPS``; a newcomer's first sittings start with tutorials."""
    rng = planner.rng
    person = sitting.person
    if person.newcomer and sitting.start < planner.joined(person.username) + timedelta(days=3):
        _tutorial(planner, sitting)
    target = max(MIN_STEPS, int(rng.triangular(MIN_STEPS, MAX_STEPS, 18)))
    weights = PERSONAS[person.persona]
    attempts = 0
    while len(sitting.steps) < target and attempts < 40:
        attempts += 1
        work = rng.choices(list(weights), weights=list(weights.values()))[0]
        work(planner, sitting)
    while len(sitting.steps) < MIN_STEPS:
        _tutorial(planner, sitting)
    del sitting.steps[MAX_STEPS:]


# --- 6. the server -----------------------------------------------------------------------


def plan_workers(planner: Planner) -> list[Worker]:
    """A worker process per week that runs the nightly jobs in a session of its own;
    on some nights the warehouse does not answer, and after a run it tests a package."""
    rng = planner.rng
    jobs = [spec for spec in ALL_SPECS if kinds.of(spec.model).kind == "job"]
    timeout = next(error for error in errors.ERRORS if error.context == "job")
    workers = []
    for number, week_start in enumerate(range(0, planner.days, 7), start=1):
        start = planner.first_day + timedelta(days=week_start, hours=0, minutes=rng.randint(5, 40))
        worker = Worker(number, start)
        for day in range(week_start, min(week_start + 7, planner.days)):
            night = planner.first_day + timedelta(days=day, hours=1, minutes=rng.randint(0, 20))
            at = max(night, worker.latest())
            for spec in jobs:
                if spec.name not in planner.created or planner.created[spec.name] > night:
                    continue
                if spec.name.startswith("Weekly") and day % 7 != 0:
                    continue
                at += timedelta(seconds=rng.uniform(1, 30))
                if spec.name == "Nightly sales refresh" and rng.random() < timeout.chance:
                    worker.steps.append(Step(at, acts.job_failed(spec, timeout), "job failed"))
                    continue
                worker.steps.append(Step(at, acts.run(spec, trigger="schedule"), "job"))
                if rng.random() < 0.3:
                    at += timedelta(seconds=rng.uniform(30, 240))
                    package = rng.choice(PACKAGES)
                    worker.steps.append(Step(at, acts.package_tested(package), "package"))
        workers.append(worker)
    return workers


def plan_triage(planner: Planner) -> None:
    """The admin sets the status of recurring errors on the analysis page."""
    for error in errors.ERRORS:
        for day, status in error.triage:
            when = planner.first_day + timedelta(days=day)
            sitting = planner.sitting_after("admin", when, within=4)
            if sitting is not None:
                planner.add(sitting, acts.triage(error, status), f"{status} {error.key}")


def make(rng: random.Random, first_day: datetime, days: int) -> Plan:
    planner = Planner(rng, first_day, days)
    plan_arrivals(planner)
    plan_triage(planner)
    for spec in ALL_SPECS:
        plan_entity(planner, spec)
    for spec in ALL_SPECS:
        plan_comments(planner, spec)
    every = sorted(
        (sitting for found in planner.by_person.values() for sitting in found),
        key=lambda sitting: sitting.start,
    )
    for sitting in every:
        plan_work(planner, sitting)
    return Plan(every, plan_workers(planner), first_day, days)
