"""Helpers for the analysis tests: store known events at known times, ask the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from rest_framework.test import APIClient

import audit
from audit import AuditContext, bind


def at(user: User | None, when: datetime, type_name: str = "log", **kwargs: Any) -> int | None:
    """One record of ``user`` stored at ``when`` (the past, in time order)."""
    with audit.backdated(when), bind(AuditContext(user=user)):
        return audit.log(type_name, kwargs.pop("message", type_name), **kwargs)


def analyst(username: str = "ana", *, via_group: bool = True) -> User:
    """A user who may read analysis through ``audit.view_analysis`` (not staff)."""
    user = User.objects.create_user(username, f"{username}@example.com", "pw")
    permission = Permission.objects.get(content_type__app_label="audit", codename="view_analysis")
    if via_group:
        group, _ = Group.objects.get_or_create(name="analysis-readers")
        group.permissions.add(permission)
        user.groups.add(group)
    else:
        user.user_permissions.add(permission)
    return User.objects.get(pk=user.pk)  # a fresh instance: no permission cache


def api(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def usage(client: APIClient, **params: str) -> dict[str, Any]:
    response = client.get("/api/audit/analysis/usage/", params)
    assert response.status_code == 200, response.content
    return response.json()
