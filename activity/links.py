"""A person's name, a session and an error group, each one click from its page, for a
given reader: the functions behind ``{% load activity_links %}`` and the panel's entries
(``activity.entry_html``), which call them without a template context.

A link appears only for a reader who may open it: a person's activity page is theirs
and staff's, a session's timeline is its user's and staff's (``audit.selectors``), an
error group's page follows its kind's ``viewable`` rule. For anyone else the name is
plain text, or nothing, rather than a link to a "not allowed" page.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

import audit
from audit import can_view_session, can_view_user_activity


def user_link(viewer: Any, person: Any, label: str = "", css: str = "") -> str:
    """``person``'s name (or ``label``), linked to their activity page."""
    if person is None:
        return ""
    name = person.get_username()
    text = label or name
    if not can_view_user_activity(viewer, name):
        return format_html('<span class="{}">{}</span>', css, text) if css else text
    url = reverse("activity:user", args=[name])
    title = f"{name}'s activity"
    return format_html('<a class="user-link {}" href="{}" title="{}">{}</a>', css, url, title, text)


def session_link(viewer: Any, session: Any, label: str = "", css: str = "") -> SafeString:
    """A link to ``session``'s timeline, or nothing for a reader who may not open it."""
    if session is None or not can_view_session(viewer, session):
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


def error_group_link(viewer: Any, record: Any, css: str = "") -> SafeString:
    """An error record's group (its page in usage analysis), for a reader who may read
    that group; nothing otherwise."""
    if not getattr(record, "fingerprint", ""):
        return SafeString("")
    kind = audit.kind("error-group")
    if kind is None or viewer is None:
        return SafeString("")
    url = kind.url(record.fingerprint)
    if url is None or not audit.can_view_entity(viewer, kind, record.fingerprint):
        return SafeString("")
    return format_html(
        '<a class="{}" href="{}" title="All occurrences of this error">error group</a>', css, url
    )
