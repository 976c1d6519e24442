"""Demo entities with four weeks of believable history (``manage.py seed_demo``).

``audit.demo`` makes the people and their general activity; this module gives them
something to work on: projects, connections, queries, jobs, scripts, models and
notebooks, owned by different people, shared with groups, and each with a history
that reads like real use: created, edited a few times (SQL rewritten, transformation
steps added, a password rotated), shared, published, run by the people who can see
it, commented on, projects opened.

How the history is made, and why:

* The rows are created with change tracking switched off (``audit.tracking.disabled``)
  and then backdated, because tracking would record them *now*.
* Their history is written through the recording service (``record_events`` with
  ``at=``), one call per event, so each record has its own past time. The action
  records come from the same builders the real actions use (``catalog.actions``), and
  the created/edited records have the shape change tracking gives them, so the demo
  looks exactly like what the product records.
* Events happen inside browser sessions of the person acting: a few sittings per
  person per week, each with 5 to 40 events (entity work, topped up with the project
  opens and runs people do between edits).
* Every entity's final state is the last "new" value of its history: what the page
  shows is what the activity panel says happened.

Idempotent: the sessions it makes are marked (``SEED_CLIENT``); when they exist,
nothing is added. Everything happens in one transaction.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import models, transaction
from django.utils import timezone

from audit import related_names
from audit.context import AuditContext, SessionRef, new_request_id
from audit.models import SessionKind, Source, UserSession
from audit.recording import build_event, record_events
from audit.tracking import MASK, disabled
from audit.validation import ValidEvent

from . import actions, kinds
from .demo_data import ALL_SPECS, COMMENT_POOL, Spec
from .kinds import TRACKING_EXCLUDE
from .models import Comment, Project

SEED_CLIENT = "seed_demo:catalog"
DAYS = 27  # the history spans the last four weeks
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SESSIONS_PER_USER = {"alice": 11, "bob": 10, "carol": 11, "dave": 6, "admin": 4}
MIN_EVENTS, MAX_EVENTS = 5, 40


# --- planning the history ------------------------------------------------------------


@dataclass
class Planned:
    """One event of the history: when, who, and how to build it."""

    at: datetime
    user: User
    event: ValidEvent
    source: str = Source.CLIENT


@dataclass
class Slot:
    """A sitting of one person: a browser session with its events."""

    user: User
    start: datetime
    events: list[Planned] = field(default_factory=list)
    opened: set[Any] = field(default_factory=set)  # projects opened in this sitting

    def latest(self) -> datetime:
        return max([self.start, *(planned.at for planned in self.events)])


@dataclass
class CatalogSummary:
    """What a run did, for the command to print."""

    entities: dict[str, int] = field(default_factory=dict)
    comments: int = 0
    records: int = 0
    sessions: int = 0
    existed: bool = False


class _Planner:
    """Lays the history of every entity over the sittings of the people who act, and
    remembers when each entity was created and last changed."""

    def __init__(
        self, rng: random.Random, users: dict[str, User], groups: dict[str, Group], now: datetime
    ) -> None:
        self.rng = rng
        self.users = users
        self.groups = groups
        self.now = now
        self.slots: dict[str, list[Slot]] = {
            name: self._slots(name, count)
            for name, count in SESSIONS_PER_USER.items()
            if name in users
        }
        self.members: dict[str, set[str]] = defaultdict(set)
        for user in users.values():
            for group in user.groups.all():
                self.members[group.name].add(user.username)
        self.created_at: dict[Any, datetime] = {}
        self.updated_at: dict[Any, datetime] = {}
        self.shared_at: dict[Any, datetime] = {}
        self.published_at: dict[Any, datetime] = {}
        self.specs: dict[Any, Spec] = {}
        self.comments: list[Comment] = []

    def _slots(self, username: str, count: int) -> list[Slot]:
        """``count`` sittings spread over the last ``DAYS`` days, mostly on weekdays in
        working hours, at most one per half day."""
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        starts: dict[tuple[int, bool], datetime] = {}
        while len(starts) < count:
            days_ago = self.rng.randint(1, DAYS)
            day = today - timedelta(days=days_ago)
            if day.weekday() >= 5 and self.rng.random() < 0.8:
                continue
            hour = self.rng.choice((8, 9, 10, 11, 13, 14, 15, 16))
            starts[(days_ago, hour < 12)] = day + timedelta(
                hours=hour, minutes=self.rng.randint(0, 50)
            )
        return [Slot(self.users[username], start) for start in sorted(starts.values())]

    def slot_after(self, username: str, after: datetime, *, within: int = 10) -> Slot:
        """One of the next sittings of ``username`` after ``after`` that still has room
        (the latest sitting if there is none)."""
        slots = [
            slot
            for slot in self.slots[username]
            if after < slot.start < after + timedelta(days=within)
            and len(slot.events) < MAX_EVENTS - 10
        ]
        if not slots:
            slots = [slot for slot in self.slots[username] if slot.start > after][:1]
        if not slots:
            return self.slots[username][-1]
        return self.rng.choice(slots[:3])

    def add(self, slot: Slot, event: ValidEvent, *, after: datetime | None = None) -> datetime:
        """Append ``event`` to the sitting, a little after its latest event (and after
        ``after``); returns its time."""
        base = max(slot.latest(), after or slot.start)
        at = base + timedelta(seconds=self.rng.randint(20, 240))
        slot.events.append(Planned(at, slot.user, event))
        return at

    def visible_from(self, obj: models.Model, username: str) -> datetime | None:
        """When ``username`` could first see ``obj``: its owner and staff from its
        creation, those it was shared with from the share, others once published."""
        spec = self.specs[obj.pk]
        times = []
        if username == spec.owner or self.users[username].is_staff:
            times.append(self.created_at[obj.pk])
        shared = username in spec.users or any(
            username in self.members[group] for group in spec.groups
        )
        if shared and obj.pk in self.shared_at:
            times.append(self.shared_at[obj.pk])
        if obj.pk in self.published_at:
            times.append(self.published_at[obj.pk])
        return min(times) if times else None

    def viewers(self, spec: Spec) -> list[str]:
        """Who can see the entity (and so run, open or comment on it), owner first."""
        names = {spec.owner, *spec.users}
        for group in spec.groups:
            names |= self.members[group]
        if spec.published:
            names |= set(self.users)
        names |= {name for name, user in self.users.items() if user.is_staff}
        ordered = [spec.owner, *sorted(names - {spec.owner})]
        return [name for name in ordered if name in self.slots]


def _initial(spec: Spec) -> dict[str, Any]:
    """The fields as first created: the oldest value of each field with a history."""
    values = dict(spec.fields)
    for name, versions in spec.history.items():
        values[name] = versions[0]
    return values


def _shown(spec: kinds.Kind, name: str, value: Any) -> Any:
    return MASK if name in spec.mask else value


def _created_event(obj: models.Model, initial: dict[str, Any]) -> ValidEvent:
    """``KIND-created`` as change tracking writes it: the non-empty tracked fields."""
    spec = kinds.of(obj)
    changes = {}
    for model_field in obj._meta.concrete_fields:
        if model_field.primary_key or model_field.name in TRACKING_EXCLUDE:
            continue
        if model_field.is_relation:
            value = getattr(obj, model_field.attname)
            if value is not None:  # by name, the id beside it (``audit.related_names``)
                target = related_names.name_of(getattr(obj, model_field.name))
                changes[model_field.name] = {"new": target, "new_id": value}
            continue
        value = initial.get(model_field.name, getattr(obj, model_field.attname))
        if value not in (None, "", [], {}):
            changes[model_field.name] = {"new": _shown(spec, model_field.name, value)}
    return build_event(
        f"{spec.kind}-created",
        f"Created {spec.kind} '{obj.name}'",
        entities=actions.entities_of(obj),
        changes=changes,
    )


def _edited_event(obj: models.Model, name: str, old: Any, new: Any) -> ValidEvent:
    """``KIND-edited`` (or the field's own type) as change tracking writes it."""
    spec = kinds.of(obj)
    return build_event(
        spec.field_types.get(name, f"{spec.kind}-edited"),
        f"Edited {spec.kind} '{obj.name}': {name}",
        entities=actions.entities_of(obj),
        changes={name: {"old": _shown(spec, name, old), "new": _shown(spec, name, new)}},
    )


def _edits(rng: random.Random, spec: Spec) -> list[tuple[str, Any, Any]]:
    """Each field's successive changes, fields interleaved at random but each field's
    versions kept in order."""
    turns = [name for name, versions in spec.history.items() for _ in versions[1:]]
    rng.shuffle(turns)
    done: dict[str, int] = defaultdict(int)
    edits = []
    for name in turns:
        index = done[name]
        edits.append((name, spec.history[name][index], spec.history[name][index + 1]))
        done[name] += 1
    return edits


def _plan_entity(planner: _Planner, spec: Spec, obj: models.Model, earliest: datetime) -> None:
    """The story of one entity: created, shared, edited, published, used, discussed."""
    rng = planner.rng
    kind = kinds.of(obj)
    owner = spec.owner if spec.owner in planner.slots else "admin"
    created = planner.add(
        planner.slot_after(owner, earliest, within=5),
        _created_event(obj, _initial(spec)),
        after=earliest,
    )
    planner.created_at[obj.pk] = last = created
    planner.specs[obj.pk] = spec

    if spec.groups or spec.users:  # shared soon after creation
        users = [planner.users[name] for name in spec.users]
        groups = [planner.groups[name] for name in spec.groups]
        event = actions.shared_event(obj, users, groups, notify=rng.random() < 0.75).build()
        last = planner.add(planner.slot_after(owner, created, within=4), event, after=created)
        planner.shared_at[obj.pk] = last

    for name, old, new in _edits(rng, spec):
        editor = "admin" if rng.random() < 0.12 and "admin" in planner.slots else owner
        last = planner.add(
            planner.slot_after(editor, last), _edited_event(obj, name, old, new), after=last
        )

    if spec.published:
        event = actions.published_event(obj).build()
        last = planner.add(planner.slot_after(owner, last, within=8), event, after=last)
        planner.published_at[obj.pk] = last
    planner.updated_at[obj.pk] = last

    viewers = planner.viewers(spec)
    uses = rng.randint(6, 12) if kind.kind == "project" else rng.randint(3, 7) * kind.runnable
    for _ in range(uses):
        who = rng.choice([viewers[0], *viewers])  # the owner a little more often
        since = planner.visible_from(obj, who) or created
        _plan_use(planner, planner.slot_after(who, since, within=DAYS), obj)

    comments = list(spec.comments)
    others = [name for name in viewers if name != owner]
    if others and rng.random() < 0.4:  # and a passer-by's remark
        comments.append((rng.choice(others), rng.choice(COMMENT_POOL)))
    after = created
    for author, text in comments:
        since = planner.visible_from(obj, author) if author in planner.slots else None
        if since is None:
            continue
        after = max(after, since)
        slot = planner.slot_after(author, after)
        comment = Comment.objects.create(
            kind=kind.kind, object_id=obj.pk, author=slot.user, text=text
        )
        at = planner.add(slot, actions.comment_event(obj, comment).build(), after=after)
        comment.created_at = after = at
        planner.comments.append(comment)


def _plan_use(planner: _Planner, slot: Slot, obj: models.Model) -> bool:
    """Open a project, or run an entity (a query's or job's run produces a table), in
    a sitting where the entity already exists; False if it does not yet."""
    kind = kinds.of(obj)
    since = planner.visible_from(obj, slot.user.username)
    if since is None or since > slot.latest():
        return False
    if kind.kind == "project":
        if obj.pk in slot.opened:
            return False
        slot.opened.add(obj.pk)
        planner.add(slot, actions.opened_event(obj).build(), after=since)
        return True
    at = planner.add(slot, actions.start_event(obj).build(), after=since)
    slot.events[-1].source = Source.SERVER
    if kind.produces_table:
        table = _table(planner.rng, obj)
        finished = at + timedelta(milliseconds=table.duration_ms + planner.rng.randint(50, 400))
        slot.events.append(
            Planned(finished, slot.user, actions.table_event(obj, table).build(), Source.SERVER)
        )
    return True


def _table(rng: random.Random, obj: models.Model) -> actions.Table:
    """A run's table: the entity's usual size, give or take a tenth."""
    base = actions.simulated_table(obj)
    return actions.Table(
        name=base.name,
        rows=max(1, int(base.rows * rng.uniform(0.9, 1.1))),
        columns=base.columns,
        duration_ms=max(20, int(base.duration_ms * rng.uniform(0.5, 1.6))),
    )


def _top_up(planner: _Planner, objects: dict[str, models.Model]) -> None:
    """Give every sitting with work in it at least ``MIN_EVENTS`` events: the project
    opens and runs people do between edits, on entities they can see that exist."""
    rng = planner.rng
    usable = [
        (spec, objects[spec.name])
        for spec in ALL_SPECS
        if spec.model is Project or kinds.of(spec.model).runnable
    ]
    for name, slots in planner.slots.items():
        mine = [obj for spec, obj in usable if name in planner.viewers(spec)]
        for slot in slots:
            wanted = MIN_EVENTS + rng.randint(0, 5)
            candidates = [
                obj
                for obj in mine
                if (since := planner.visible_from(obj, name)) is not None and since <= slot.latest()
            ]
            rng.shuffle(candidates)
            for obj in candidates * 2:  # a second pass re-runs what was already run
                if len(slot.events) >= wanted:
                    break
                _plan_use(planner, slot, obj)
            if slot.events and len(slot.events) < MIN_EVENTS:
                _navigate(rng, slot)


MENU = {
    "project": "Browse | Projects",
    "query": "Data | Queries",
    "connection": "Data | Connections",
    "job": "Data | Jobs",
    "script": "Functions | Scripts",
    "predictive-model": "ML | Models",
    "notebook": "Tools | Notebooks",
}


def _navigate(rng: random.Random, slot: Slot) -> None:
    """The main-menu clicks that led to a short sitting's work, placed before it: early
    sittings, when little exists yet, are short on anything else to do."""
    first = min(planned.at for planned in slot.events)
    missing = MIN_EVENTS - len(slot.events)
    items = rng.sample(list(MENU.values()), missing)
    for index, item in enumerate(items, start=1):
        at = slot.start + (first - slot.start) * index / (missing + 1)
        event = build_event("main-menu-item-click", item, {"item": item})
        slot.events.append(Planned(at, slot.user, event))


# --- writing -------------------------------------------------------------------------


def _create_rows(users: dict[str, User], groups: dict[str, Group]) -> dict[str, models.Model]:
    """The entities in their final state, untracked (their history is written apart)."""
    objects: dict[str, models.Model] = {}
    for spec in ALL_SPECS:
        owner = users.get(spec.owner) or users["admin"]
        values = dict(spec.fields)
        if spec.project:
            values["project"] = objects[spec.project]
        if spec.connection:
            values["connection"] = objects[spec.connection]
        obj = spec.model(name=spec.name, owner=owner, published=spec.published, **values)
        obj.save()
        if spec.users:
            obj.shared_with_users.set([users[name] for name in spec.users])
        if spec.groups:
            obj.shared_with_groups.set([groups[name] for name in spec.groups])
        if spec.queries:
            obj.queries.set([objects[name] for name in spec.queries])
        objects[spec.name] = obj
    return objects


def exists() -> bool:
    return UserSession.objects.filter(client=SEED_CLIENT).exists()


def seed(
    users: dict[str, User],
    groups: dict[str, Group],
    *,
    rng_seed: int = 2024,
    now: datetime | None = None,
) -> CatalogSummary:
    """Create the demo entities and their history, unless an earlier run did."""
    summary = CatalogSummary()
    if exists():
        summary.existed = True
        return summary
    now = now or timezone.now()
    rng = random.Random(rng_seed)
    with transaction.atomic():
        with disabled():
            objects = _create_rows(users, groups)
        planner = _Planner(rng, users, groups, now)
        start = now - timedelta(days=DAYS + 1)
        for spec in ALL_SPECS:
            obj = objects[spec.name]
            earliest = start
            if spec.project:  # things are made in a project after the project
                earliest = planner.created_at[objects[spec.project].pk]
            if spec.connection:
                earliest = max(earliest, planner.created_at[objects[spec.connection].pk])
            for name in spec.queries:
                earliest = max(earliest, planner.created_at[objects[name].pk])
            _plan_entity(planner, spec, obj, earliest)
        _top_up(planner, objects)
        _backdate(objects, planner)
        summary.records, summary.sessions = _write(planner, rng)
    summary.comments = len(planner.comments)
    for spec in kinds.KINDS.values():
        summary.entities[spec.kind] = sum(
            1 for obj in objects.values() if isinstance(obj, spec.model)
        )
    return summary


def _backdate(objects: dict[str, models.Model], planner: _Planner) -> None:
    """Created and updated times that match the history (tracking is off: bulk_update
    would otherwise record them)."""
    by_model: dict[type[models.Model], list[models.Model]] = defaultdict(list)
    for obj in objects.values():
        obj.created_at = planner.created_at[obj.pk]
        obj.updated_at = planner.updated_at[obj.pk]
        by_model[type(obj)].append(obj)
    with disabled():
        for model, rows in by_model.items():
            model._default_manager.bulk_update(rows, ["created_at", "updated_at"])
    Comment.objects.bulk_update(planner.comments, ["created_at"])


def _write(planner: _Planner, rng: random.Random) -> tuple[int, int]:
    """One browser session per sitting; each event stored at its own past time."""
    slots = [slot for slots in planner.slots.values() for slot in slots if slot.events]
    slots.sort(key=lambda slot: slot.start)
    rows = []
    for slot in slots:
        slot.events.sort(key=lambda planned: planned.at)
        last = slot.events[-1].at
        rows.append(
            UserSession(
                user=slot.user,
                kind=SessionKind.BROWSER,
                started_at=slot.start,
                last_seen_at=last,
                ended_at=last + timedelta(minutes=rng.randint(2, 25)),
                ip=f"10.30.{slot.user.pk % 250}.{rng.randint(10, 250)}",
                user_agent=USER_AGENT,
                client=SEED_CLIENT,
            )
        )
    sessions = UserSession.objects.bulk_create(rows)
    stored = 0
    for session, slot in zip(sessions, slots, strict=True):
        ref = SessionRef(pk=session.pk, uuid=session.uuid, user_id=session.user_id)
        for planned in slot.events:
            if planned.source == Source.CLIENT:
                planned.event.client_time = planned.at
            result = record_events(
                [planned.event],
                ctx=AuditContext(user=slot.user, session=ref, request_id=new_request_id()),
                source=planned.source,
                at=planned.at,
            )
            stored += len(result.accepted)
    return stored, len(sessions)
