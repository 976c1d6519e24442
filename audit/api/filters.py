"""Filters of the events list (django-filter)."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError

from .. import selectors
from ..models import AuditRecord, EntityLink


def _names(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, handed to the database in UTC.

    Python reads offsets up to ±23:59 and years from 1, but PostgreSQL refuses an
    offset past ±15:59 ("time zone displacement out of range") and a time that UTC
    moves before year 1 cannot exist: both were 500s, now a time in UTC or a 400."""

    def to_python(self, value: object) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Is out of range once taken to UTC.") from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class RecordFilter(filters.FilterSet):
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

    def filter_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(type__name__in=_names(value))

    def filter_level(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(level__in=_names(value))

    def filter_user(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value.isascii() and value.isdigit():
            number = selectors.whole_number(value)
            return queryset.filter(user_id=number) if number else queryset.none()
        from django.contrib.auth import get_user_model

        model = get_user_model()
        ids = model._default_manager.filter(**{model.USERNAME_FIELD: value}).values("pk")
        return queryset.filter(user_id__in=ids)

    def filter_entity(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        try:
            kind, object_id = selectors.parse_entity(value)
        except ValueError as exc:
            raise ValidationError({"entity": [str(exc)]}) from None
        links = EntityLink.objects.filter(content_type=kind.content_type, object_id=object_id)
        return queryset.filter(Q(pk__in=links.values("record_id")))
