"""Changing an error group's status: open, resolved or ignored.

The group is an entity kind of its own (``error-group``, registered by
``analysis.apps``) with change tracking on its status, so a change is an audit record
(``error-group-edited``, who and from what to what) in the change's transaction, and
the group's page shows its history in an activity panel. Resolving remembers when: an
occurrence after that makes the group ``regressed`` (the fold does it, in SQL).
"""

from __future__ import annotations

from django.db import transaction

import audit

from .models import ErrorGroup, ErrorStatus

SETTABLE = (ErrorStatus.OPEN, ErrorStatus.RESOLVED, ErrorStatus.IGNORED)


def change(fingerprint: str, status: str) -> bool:
    """Set the status; False when there is no such group. Setting the status it has
    already changes nothing and records nothing."""
    if status not in SETTABLE:
        raise ValueError(f"status must be one of {', '.join(SETTABLE)}")
    with transaction.atomic():
        group = ErrorGroup.objects.select_for_update().filter(fingerprint=fingerprint).first()
        if group is None:
            return False
        if group.status == status:
            return True
        now = audit.now()  # the replayed time too, when a history is replayed
        group.status = status
        group.status_changed_at = now
        group.resolved_at = now if status == ErrorStatus.RESOLVED else None
        group.save(update_fields=["status", "status_changed_at", "resolved_at"])
    return True
