"""Who may read usage analysis: staff, and holders of ``audit.view_analysis`` (granted
to a user or a group in the admin). Anyone else gets a 403, on every page, answer and
download, and does not learn the figures exist."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

PERMISSION = "audit.view_analysis"
REFUSED = "Usage analysis is for staff and holders of the permission audit.view_analysis."


def can_view(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_staff) or bool(user.has_perm(PERMISSION))


def require(user: Any) -> None:
    if not can_view(user):
        raise PermissionDenied(REFUSED)


class CanViewAnalysis(BasePermission):
    message = REFUSED

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_view(request.user)
