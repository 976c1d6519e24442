"""Binds each request to the audit context: user, session, request id, client.

The session itself is resolved lazily, on the first record the request writes, so a
request that records nothing costs nothing. Works for sync and async views alike:
the context lives in a contextvar, which asgiref carries across sync/async hops.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from . import sessions
from .context import AuditContext, bind, new_request_id
from .sessions import client_ip

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


def context_for(request: HttpRequest) -> AuditContext:
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    return AuditContext(  # the user is read from the request when a record needs it
        request_id=incoming if _REQUEST_ID.match(incoming) else new_request_id(),
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        request=request,
    )


def _attach(request: HttpRequest, ctx: AuditContext) -> AuditContext:
    """``request.audit_context``: the request's context, for views that want it."""
    # A middleware's attribute on the request, as Django's own request.user: the stubs
    # of HttpRequest declare only Django's.
    request.audit_context = ctx  # type: ignore[attr-defined]
    return ctx


class AuditContextMiddleware:
    """Sets the audit context for the request and echoes ``X-Request-ID``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        sessions.remember_before_login(request)
        ctx = _attach(request, context_for(request))
        with bind(ctx):
            response: HttpResponse = self.get_response(request)
        response.headers.setdefault("X-Request-ID", ctx.request_id)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        ctx = _attach(request, context_for(request))
        with bind(ctx):
            response: HttpResponse = await self.get_response(request)
        response.headers.setdefault("X-Request-ID", ctx.request_id)
        return response
