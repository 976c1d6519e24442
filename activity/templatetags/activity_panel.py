"""``{% load activity_panel %}{% activity_panel KIND OBJECT_ID %}``: an entity's activity
panel inside any page (the catalog's entity pages put it in their right-hand column).

The tag takes the request from the template context, checks that the user may view
the entity, and renders the first page, or the page the request's own ``type`` /
``user`` / ``before`` parameters ask for, so that the panel's filters and "load more"
work as plain links and forms on the embedding page when JavaScript is off. A bad
parameter there is ignored (the embedding page must not fail because of the panel).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.http import Http404
from django.urls import reverse

from audit import ActivityQuery, BadActivityQuery, can_view_entity

from .. import selectors
from ..views import resolve_entity

register = template.Library()


@register.inclusion_tag("activity/panel.html", takes_context=True)
def activity_panel(
    context: template.Context, kind: str, object_id: Any, filters: bool = True
) -> dict[str, Any]:
    """The entity's panel; ``filters=False`` leaves out the filters of the page's address
    (a page whose own ``since``/``until`` mean something else)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    base: dict[str, Any] = {"request": request, "embedded": True}
    try:
        entity_kind, entity_id = resolve_entity(str(kind), str(object_id))
    except Http404:
        return base | {"problem": "This entity has no activity panel."}
    if request is None or user is None or not user.is_authenticated:
        return base | {"problem": "Sign in to see this activity."}
    if not can_view_entity(user, entity_kind, entity_id):
        return base | {"problem": "You may not view this activity."}
    notice = ""
    try:
        query = ActivityQuery.parse(
            request.GET if filters else {},
            default_limit=selectors.PAGE_SIZE,
            max_limit=selectors.MAX_PAGE_SIZE,
        )
    except BadActivityQuery:
        query, notice = ActivityQuery(limit=selectors.PAGE_SIZE), "Filters in the address ignored."
    panel = selectors.entity_panel(entity_kind, entity_id, query)
    return base | {
        "panel": panel,
        "page": panel,
        "notice": notice,
        "action": request.path,
        "fragment_url": reverse("activity:entity", args=[entity_kind.kind, entity_id]),
    }


@register.filter
def offset_from(moment: datetime | None, start: datetime | None) -> str:
    """``moment`` relative to ``start``, for a session timeline: "+4 s", "+2 min 05 s",
    "+1 h 02 min"."""
    if moment is None or start is None:
        return ""
    seconds = max(0, int((moment - start).total_seconds()))
    if seconds < 60:
        return f"+{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"+{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"+{hours} h {minutes:02d} min"
    return f"+{hours // 24} d {hours % 24} h"


@register.filter
def initial(name: str) -> str:
    """The first letter of a name, for an avatar."""
    return (name or "?")[:1].upper()
