"""Receivers connected in ``AuditConfig.ready``: sessions follow logins and logouts."""

from __future__ import annotations

from typing import Any

from . import sessions, toggles
from .context import current


def user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    ref = sessions.on_login(request, user)
    ctx = current()
    if ctx is not None and ctx.request is request:
        ctx.user = user
        ctx.session = ref


def user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None:
        sessions.on_logout(request)


def rules_changed(sender: Any, **kwargs: Any) -> None:
    """An event type was saved or deleted, its groups changed, or a group was deleted."""
    toggles.forget_rules()


def memberships_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """``user.groups`` changed, from the user's side or from the group's side."""
    if not reverse:  # user.groups.add/remove/clear: instance is the user
        if action.startswith("post_"):
            toggles.forget_groups([instance.pk])
    elif action == "pre_clear":  # group.user_set.clear(): note who is in it now
        instance._audit_members = list(instance.user_set.values_list("pk", flat=True))
    elif action == "post_clear":
        toggles.forget_groups(getattr(instance, "_audit_members", ()))
    elif action in ("post_add", "post_remove"):
        toggles.forget_groups(pk_set or ())


def group_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    toggles.forget_rules()
