"""Who is acting, in which session, for which request: carried in a contextvar.

A contextvar (not a thread-local, not a global) is what keeps the binding right when
requests run concurrently in threads or as coroutines: each request, each task and
each ``asyncio`` task sees its own value. The middleware binds it for a request (the one
place that does), Celery carries it in task headers, and server code binds its own
with ``bind``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class SessionRef:
    """The parts of a ``UserSession`` the recording path needs, cheap to cache."""

    pk: int
    uuid: uuid.UUID
    user_id: int | None


class AuditContext:
    """Who is acting, in which session, for which request.

    The acting user is either given (server code, a task, ``audit.log(user=...)``) or,
    for a request, read from the request whenever it is needed: so the middleware binds
    the context once, before anyone knows the user, and the sign-in, DRF's token
    authentication (which sets ``request.user`` on the Django request too) and the
    views never have to tell it who the user turned out to be. The session is resolved
    lazily by ``audit.sessions.for_context`` and forgotten when the user it was resolved
    for is no longer the acting one.
    """

    __slots__ = ("_user", "ip", "request", "request_id", "session", "user_agent")

    def __init__(
        self,
        user: Any = None,
        session: SessionRef | None = None,
        request_id: str = "",
        ip: str | None = None,
        user_agent: str = "",
        request: Any = None,
    ) -> None:
        self._user = user
        self.session = session
        self.request_id = request_id
        self.ip = ip
        self.user_agent = user_agent
        self.request = request

    @property
    def user(self) -> Any:
        """A User, an AnonymousUser, or None for the system itself."""
        if self._user is not None or self.request is None:
            return self._user
        return getattr(self.request, "user", None)

    def __repr__(self) -> str:
        return (
            f"AuditContext(user={self.user!r}, session={self.session!r}, "
            f"request_id={self.request_id!r})"
        )


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


def activate(ctx: AuditContext | None) -> Token[AuditContext | None]:
    """Set the acting context until ``deactivate(token)``: for hooks that cannot use
    a ``with`` block (Celery's prerun and postrun signals)."""
    return _current.set(ctx)


def deactivate(token: Token[AuditContext | None]) -> None:
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
