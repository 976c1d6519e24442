"""The platform's actions on catalog entities, each with its audit record.

The REST API, the pages and the demo all call these functions, so an action is
recorded the same way whichever door it came through. Each writes its record with
``audit.log`` inside the transaction that makes the change: a rolled-back action leaves
no record, a committed one always has one. The acting user and session are not
arguments: ``audit.log`` takes them from the request (or task) context.

What they do not record: creating, editing and deleting entities. The audit app's
change tracking records ``KIND-created``/``-edited``/``-deleted`` (and
``query-transformations-edited``/``job-transformations-edited`` for the
transformations field) on every save, so "edit transformations" is an ordinary save.

Permission checks are the caller's (see ``catalog.permissions``): these functions
trust that the acting user may do what they ask, so the demo and admin tasks can use
them too. Bad input raises ``ActionError``, which the API and pages turn into a 400.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

import audit

from . import kinds
from .models import Comment, Entity, Project

if TYPE_CHECKING:
    # The class settings.AUTH_USER_MODEL names. Only django-stubs has this alias (its
    # plugin resolves it from the settings), so it exists for the type checker alone.
    from django.contrib.auth.models import _User as User

COMMENT_MAX_LENGTH = 10_000
COMMENT_EXCERPT = 500  # of a comment's text, in its record's params


class ActionError(ValueError):
    """The action cannot be done as asked; the message says why, for the person asking."""


@dataclass(frozen=True)
class Table:
    """What a run produced, as ``table-produced`` describes it."""

    name: str
    rows: int
    columns: int
    duration_ms: int


@dataclass(frozen=True)
class RunResult:
    """The records a run wrote (``None`` where the type is switched off for the user)."""

    start_record: int | None
    table_record: int | None = None
    table: Table | None = None


TableProducer = Callable[[Entity], Table]


@dataclass(frozen=True)
class Event:
    """An action's audit record before it is stored: one builder per action keeps its
    wording and params in one place, and ``log()`` stores it for the acting user."""

    type: str
    message: str
    params: dict[str, Any]
    entities: list[Any]

    def log(self, *, user: User | None = None) -> int | None:
        return audit.log(self.type, self.message, self.params, entities=self.entities, user=user)


def entities_of(obj: Entity) -> list[Any]:
    """The entity itself and the entities it belongs to (its project, a query's
    connection), as ``audit.log`` takes them: the record then also shows in the
    project's and the connection's activity. Related objects are referenced by id, so
    nothing is loaded; the recording service names them in one query per kind."""
    spec = kinds.of(obj)
    refs: list[Any] = [obj]
    for field_name in spec.links:
        related_id = getattr(obj, f"{field_name}_id", None)
        if related_id is not None:
            related_model = obj._meta.get_field(field_name).related_model
            assert isinstance(related_model, type), f"{field_name} is a foreign key"
            refs.append((kinds.of(related_model).kind, str(related_id), field_name))
    return refs


def _label(obj: Entity) -> str:
    return f"{kinds.of(obj).label.lower()} {obj.name}"


# --- publish ------------------------------------------------------------------------


def publish(obj: Entity) -> int | None:
    """Make ``obj`` visible to everyone and record ``KIND-published``.

    Only kinds that have a published type can be published (query, connection, script,
    predictive model, notebook). Publishing what is already published changes nothing
    and records nothing. The row is locked while it is checked, so two people
    publishing at once leave one record.
    """
    spec = kinds.of(obj)
    if not spec.publishable:
        raise ActionError(f"A {spec.label.lower()} cannot be published.")
    with transaction.atomic():
        current = type(obj)._default_manager.select_for_update().only("published").get(pk=obj.pk)
        if current.published:
            obj.published = True
            return None
        obj.published = True
        # Both fields are excluded from change tracking: the publish record says it.
        obj.save(update_fields=["published", "updated_at"])
        return published_event(obj).log()


def published_event(obj: Entity) -> Event:
    spec = kinds.of(obj)
    return Event(
        spec.published_type,
        f"Published {_label(obj)}",
        {"kind": spec.kind, "name": obj.name},
        entities_of(obj),
    )


# --- share --------------------------------------------------------------------------


def share(
    obj: Entity,
    users: Iterable[User] = (),
    groups: Iterable[Group] = (),
    *,
    notify: bool = True,
) -> int | None:
    """Share ``obj`` (read access) with users and groups; record ``entity-shared``, or
    ``entity-shared-silent`` when the people are not to be notified.

    The record links the entity and each user and group (role ``shared-with``), so it
    shows in the entity's activity and in theirs.
    """
    users = list({user.pk: user for user in users}.values())
    groups = list({group.pk: group for group in groups}.values())
    if not users and not groups:
        raise ActionError("Name at least one user or group to share with.")
    most = audit.limits()["max_entities_per_event"] - len(entities_of(obj))
    if len(users) + len(groups) > most:
        raise ActionError(f"Share with at most {most} users and groups at a time.")
    with transaction.atomic():
        if users:
            obj.shared_with_users.add(*users)
        if groups:
            obj.shared_with_groups.add(*groups)
        return shared_event(obj, users, groups, notify=notify).log()


def shared_event(
    obj: Entity, users: list[User], groups: list[Group], *, notify: bool = True
) -> Event:
    names = [user.get_username() for user in users] + [group.name for group in groups]
    return Event(
        "entity-shared" if notify else "entity-shared-silent",
        f"Shared {_label(obj)} with {_join(names)}",
        {
            "kind": kinds.of(obj).kind,
            "name": obj.name,
            "users": [user.get_username() for user in users],
            "groups": [group.name for group in groups],
            "notify": notify,
        },
        [
            *entities_of(obj),
            *(("user", user, "shared-with") for user in users),
            *(("group", group, "shared-with") for group in groups),
        ],
    )


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    shown = names[:5]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


# --- run ----------------------------------------------------------------------------


def simulated_table(obj: Entity) -> Table:
    """A stand-in for the execution engine, which this project does not include.

    The size is derived from the entity's id (stable between runs, different between
    entities; rows spread log-uniformly from 10 to about a million), and a query's
    column count is read from its SELECT list when it has one, so that runs record
    believable ``table-produced`` params.
    """
    digest = int(hashlib.blake2b(str(obj.pk).encode(), digest_size=8).hexdigest(), 16)
    columns = _select_columns(getattr(obj, "text", "") or "")
    return Table(
        name=f"{obj.name} result",
        rows=int(10 ** (1 + (digest % 5000) / 1000)),
        columns=columns or 3 + (digest >> 20) % 18,
        duration_ms=40 + (digest >> 40) % 6000,
    )


_SELECT = re.compile(r"^\s*select\s+(?:distinct\s+)?", re.IGNORECASE)


def _select_columns(sql: str) -> int | None:
    """How many expressions a query's SELECT list has (None for ``*`` or no SELECT):
    commas outside parentheses, up to the FROM at the same depth."""
    match = _SELECT.match(sql)
    if not match:
        return None
    depth, count = 0, 1
    for token in re.finditer(r"[(),]|\bfrom\b", sql[match.end() :], re.IGNORECASE):
        text = token.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == "," and depth == 0:
            count += 1
        elif depth == 0 and text.lower() == "from":
            break
    return None if sql[match.end() :].lstrip().startswith("*") else count


def run(
    obj: Entity, *, produce: TableProducer = simulated_table, trigger: str = "manual"
) -> RunResult:
    """Run ``obj`` and record ``KIND-start``; a query or a job also records the table it
    produced (``table-produced``, with rows and columns), linked to the entity.

    ``produce`` executes and describes the result; the default simulates it. A job's
    ``trigger`` says who started it: ``manual`` (a person) or ``schedule``.
    """
    spec = kinds.of(obj)
    if not spec.runnable:
        raise ActionError(f"A {spec.label.lower()} cannot be run.")
    with transaction.atomic():
        start = start_event(obj, trigger=trigger).log()
        if not spec.produces_table:
            return RunResult(start_record=start)
        table = produce(obj)
        produced = table_event(obj, table).log()
    return RunResult(start_record=start, table_record=produced, table=table)


def start_event(obj: Entity, *, trigger: str = "manual") -> Event:
    spec = kinds.of(obj)
    return Event(
        spec.start_type,
        f"Started {_label(obj)}",
        {"kind": spec.kind, "name": obj.name, **_run_params(obj, trigger)},
        entities_of(obj),
    )


def table_event(obj: Entity, table: Table) -> Event:
    return Event(
        "table-produced",
        f"{obj.name}: {table.rows:,} rows, {table.columns} columns in {table.duration_ms:,} ms",
        {
            "kind": kinds.of(obj).kind,
            "name": obj.name,
            "table": table.name,
            "rows": table.rows,
            "columns": table.columns,
            "durationMs": table.duration_ms,
        },
        entities_of(obj),
    )


def _run_params(obj: Entity, trigger: str) -> dict[str, Any]:
    """What a run was given: a query's or script's parameter values, a job's trigger."""
    params: dict[str, Any] = {}
    parameters = getattr(obj, "parameters", None)
    if isinstance(parameters, dict) and parameters:
        params["parameters"] = parameters
    if kinds.of(obj).kind == "job":
        params["trigger"] = trigger
    return params


