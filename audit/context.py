"""Who is acting, in which session, for which request: carried in a contextvar.

A contextvar (not a thread-local, not a global) is what keeps the binding right when
requests run concurrently in threads or as coroutines: each request, each task and
each ``asyncio`` task sees its own value. Middleware binds it for a request, the token
authenticator fills in the user it found, and Celery carries it in task headers.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class SessionRef:
    """The parts of a ``UserSession`` the recording path needs, cheap to cache."""

    pk: int
    uuid: uuid.UUID
    user_id: int | None


@dataclass(slots=True)
class AuditContext:
    """The acting user and session. ``session`` is resolved lazily on first record."""

    user: Any = None  # a User, an AnonymousUser or None (system)
    session: SessionRef | None = None
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    request: Any = field(default=None, repr=False)


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


def activate(ctx: AuditContext | None) -> Token:
    """Set the acting context until ``deactivate(token)``: for hooks that cannot use
    a ``with`` block (Celery's prerun and postrun signals)."""
    return _current.set(ctx)


def deactivate(token: Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def bind(ctx: AuditContext) -> Iterator[AuditContext]:
    """Make ``ctx`` the acting context for the code inside the ``with`` block."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
