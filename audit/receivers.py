"""Receivers connected in ``AuditConfig.ready``: sessions follow logins and logouts."""

from __future__ import annotations

from typing import Any

from . import sessions
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
