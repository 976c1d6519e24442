"""Carries the audit context into Celery tasks through message headers.

A record written by a task then joins the user and the session of the request that
queued it. Connected from ``AuditConfig.ready``.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import signals

from . import sessions
from .context import AuditContext, SessionRef, activate, current, deactivate

_HEADER = "audit_context"
_tokens: dict[str, Any] = {}


@signals.before_task_publish.connect(weak=False)
def _add_headers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    ctx = current()
    if ctx is None or headers is None:
        return
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    session = ctx.session
    if session is None and user is not None and ctx.request is not None:
        # A request resolves its session when it first records; one that queues a task
        # first would have sent none, and the task's records joined a server session.
        session = sessions.for_context(ctx)
    headers[_HEADER] = {
        "user_id": user.pk if user is not None else None,
        "session": [session.pk, str(session.uuid)] if session is not None else None,
        "request_id": ctx.request_id,
    }


def context_from_headers(carried: dict[str, Any] | None) -> AuditContext | None:
    if not carried:
        return None
    user = None
    if carried.get("user_id") is not None:
        from django.contrib.auth import get_user_model

        user = get_user_model()._default_manager.filter(pk=carried["user_id"]).first()
    session = None
    if carried.get("session"):
        pk, session_uuid = carried["session"]
        session = SessionRef(pk=pk, uuid=uuid.UUID(session_uuid), user_id=user.pk if user else None)
    return AuditContext(user=user, session=session, request_id=carried.get("request_id", ""))


@signals.task_prerun.connect(weak=False)
def _bind(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    carried = getattr(task.request, _HEADER, None) if task is not None else None
    if carried is None and task is not None:
        carried = (getattr(task.request, "headers", None) or {}).get(_HEADER)
    ctx = context_from_headers(carried)
    if ctx is not None and task_id is not None:
        _tokens[task_id] = activate(ctx)


@signals.task_postrun.connect(weak=False)
def _unbind(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        deactivate(token)
