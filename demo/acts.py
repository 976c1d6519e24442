"""The steps of the demo, each a call of the platform's own code.

A step is a function of the replay (``demo.replay.Replay``), made here so that the
plan can hold it before the entities it names exist: they are looked up by name when
the step runs. Server-side steps call what the product calls (model saves under change
tracking, ``catalog.actions``, ``audit.Logger``); browser steps post the events the
browser logger would post, through the same ingest function the API uses, so the
server judges them as it judges any client's.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

from catalog import actions, kinds
from catalog.models import Entity, Job, Project, Query

from . import errors
from .inventory import Spec
from .people import Person
from .stage import Stage as Replay

Act = Callable[[Replay], None]

_E = TypeVar("_E", bound=Entity)


def _made(replay: Replay, name: str, model: type[_E]) -> _E:
    """The entity called ``name``, made by an earlier step; the plan says it is a
    ``model``."""
    obj = replay.objects[name]
    assert isinstance(obj, model), f"{name} is not a {model.__name__}"
    return obj


# --- browser events ----------------------------------------------------------------


def _ref(replay: Replay, spec: Spec | None, role: str = "") -> list[dict[str, Any]]:
    if spec is None:
        return []
    obj = replay.objects[spec.name]
    return [{"type": kinds.of(obj).kind, "id": str(obj.pk), **({"role": role} if role else {})}]


def menu(item: str) -> Act:
    def act(replay: Replay) -> None:
        replay.post([{"type": "main-menu-item-click", "message": item, "params": {"item": item}}])

    return act


def viewer(spec: Spec, name: str) -> Act:
    def act(replay: Replay) -> None:
        rng = replay.rng
        replay.post(
            [
                {
                    "type": "viewer-rendered",
                    "message": f"{name} rendered",
                    "params": {
                        "viewer": name,
                        "rows": rng.randint(200, 250_000),
                        "renderMs": int(rng.lognormvariate(4.5, 0.8)),
                    },
                    "entities": _ref(replay, spec),
                }
            ]
        )

    return act


def dialog(name: str, spec: Spec) -> Act:
    def act(replay: Replay) -> None:
        replay.post(
            [
                {
                    "type": "dialog-ok",
                    "message": f"{name} dialog confirmed",
                    "params": {"dialog": name},
                    "entities": _ref(replay, spec),
                }
            ]
        )

    return act


def tutorial(name: str, minutes: int) -> Act:
    def act(replay: Replay) -> None:
        replay.post(
            [
                {
                    "type": "tutorial-completed",
                    "message": f"Completed tutorial {name}",
                    "params": {"tutorial": name, "minutes": minutes},
                }
            ]
        )

    return act


def note(message: str, spec: Spec | None, *, level: str | None = None) -> Act:
    def act(replay: Replay) -> None:
        event: dict[str, Any] = {"type": "log", "message": message, "entities": _ref(replay, spec)}
        if level:
            event["level"] = level
        replay.post([event])

    return act


def client_error(error: errors.RecurringError, spec: Spec | None) -> Act:
    def act(replay: Replay) -> None:
        rng = replay.rng
        replay.post(
            [
                {
                    "type": "error",
                    "message": error.message,
                    "params": {
                        "browser": rng.choice(["Chrome 131", "Firefox 133", "Safari 18"]),
                        "url": f"/p/{spec.name.lower().replace(' ', '-')}" if spec else "/",
                    },
                    "stackTrace": errors.stack_trace(rng, error),
                    "entities": _ref(replay, spec),
                }
            ]
        )

    return act


# --- server actions ----------------------------------------------------------------


def create(spec: Spec) -> Act:
    """The owner makes the entity with its first values: change tracking records
    ``KIND-created`` with them, linked to its project and connection."""

    def act(replay: Replay) -> None:
        values = dict(spec.fields)
        for name, versions in spec.history.items():
            values[name] = versions[0]
        if spec.project:
            values["project"] = replay.objects[spec.project]
        if spec.connection:
            values["connection"] = replay.objects[spec.connection]
        obj = spec.model(name=spec.name, owner=replay.user, created_at=replay.now(), **values)
        obj.save()
        if spec.queries:
            assert isinstance(obj, Job), f"{spec.name}: only a job has queries"
            obj.queries.set([_made(replay, name, Query) for name in spec.queries])
        replay.objects[spec.name] = obj

    return act


def edit(spec: Spec, field_name: str, value: Any) -> Act:
    """An edit through the model, as the API and the pages make it: the record's diff
    is change tracking's."""

    def act(replay: Replay) -> None:
        obj = replay.objects[spec.name]
        setattr(obj, field_name, value)
        obj.save()
        replay.touched(spec.name)

    return act


