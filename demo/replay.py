"""Playing the plan: every step in time order, at its own time, as the person it is.

Each step runs inside ``audit.backdated(step time)`` with the acting context of
its sitting bound, the way a request binds it: the platform's code records what it
records, stamped with that moment. Steps run in the order of their time across all
sittings, so record ids follow record times (``audit.clock`` refuses anything else).

A sitting opens with a real sign-in (``django.contrib.auth.login`` on a request from
the person's address and browser, which opens the audit session and records
``user-signed-in``) and closes with a real sign-out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import login, logout
from django.contrib.auth.models import AnonymousUser, Group, User
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.db import transaction
from django.http import HttpRequest

import audit
from audit import AuditContext, SessionRef, bind, new_request_id
from audit.models import SessionKind
from catalog import actions
from catalog.models import Comment, Entity

from .calendar import Plan, Sitting, Step, Worker
from .people import Person, accept_invitation

BACKEND = "django.contrib.auth.backends.ModelBackend"


class DemoRefused(RuntimeError):
    """The server refused an event the demo posted: the plan is wrong, not the server."""


@dataclass
class _Open:
    request: HttpRequest
    session: SessionRef


@dataclass
class Replay:
    rng: random.Random
    users: dict[str, User]
    groups: dict[str, Group]
    people: dict[str, Person]
    objects: dict[str, Entity] = field(default_factory=dict)
    updated: dict[str, datetime] = field(default_factory=dict)
    comments: list[tuple[Comment, datetime]] = field(default_factory=list)
    last_login: dict[str, datetime] = field(default_factory=dict)
    records: int = 0
    sittings: int = 0
    _at: datetime | None = None
    _ctx: AuditContext | None = None
    _open: dict[int, _Open] = field(default_factory=dict)

    # --- what steps use -------------------------------------------------------------

    def now(self) -> datetime:
        assert self._at is not None
        return self._at

    @property
    def user(self) -> User:
        assert self._ctx is not None
        return self._ctx.user

    def touched(self, name: str) -> None:
        self.updated[name] = self.now()

    def post(self, events: list[dict[str, Any]]) -> None:
        """Post browser events as the logger does: each with its id and the client's
        clock a moment before the server received it."""
        assert self._ctx is not None
        sent = self.now() - timedelta(milliseconds=self.rng.randint(150, 2400))
        for event in events:
            event.setdefault("id", str(audit.uuid7()))
            event.setdefault("timestamp", sent.isoformat())
            if not event.get("entities"):
                event.pop("entities", None)
        result = audit.ingest(events, ctx=self._ctx)
        if result.rejected:
            raise DemoRefused(f"the server refused {result.rejected} of {events}")
        self.records += len(result.accepted)

    def invite(self, person: Person) -> None:
        """The admin invites a newcomer; an address that already has an account (made by
        hand before the demo) is taken as it is."""
        existing = User.objects.filter(email__iexact=person.email).first()
        if existing is None:
            existing = actions.invite_user(person.email, invited_by=self.user)
        self.users[person.username] = existing

    # --- sittings -------------------------------------------------------------------

    def _sign_in(self, sitting: Sitting) -> _Open:
        person = sitting.person
        user = self.users[person.username]
        if not user.is_active and person.newcomer:
            accept_invitation(user, person, self.groups, self.now())
        request = HttpRequest()
        request.method = "POST"
        request.path = request.path_info = "/login/"
        request.META = {
            "REMOTE_ADDR": sitting.ip,
            "HTTP_USER_AGENT": sitting.user_agent,
            "SERVER_NAME": "demo.local",
            "SERVER_PORT": "443",
        }
        request.session = SessionStore()
        request.user = AnonymousUser()
        ctx = AuditContext(  # the user is the request's: anonymous, then signed in
            request=request,
            request_id=new_request_id(),
            ip=sitting.ip,
            user_agent=sitting.user_agent,
        )
        with bind(ctx):
            login(request, user, backend=BACKEND)
        assert ctx.session is not None, "the sign-in opened no audit session"
        self.last_login[person.username] = self.now()
        self.sittings += 1
        return _Open(request, ctx.session)

    def _sign_out(self, sitting: Sitting, opened: _Open) -> None:
        user = self.users[sitting.person.username]
        opened.request.user = user
        ctx = AuditContext(session=opened.session, request=opened.request)
        with bind(ctx):
            logout(opened.request)

    def run_sitting_step(self, sitting: Sitting, step: Step, kind: str) -> None:
        if kind == "in":
            self._open[id(sitting)] = self._sign_in(sitting)
            return
        opened = self._open[id(sitting)]
        if kind == "out":
            self._sign_out(sitting, self._open.pop(id(sitting)))
            return
        user = self.users[sitting.person.username]
        self._ctx = AuditContext(user=user, session=opened.session, request_id=new_request_id())
        with bind(self._ctx):
            step.do(self)

    def run_worker_step(self, worker: Worker, step: Step, session: SessionRef) -> None:
        self._ctx = AuditContext(user=None, session=session, request_id=new_request_id())
        with bind(self._ctx):
            step.do(self)


def _timeline(plan: Plan) -> list[tuple[datetime, int, Callable[[Replay], None]]]:
    """Every step of every sitting and worker, with the sign-ins, sign-outs and the
    workers' session openings, as (time, tie-breaker, call)."""
    rng = random.Random(len(plan.sittings))
    timeline: list[tuple[datetime, int, Callable[[Replay], None]]] = []
    for sitting in plan.sittings:
        if not sitting.steps:
            continue
        sitting.steps.sort(key=lambda step: step.at)
        end = sitting.latest() + timedelta(seconds=rng.uniform(30, 900))
        timeline.append((sitting.start, 0, _sitting_call(sitting, sitting.steps[0], "in")))
        timeline += [(step.at, 1, _sitting_call(sitting, step, "step")) for step in sitting.steps]
        timeline.append((end, 2, _sitting_call(sitting, sitting.steps[-1], "out")))
    for worker in plan.workers:
        if not worker.steps:
            continue
        holder: dict[str, SessionRef] = {}
        timeline.append((worker.start, 0, _worker_open(worker, holder)))
        timeline += [(step.at, 1, _worker_call(worker, step, holder)) for step in worker.steps]
        end = worker.latest() + timedelta(minutes=5)
        timeline.append((end, 2, _worker_close(holder)))
    timeline.sort(key=lambda item: (item[0], item[1]))
    return timeline


