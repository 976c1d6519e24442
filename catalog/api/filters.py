"""Filters of the catalog lists (django-filter): project, owner, published, search."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django_filters import rest_framework as filters


class EntityFilter(filters.FilterSet):
    owner = filters.CharFilter(method="filter_owner", help_text="Username of the owner.")
    published = filters.BooleanFilter()
    search = filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name."
    )

    def filter_owner(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        user_model = get_user_model()
        return queryset.filter(**{f"owner__{user_model.USERNAME_FIELD}": value})


def filterset_for(model: type[models.Model]) -> type[EntityFilter]:
    """The filter set of one kind: the shared filters, plus ``project`` for kinds that
    belong to a project."""
    attrs: dict[str, object] = {
        "Meta": type("Meta", (), {"model": model, "fields": []}),
        "__doc__": f"Filters of the {model._meta.verbose_name_plural} list.",
    }
    if any(field.name == "project" for field in model._meta.get_fields()):
        attrs["project"] = filters.UUIDFilter(field_name="project_id", help_text="Project id.")
    return type(f"{model.__name__}Filter", (EntityFilter,), attrs)