# --- projects, comments, invitations -------------------------------------------------


def open_project(project: Project) -> int | None:
    """Record that the acting user opened ``project`` (``project-opened``)."""
    return opened_event(project).log()


def opened_event(project: Project) -> Event:
    return Event(
        "project-opened",
        f"Opened project {project.name}",
        {"kind": "project", "name": project.name},
        [project],
    )


def comment(obj: Entity, user: User, text: str) -> Comment:
    """Post ``text`` on ``obj`` as ``user`` and record ``comment-posted`` linking it."""
    text = (text or "").strip()
    if not text:
        raise ActionError("A comment needs some text.")
    if len(text) > COMMENT_MAX_LENGTH:
        raise ActionError(f"A comment is at most {COMMENT_MAX_LENGTH:,} characters.")
    if "\x00" in text:
        raise ActionError("A comment cannot contain NUL characters.")
    with transaction.atomic():
        posted = Comment.objects.create(
            kind=kinds.of(obj).kind, object_id=obj.pk, author=user, text=text
        )
        comment_event(obj, posted).log(user=user)
    return posted


def comment_event(obj: Entity, posted: Comment) -> Event:
    """The text travels in params (cut to ``COMMENT_EXCERPT``) so the activity panel can
    quote it; the full text stays in the comment, found by ``commentId``."""
    text = posted.text
    excerpt = text if len(text) <= COMMENT_EXCERPT else text[: COMMENT_EXCERPT - 1] + "…"
    return Event(
        "comment-posted",
        f"Commented on {_label(obj)}: {_clip(excerpt, 140)}",
        {
            "kind": posted.kind,
            "name": obj.name,
            "commentId": posted.pk,
            "text": excerpt,
            "length": len(text),
        },
        entities_of(obj),
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invite_user(email: str, invited_by: User) -> User:
    """Create an inactive account for ``email`` and record ``user-invited`` linking it.

    The account cannot sign in (no usable password, inactive) until the invitation
    is accepted; its username is the address's local part, made unique.
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ActionError(f"{email or 'An empty address'} is not an email address.") from None
    user_model = get_user_model()
    if user_model._default_manager.filter(email__iexact=email).exists():
        raise ActionError(f"{email} already has an account.")
    with transaction.atomic():
        invited = user_model(
            username=_free_username(user_model, email), email=email, is_active=False
        )
        invited.set_unusable_password()
        invited.save()
        invited_event(invited).log(user=invited_by)
    return invited


def invited_event(invited: User) -> Event:
    return Event(
        "user-invited",
        f"Invited {invited.email}",
        {"email": invited.email},
        [("user", invited, "invitee")],
    )


def _free_username(user_model: type[User], email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email.split("@", 1)[0])[:140] or "user"
    taken = set(
        user_model._default_manager.filter(username__istartswith=base).values_list(
            "username", flat=True
        )
    )
    taken = {name.lower() for name in taken}
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{base}{n}"
    return candidate