def _sitting_call(sitting: Sitting, step: Step, kind: str) -> Callable[[Replay], None]:
    return lambda replay: replay.run_sitting_step(sitting, step, kind)


def _worker_open(worker: Worker, holder: dict[str, SessionRef]) -> Callable[[Replay], None]:
    def call(replay: Replay) -> None:
        session = audit.open_session(
            None,
            SessionKind.SERVER,
            client=f"worker-{worker.number}.demo.local:{4100 + worker.number}",
        )
        holder["session"] = SessionRef(pk=session.pk, uuid=session.uuid, user_id=None)

    return call


def _worker_call(
    worker: Worker, step: Step, holder: dict[str, SessionRef]
) -> Callable[[Replay], None]:
    return lambda replay: replay.run_worker_step(worker, step, holder["session"])


def _worker_close(holder: dict[str, SessionRef]) -> Callable[[Replay], None]:
    def call(replay: Replay) -> None:
        audit.close_session(holder["session"].uuid)

    return call


def play(plan: Plan, replay: Replay, *, progress: Callable[[int, int], None] | None = None) -> None:
    """Run the whole plan in one transaction, then give the entities, comments and
    people the times their history says (columns no record is made of)."""
    timeline = _timeline(plan)
    with transaction.atomic():
        for done, (at, _order, call) in enumerate(timeline, start=1):
            replay._at = at
            with audit.backdated(at):
                call(replay)
            if progress is not None and (done % 500 == 0 or done == len(timeline)):
                progress(done, len(timeline))
        replay._at = replay._ctx = None
        _settle_times(replay)


def _settle_times(replay: Replay) -> None:
    """Entities' ``updated_at`` (``auto_now`` took the wall clock), comments' times and
    the people's last sign-in, from the history just played. Change tracking is off:
    these columns are not tracked, and this is no one's change."""
    by_model: dict[type[Entity], list[Entity]] = {}
    for name, obj in replay.objects.items():
        obj.updated_at = replay.updated.get(name, obj.created_at)
        by_model.setdefault(type(obj), []).append(obj)
    with audit.disabled():
        for model, rows in by_model.items():
            model._default_manager.bulk_update(rows, ["updated_at"])
    for comment, at in replay.comments:
        comment.created_at = at
    Comment.objects.bulk_update([comment for comment, _ in replay.comments], ["created_at"])
    for username, at in replay.last_login.items():
        User.objects.filter(username=username).update(last_login=at)
