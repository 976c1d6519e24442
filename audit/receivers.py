"""Receivers connected in ``AuditConfig.ready``: sessions follow sign-ins and sign-outs,
which are recorded with failed sign-ins and tokens, and the switches' caches follow
their rules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from . import sessions, switch_rules
from .context import current

_credentials_recorded: ContextVar[bool] = ContextVar("audit_credentials", default=True)


@contextlib.contextmanager
def credentials_unrecorded() -> Iterator[None]:
    """Open sessions as a sign-in does, but record no sign-in, sign-out or token change:
    for tests' set-up (a test client's ``force_login``, a fixture's token), which is a
    shortcut past the real pages rather than a use of them."""
    token = _credentials_recorded.set(False)
    try:
        yield
    finally:
        _credentials_recorded.reset(token)


def user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Open the browser session and record ``user-signed-in`` as its first record."""
    if request is None or not hasattr(request, "session"):
        return
    ref = sessions.on_login(request, user)
    ctx = current()
    if ctx is not None and ctx.request is request:
        ctx.session = ref  # the user is the request's, which login() has just set
    if _credentials_recorded.get():
        _record_sign_in("user-signed-in", f"Signed in via {_where(request)}", request, user)


def user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Record ``user-signed-out`` in the session that ends, then end it."""
    if request is None:
        return
    if (
        user is not None
        and getattr(user, "is_authenticated", False)
        and _credentials_recorded.get()
    ):
        _record_sign_in("user-signed-out", "Signed out", request, user)
    sessions.on_logout(request)


def user_login_failed(sender: Any, credentials: Any, request: Any = None, **kwargs: Any) -> None:
    """Record ``user-sign-in-failed``: the username tried, the address and the agent.

    Django hands over the credentials with the password already masked; only the
    username is kept, and no entity is linked, so the record says nothing about
    whether that user exists."""
    tried = ""
    if isinstance(credentials, dict):
        tried = str(credentials.get("username") or credentials.get("email") or "")[:150]
    params = {"username": tried}
    if request is not None:
        params |= {"ip": sessions.client_ip(request) or "", "via": _where(request)}
        params["user_agent"] = request.META.get("HTTP_USER_AGENT", "")[:400]
    from .logger import log

    log("user-sign-in-failed", f"Sign-in failed for {tried!r}", params)


def _where(request: Any) -> str:
    path = getattr(request, "path", "") or ""
    return "the admin" if path.startswith("/admin/") else "the sign-in page"


def _record_sign_in(type_name: str, message: str, request: Any, user: Any) -> None:
    from .logger import log

    log(
        type_name,
        message,
        {
            "ip": sessions.client_ip(request) or "",
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:400],
        },
        entities=[user],
        user=user,
    )


def token_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Record ``token-created`` (never the key itself)."""
    if created and _credentials_recorded.get():
        _record_token("token-created", f"Created an API token for {instance.user}", instance)


def token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    if _credentials_recorded.get():
        _record_token("token-deleted", f"Deleted an API token of {instance.user}", instance)


def _record_token(type_name: str, message: str, token: Any) -> None:
    from .logger import log

    log(type_name, message, {"owner": token.user.get_username()}, entities=[token.user])


def rules_changed(sender: Any, **kwargs: Any) -> None:
    """An event type was saved or deleted, its groups changed, or a group was deleted."""
    switch_rules.changed()


def memberships_changed(sender: Any, action: str, **kwargs: Any) -> None:
    """``user.groups`` changed, from the user's side or from the group's side: group ids
    are cached under the switches' generation, so a new one forgets them all."""
    if action.startswith("post_"):
        switch_rules.changed()


def group_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A group was renamed or deleted: the rules name and key groups."""
    switch_rules.changed()


def _disabled_groups(type_ids: Any) -> dict[int, list[str]]:
    from .models import EventType

    found: dict[int, list[str]] = {pk: [] for pk in type_ids}
    rows = EventType.disabled_for.through.objects.filter(eventtype_id__in=list(found))
    for type_id, group in rows.values_list("eventtype_id", "group__name").order_by("group__name"):
        found[type_id].append(group)
    return found


def rule_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """Record who switched a type off or on for which groups, from what to what.

    Django sends these signals inside the transaction of the change itself, so the
    record and the change commit together.
    """
    from .logger import log
    from .models import EventType

    if action.startswith("pre_"):
        if reverse:  # group.disabled_event_types.add(...): instance is the group
            ids = (
                list(instance.disabled_event_types.values_list("pk", flat=True))
                if action == "pre_clear"
                else list(pk_set or ())
            )
        else:
            ids = [instance.pk]
        instance._audit_rule_before = _disabled_groups(ids)
        return
    before = getattr(instance, "_audit_rule_before", None)
    if before is None:
        return
    del instance._audit_rule_before
    after = _disabled_groups(before)
    for event_type in EventType.objects.filter(
        pk__in=[pk for pk in before if before[pk] != after[pk]]
    ):
        log(
            "event-type-edited",
            f"Edited event type '{event_type.name}': disabled_for_groups",
            entities=[event_type],
            changes={
                "disabled_for_groups": {"old": before[event_type.pk], "new": after[event_type.pk]}
            },
        )