def share(spec: Spec, *, notify: bool) -> Act:
    def act(replay: Replay) -> None:
        actions.share(
            replay.objects[spec.name],
            [replay.users[name] for name in spec.users],
            [replay.groups[name] for name in spec.groups],
            notify=notify,
        )

    return act


def publish(spec: Spec) -> Act:
    def act(replay: Replay) -> None:
        actions.publish(replay.objects[spec.name])
        replay.touched(spec.name)

    return act


def comment(spec: Spec, text: str) -> Act:
    def act(replay: Replay) -> None:
        posted = actions.comment(replay.objects[spec.name], replay.user, text)
        replay.comments.append((posted, replay.now()))

    return act


def open_project(spec: Spec) -> Act:
    def act(replay: Replay) -> None:
        actions.open_project(_made(replay, spec.name, Project))

    return act


def run(spec: Spec, *, trigger: str = "manual") -> Act:
    """Run an entity; a query's or job's table varies around its usual size."""

    def act(replay: Replay) -> None:
        rng = replay.rng

        def produce(obj: Any) -> actions.Table:
            usual = actions.simulated_table(obj)
            return actions.Table(
                name=usual.name,
                rows=max(1, int(usual.rows * rng.uniform(0.9, 1.1))),
                columns=usual.columns,
                duration_ms=max(20, int(usual.duration_ms * rng.uniform(0.5, 1.6))),
            )

        actions.run(replay.objects[spec.name], produce=produce, trigger=trigger)

    return act


def job_failed(spec: Spec, error: errors.RecurringError) -> Act:
    """A scheduled run that fails: the start, then the worker's error with its Python
    traceback, linked to the job (``audit.Logger``, as the worker's code would)."""

    def act(replay: Replay) -> None:
        import audit

        obj = replay.objects[spec.name]
        actions.start_event(obj, trigger="schedule").log()
        audit.Logger(params={"job": obj.name, "trigger": "schedule"}).log(
            error.message,
            type="error",
            level="error",
            stack_trace=errors.stack_trace(replay.rng, error),
            entities=actions.entities_of(obj),
        )

    return act


def package_tested(package: str) -> Act:
    def act(replay: Replay) -> None:
        import audit

        rng: random.Random = replay.rng
        passed, failed = rng.randint(20, 140), rng.choice([0, 0, 0, 0, 1, 2])
        audit.log(
            "package-tested",
            f"{package}: {passed} passed, {failed} failed",
            {"package": package, "passed": passed, "failed": failed},
            level="warning" if failed else None,
        )

    return act


def triage(error: errors.RecurringError, status: str) -> Act:
    """The admin opens the error's page and sets its status (``analysis``'s own code,
    so the change is recorded as ``error-group-edited``)."""

    def act(replay: Replay) -> None:
        from analysis import errors_status, rollups
        from analysis.models import ErrorGroup

        rollups.fold()
        group = ErrorGroup.objects.filter(message=error.message).first()
        if group is not None:
            errors_status.change(group.fingerprint, status)

    return act


def invite(person: Person) -> Act:
    def act(replay: Replay) -> None:
        replay.invite(person)

    return act
