"""Filters of the events and sessions lists (django-filter).

Every filter a list documents is validated: an unknown level or source, a type name
that cannot be one, or a time that cannot be read is a 400 that names the parameter,
never an empty page that looks like an answer.

Typing: django-filter ships no types (typeshed's stubs for it need django-stubs 6), so
its classes are Any to mypy and each subclass here carries an ignore for that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from django import forms
from django.db.models import Model, Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError

from .. import selectors
from ..event_types import NAME_RE
from ..levels import LEVELS
from ..models import AuditRecord, EntityLink, SessionKind, UserSession

_M = TypeVar("_M", bound=Model)


def _names(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class UtcDateTimeField(IsoDateTimeField):  # type: ignore[misc]  # untyped base
    """An ISO 8601 time, handed to the database in UTC.

    Python reads offsets up to ±23:59 and years from 1, but PostgreSQL refuses an
    offset past ±15:59 ("time zone displacement out of range") and a time that UTC
    moves before year 1 cannot exist: both were 500s, now a time in UTC or a 400."""

    def to_python(self, value: object) -> datetime | None:
        moment: datetime | None = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Is out of range once taken to UTC.") from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):  # type: ignore[misc]  # untyped base
    field_class = UtcDateTimeField


class RecordFilter(filters.FilterSet):  # type: ignore[misc]  # untyped base
    type = filters.CharFilter(method="filter_type", help_text="Type names, comma-separated.")
    level = filters.CharFilter(method="filter_level", help_text="Levels, comma-separated.")
    user = filters.CharFilter(method="filter_user", help_text="User id or username.")
    session = filters.UUIDFilter(field_name="session__uuid")
    entity = filters.CharFilter(method="filter_entity", help_text="KIND:ID")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = filters.CharFilter(field_name="message", lookup_expr="icontains")
    source = filters.ChoiceFilter(choices=AuditRecord._meta.get_field("source").choices)

    class Meta:
        model = AuditRecord
        fields: list[str] = []

    def filter_type(
        self, queryset: QuerySet[AuditRecord], name: str, value: str
    ) -> QuerySet[AuditRecord]:
        names = _names(value)
        bad = [item for item in names if not NAME_RE.match(item)]
        if bad:
            raise ValidationError({"type": [f"not an event type name: {bad[0]!r}"]})
        return queryset.filter(type__name__in=names)

    def filter_level(
        self, queryset: QuerySet[AuditRecord], name: str, value: str
    ) -> QuerySet[AuditRecord]:
        levels = _names(value)
        bad = [item for item in levels if item not in LEVELS]
        if bad:
            known = ", ".join(sorted(LEVELS))
            raise ValidationError({"level": [f"unknown level {bad[0]!r} (one of {known})"]})
        return queryset.filter(level__in=levels)

    def filter_user(
        self, queryset: QuerySet[AuditRecord], name: str, value: str
    ) -> QuerySet[AuditRecord]:
        return filter_by_user(queryset, value)

    def filter_entity(
        self, queryset: QuerySet[AuditRecord], name: str, value: str
    ) -> QuerySet[AuditRecord]:
        try:
            kind, object_id = selectors.parse_entity(value)
        except ValueError as exc:
            raise ValidationError({"entity": [str(exc)]}) from None
        links = EntityLink.objects.filter(content_type_id=kind.content_type_id, object_id=object_id)
        return queryset.filter(Q(pk__in=links.values("record_id")))


def filter_by_user(queryset: QuerySet[_M], value: str) -> QuerySet[_M]:
    """``user`` as an id or a username (an unknown one matches nothing)."""
    if value.isascii() and value.isdigit():
        number = selectors.whole_number(value)
        return queryset.filter(user_id=number) if number else queryset.none()
    from django.contrib.auth import get_user_model

    model = get_user_model()
    ids = model._default_manager.filter(**{model.USERNAME_FIELD: value}).values("pk")
    return queryset.filter(user_id__in=ids)


class SessionFilter(filters.FilterSet):  # type: ignore[misc]  # untyped base
    """``user`` (id or username), ``kind``, and ``since``/``until`` on the start time."""

    user = filters.CharFilter(method="filter_user", help_text="User id or username.")
    kind = filters.ChoiceFilter(choices=SessionKind.choices)
    since = UtcDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = UserSession
        fields: list[str] = []

    def filter_user(
        self, queryset: QuerySet[UserSession], name: str, value: str
    ) -> QuerySet[UserSession]:
        return filter_by_user(queryset, value)
