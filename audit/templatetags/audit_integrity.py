"""``{% integrity_glance %}``: the trail's integrity as a module of the admin index."""

from __future__ import annotations

from typing import Any

from django import template

from ..integrity import integrity

register = template.Library()


@register.inclusion_tag("audit/integrity_glance.html")
def integrity_glance() -> dict[str, Any]:
    return {"integrity": integrity()}
