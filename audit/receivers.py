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
    toggles.changed()


def memberships_changed(sender: Any, action: str, **kwargs: Any) -> None:
    """``user.groups`` changed, from the user's side or from the group's side: group ids
    are cached under the switches' generation, so a new one forgets them all."""
    if action.startswith("post_"):
        toggles.changed()


def group_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A group was renamed or deleted: the rules name and key groups."""
    toggles.changed()


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
