"""Filters of the events list (django-filter)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from .. import selectors
from ..models import AuditRecord, EntityLink


def _names(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class RecordFilter(filters.FilterSet):
    type = filters.CharFilter(method="filter_type", help_text="Type names, comma-separated.")
    level = filters.CharFilter(method="filter_level", help_text="Levels, comma-separated.")
    user = filters.CharFilter(method="filter_user", help_text="User id or username.")
    session = filters.UUIDFilter(field_name="session__uuid")
    entity = filters.CharFilter(method="filter_entity", help_text="KIND:ID")
    since = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
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
        if value.isdigit():
            return queryset.filter(user_id=int(value))
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
