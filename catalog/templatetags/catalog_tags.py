"""Template helpers of the catalog pages: where an entity's page is, what kind it is."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from .. import kinds, permissions

register = template.Library()


@register.filter
def entity_url(obj: Any) -> str:
    """The page of a catalog entity of any kind: ``{{ obj|entity_url }}``."""
    return reverse("catalog:detail", args=[kinds.of(obj).kind, obj.pk])


@register.filter
def kind_label(obj: Any) -> str:
    """ "Query", "Predictive model"...: ``{{ obj|kind_label }}``."""
    return kinds.of(obj).label


@register.filter
def kind_name(obj: Any) -> str:
    """The audit kind (``predictive-model``), used for CSS classes."""
    return kinds.of(obj).kind


@register.filter
def viewable_by(obj: Any, user: Any) -> bool:
    """Whether ``user`` may view ``obj``, an entity another names (a query's project, a
    job's queries): ``{% if object.project|viewable_by:user %}``. One that may not be
    viewed is shown without its name or a link (``permissions.may_view``)."""
    return permissions.may_view(user, obj)
