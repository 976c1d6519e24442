"""``{% load activity_panel %}{% activity_panel KIND OBJECT_ID %}``: an entity's activity
panel inside any page (the catalog's entity pages put it in their right-hand column).

The tag takes the request from the template context, checks that the user may view
the entity, and renders the first page, or the page the request's own ``type`` /
``user`` / ``before`` parameters ask for, so that the panel's filters and "load more"
work as plain links and forms on the embedding page when JavaScript is off. A bad
parameter there is ignored (the embedding page must not fail because of the panel).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.http import Http404
from django.urls import reverse

from audit import ActivityQuery, BadActivityQuery, can_view_entity

from .. import selectors
from ..entry_html import entry_list_html
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
    panel = selectors.entity_panel(entity_kind, entity_id, query, viewer=user)
    return base | {
        "panel": panel,
        "page": panel,
        "notice": notice,
        "action": request.path,
        "fragment_url": reverse("activity:entity", args=[entity_kind.kind, entity_id]),
    }


@register.simple_tag(takes_context=True)
def activity_entries(context: template.Context, entries: Any) -> str:
    """The page's entries (``activity.entry_html``), for the request's user; on a
    session's timeline (``timeline`` and ``session`` in the context), with their offsets."""
    return entry_list_html(entries, context.flatten())
