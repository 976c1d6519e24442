"""``{% load activity_links %}``: a person's name and a session, each one click from its
activity, wherever a page shows them (the activity panel, the user page, the session
timeline, the catalog's lists and pages, the start page).

A link appears only for a reader who may open it: a person's activity page is theirs
and staff's, a session's timeline is its user's and staff's (``audit.selectors``). For
anyone else the name is plain text, rather than a link to a "not allowed" page.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

import audit
from audit import can_view_session, can_view_user_activity

register = template.Library()


def _viewer(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None)


@register.simple_tag(takes_context=True)
def user_link(context: template.Context, person: Any, label: str = "", css: str = "") -> str:
    """``person``'s name (or ``label``), linked to their activity page."""
    if person is None:
        return ""
    name = person.get_username()
    text = label or name
    if not can_view_user_activity(_viewer(context), name):
        return format_html('<span class="{}">{}</span>', css, text) if css else text
    url = reverse("activity:user", args=[name])
    title = f"{name}'s activity"
    return format_html('<a class="user-link {}" href="{}" title="{}">{}</a>', css, url, title, text)


@register.simple_tag(takes_context=True)
def session_link(context: template.Context, session: Any, label: str = "", css: str = "") -> str:
    """A link to ``session``'s timeline, or nothing for a reader who may not open it."""
    if session is None or not can_view_session(_viewer(context), session):
        return SafeString("")
    text = label or f"session {str(session.uuid)[:8]}"
    url = reverse("activity:session", args=[session.uuid])
    return format_html(
        '<a class="session-link {}" href="{}" title="Timeline of session {}">{}</a>',
        css,
        url,
        session.uuid,
        text,
    )


@register.simple_tag(takes_context=True)
def error_group_link(context: template.Context, record: Any, css: str = "") -> str:
    """An error record's group (its page in usage analysis), for a reader who may read
    that group (the kind's ``viewable`` rule); nothing otherwise."""
    if not getattr(record, "fingerprint", ""):
        return SafeString("")
    kind = audit.kind("error-group")
    viewer = _viewer(context)
    if kind is None or viewer is None:
        return SafeString("")
    url = kind.url(record.fingerprint)
    if url is None or not audit.can_view_entity(viewer, kind, record.fingerprint):
        return SafeString("")
    return format_html(
        '<a class="{}" href="{}" title="All occurrences of this error">error group</a>', css, url
    )
