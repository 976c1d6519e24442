"""``{% load activity_links %}``: a person's name and a session, each one click from its
activity, wherever a page shows them (the activity panel, the user page, the session
timeline, the catalog's lists and pages, the start page), for the request's user:
``activity.links`` decides who sees a link.
"""

from __future__ import annotations

from typing import Any

from django import template

from .. import links

register = template.Library()


def _viewer(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None)


@register.simple_tag(takes_context=True)
def user_link(context: template.Context, person: Any, label: str = "", css: str = "") -> str:
    """``person``'s name (or ``label``), linked to their activity page."""
    return links.user_link(_viewer(context), person, label, css)


@register.simple_tag(takes_context=True)
def session_link(context: template.Context, session: Any, label: str = "", css: str = "") -> str:
    """A link to ``session``'s timeline, or nothing for a reader who may not open it."""
    return links.session_link(_viewer(context), session, label, css)


@register.simple_tag(takes_context=True)
def error_group_link(context: template.Context, record: Any, css: str = "") -> str:
    """An error record's group, for a reader who may read that group; nothing otherwise."""
    return links.error_group_link(_viewer(context), record, css)
