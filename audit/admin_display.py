"""How the admin shows things: times, JSON, links to a filtered list or to a user's
activity, and the permissions of an append-only model. Shared by the records' and
sessions' admin (``audit.admin``), the seals' (``audit.admin_integrity``) and other
apps' admin through the public face (``audit.user_activity_link``)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html


class ReadOnlyMixin:
    """Permissions of an append-only model: view, never add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(value: Any) -> str:
    if value in (None, {}, []):
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="audit-json">{}</pre>', text)


def changelist_url(model: type[Any], **filters: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return f"{url}?{query}" if query else url


def compact_time(moment: Any, day_of: Any = None) -> str:
    """Compact and sortable to the eye (2026-03-01 14:30:05), in the site's zone; only
    the time when it is the same day as ``day_of``; to the microsecond on hover."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    same_day = day_of is not None and timezone.localtime(day_of).date() == local.date()
    return format_html(
        '<time class="audit-time" datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S.%f %Z"),
        local.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S"),
    )


def acting_user_link(obj: Any) -> str:
    """The user of a record, a session or a staged change (``user`` beside ``user_id``),
    linked to their activity page, or said to be deleted."""
    if obj.user_id is not None and obj.user is None:
        return f"deleted user #{obj.user_id}"
    return user_activity_link(obj.user)


def user_activity_link(user: Any) -> str:
    """A user's name in an admin list, linked to their activity page (any app's admin
    may use it: the catalog's lists their owners and comment authors with it)."""
    if user is None:
        return "—"
    name = user.get_username()
    return format_html('<a href="{}">{}</a>', reverse("activity:user", args=[name]), name)
