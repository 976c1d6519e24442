"""The records list's filters: by user, type and date range, each a small form.

Django's own filters list every value as a link: every user of the user table, every
event type, and no date range at all (``date_hierarchy`` runs aggregates over the
whole table). On a table of millions of records with thousands of users that is a
page nobody can use, so these take typed input instead:

- **user**: a username (or a user id, as the read API takes it), suggested from the
  users of the newest records only (a bounded read), never from the whole user table;
- **type**: an event type picked from a drop-down (the types table is small);
- **date**: ``since`` and ``until``, two dates (a date alone is that whole day in the
  site's time zone), read exactly as the activity pages and the read API read them.

Each narrows the list through an index: ``(user, -id)``, ``(type, -id)`` and
``created_at``. A value that cannot be read is the site's styled 400 naming it
(``BadFilterIsBadRequestMixin``), never an empty page nor a silent redirect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from . import event_types
from .models import AuditRecord, EventType
from .selectors import ActivityQuery, BadActivityQuery, user_id_for

# Parameters a changelist keeps to itself: the page, and Django's error marker.
_NOT_KEPT = ("p", "e")
RECENT_RECORDS = 1000  # the user suggestions come from this many newest records
MAX_SUGGESTIONS = 50


@dataclass(frozen=True)
class Input:
    """One input of a filter's form: a text (with suggestions), a date or a select."""

    name: str
    label: str
    value: str
    kind: str = "text"  # "text", "date" or "select"
    options: list[str] = field(default_factory=list)  # a select's choices, text suggestions
    placeholder: str = ""


class FormFilter(admin.ListFilter):
    """A list filter that is a form: its parameters go into the address as typed, the
    list's other parameters ride along as hidden fields."""

    template = "admin/audit/form_filter.html"
    parameters: tuple[str, ...] = ()

    def __init__(
        self, request: HttpRequest, params: dict[str, list[str]], model: Any, model_admin: Any
    ) -> None:
        # Django 5 passes each parameter's values as a list (dict(request.GET.lists()));
        # django-stubs still types params as dict[str, str].
        super().__init__(request, params, model, model_admin)  # type: ignore[arg-type]
        self.values: dict[str, str] = {}
        for name in self.parameters:
            given = params.pop(name, None)
            if given:
                self.values[name] = str(given[-1]).strip()
                self.used_parameters[name] = self.values[name]
        self.kept = [
            (key, value)
            for key, values in request.GET.lists()
            if key not in self.parameters and key not in _NOT_KEPT
            for value in values
        ]
        self.check()

    def check(self) -> None:
        """Refuse values that cannot be read (``refuse``)."""

    def refuse(self, reason: str) -> None:
        raise IncorrectLookupParameters(reason) from ValidationError(reason)

    def inputs(self) -> list[Input]:
        raise NotImplementedError

    @property
    def active(self) -> bool:
        return any(self.values.values())

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:  # as ListFilter declares it
        return list(self.parameters)

    def choices(self, changelist: Any) -> Any:
        yield {
            "inputs": self.inputs(),
            "kept": self.kept,
            "clear": changelist.get_query_string(remove=[*self.parameters, *_NOT_KEPT]),
            "active": self.active,
        }


class UserFilter(FormFilter):
    """Records of one user, by username (or id); an unknown name matches nothing."""

    title = "user"
    parameters = ("user",)

    def check(self) -> None:
        name = self.values.get("user", "")
        if "\x00" in name:
            self.refuse("user: must not contain a NUL character")
        if len(name) > 150:
            self.refuse("user: too long for a username")

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditRecord]) -> Any:
        name = self.values.get("user")
        if not name:
            return queryset
        user_id = user_id_for(name)
        return queryset.filter(user_id=user_id) if user_id is not None else queryset.none()

    def inputs(self) -> list[Input]:
        return [
            Input(
                "user",
                "Username",
                self.values.get("user", ""),
                options=recent_usernames(),
                placeholder="username",
            )
        ]


def recent_usernames() -> list[str]:
    """Who acted lately: the users of the newest records (two small queries, whatever
    the size of the tables), for the user filter's suggestions."""
    recent = AuditRecord.objects.order_by("-id").values_list("user_id", flat=True)
    ids = list(dict.fromkeys(pk for pk in recent[:RECENT_RECORDS] if pk is not None))
    ids = ids[:MAX_SUGGESTIONS]
    model = get_user_model()
    names = model._default_manager.filter(pk__in=ids).values_list(model.USERNAME_FIELD, flat=True)
    return sorted(names, key=str.lower)


class TypeFilter(FormFilter):
    """Records of one event type, picked by name."""

    title = "type"
    parameters = ("type",)

    def check(self) -> None:
        name = self.values.get("type", "")
        if name and not event_types.NAME_RE.match(name):
            self.refuse(f"type: not an event type name: {name[:64]!r}")

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditRecord]) -> Any:
        name = self.values.get("type")
        if not name:
            return queryset
        ids = event_types.ids_of([name])
        return queryset.filter(type_id=ids[0]) if ids else queryset.none()

    def inputs(self) -> list[Input]:
        names = list(EventType.objects.order_by("name").values_list("name", flat=True))
        chosen = self.values.get("type", "")
        if chosen and chosen not in names:
            names.append(chosen)  # still shown as chosen, though no type has that name
        return [Input("type", "Event type", chosen, kind="select", options=names)]


class DateRangeFilter(FormFilter):
    """Records stored from ``since`` up to ``until``: dates (each a whole day) or
    datetimes, read as the activity pages read them."""

    title = "date"
    parameters = ("since", "until")

    def check(self) -> None:
        try:
            self.query = ActivityQuery.parse(self.values)
        except BadActivityQuery as exc:
            problems = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in exc.errors.items())
            self.refuse(problems)

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditRecord]) -> Any:
        if self.query.starts is not None:
            queryset = queryset.filter(created_at__gte=self.query.starts)
        if self.query.ends is not None:
            queryset = queryset.filter(created_at__lt=self.query.ends)
        return queryset

    def inputs(self) -> list[Input]:
        # A value with a time in it stays a text field: a date field would drop it.
        return [
            Input(
                name,
                label,
                self.values.get(name, ""),
                kind="text" if len(self.values.get(name, "")) > 10 else "date",
                placeholder="YYYY-MM-DD",
            )
            for name, label in (("since", "From"), ("until", "Until (inclusive)"))
        ]
