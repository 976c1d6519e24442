"""Which clients the server trusts to record what only the server records.

A trusted service is a server process of the platform posting through the ingest API:
it may post the server-only types (``audit.server_types``) and link records to any
entity, as ``audit.log`` in Python may. Trust belongs to a token, never to a browser:
the request must be authenticated by an API token whose user holds the permission
``audit.trusted_service``, granted to that user or one of their groups. Superuser status
alone does not make a token trusted, so an admin's everyday token cannot forge history
by mistake.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q

APP_LABEL, CODENAME = "audit", "trusted_service"
PERMISSION = f"{APP_LABEL}.{CODENAME}"


def is_trusted_service(request: Any) -> bool:
    """Whether ``request`` comes from a trusted service's token (one query, tokens only)."""
    auth = getattr(request, "auth", None)
    user = getattr(request, "user", None)
    if auth is None or not hasattr(auth, "key") or user is None or not user.is_active:
        return False
    return holds_permission(user)


def holds_permission(user: Any) -> bool:
    """Granted to the user or one of their groups; superuser status does not count."""
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user),
        content_type__app_label=APP_LABEL,
        codename=CODENAME,
    ).exists()
