"""Opening, closing and finding user sessions.

Browser sessions open at login and close at logout; their id lives in the Django
session. Token clients get an ``api`` session per token that ends after an idle time;
a token client may instead join one of its user's open sessions by sending its UUID in
``X-Audit-Session``. Code running outside any request (commands, workers) records in
one ``server`` session per process.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

from . import clock, config, shared_cache
from .context import AuditContext, SessionRef
from .models import SessionKind, UserSession

SESSION_KEY = "_audit_session"
JOIN_HEADER = "HTTP_X_AUDIT_SESSION"

_TOUCHED_MAX = 10_000  # sessions remembered before the expired ones are dropped
_touched: dict[int, float] = {}  # session pk -> monotonic time before which not to touch

_server_lock = threading.Lock()
_server_sessions: dict[int, SessionRef] = {}
# user pk -> (monotonic time it idles out, session): this process's server sessions
# acting for users.
_user_sessions: dict[int, tuple[float, SessionRef]] = {}


def _ref(session: UserSession) -> SessionRef:
    return SessionRef(pk=session.pk, uuid=session.uuid, user_id=session.user_id)


def open_session(
    user: Any, kind: str, *, ip: str | None = None, user_agent: str = "", client: str = ""
) -> UserSession:
    """Start a new session; ``user`` may be None for server and anonymous sessions."""
    now = clock.now()
    return UserSession.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        kind=kind,
        ip=ip or None,
        user_agent=(user_agent or "")[:400],
        client=client[:128],
        started_at=now,
        last_seen_at=now,
    )


def close_session(session_uuid: uuid.UUID | str) -> int:
    """Mark a session ended; returns how many were closed (0 if already ended)."""
    now = clock.now()
    return UserSession.objects.filter(uuid=session_uuid, ended_at__isnull=True).update(
        ended_at=now, last_seen_at=now
    )


def touch(ref: SessionRef) -> None:
    """Move ``last_seen_at`` forward, at most once per ``AUDIT_SESSION_TOUCH_SECONDS``.

    The shared cache decides between processes; each process first asks itself, so
    that a busy session costs one cache round trip per interval rather than one per
    batch or tracked save.
    """
    if clock.is_backdated():  # a replayed past says nothing of the session now
        return
    now = time.monotonic()
    if _touched.get(ref.pk, 0.0) > now:
        return
    if len(_touched) >= _TOUCHED_MAX:
        for pk, until in list(_touched.items()):
            if until <= now:
                _touched.pop(pk, None)
    every = config.session_touch_seconds()
    _touched[ref.pk] = now + every
    key = f"audit:touch:{ref.pk}"
    # Without the cache each process touches once per interval on its own: a few more
    # UPDATEs, nothing lost.
    if shared_cache.call(lambda cache: cache.add(key, 1, every), lambda: True):
        UserSession.objects.filter(pk=ref.pk).update(last_seen_at=timezone.now())


# What the request's Django session held before a login could flush it (signing in as
# someone else over a signed-in session empties it before ``user_logged_in``).
_BEFORE_LOGIN = "_audit_session_before_login"


def remember_before_login(request: Any) -> None:
    """Keep the browser session of the request's Django session, for ``on_login``: a
    POST may sign someone in. Called by the middleware, before the view."""
    if request.method == "POST" and hasattr(request, "session"):
        setattr(request, _BEFORE_LOGIN, request.session.get(SESSION_KEY))


def on_login(request: Any, user: Any) -> SessionRef:
    """Open a browser session for a fresh login and remember it in the Django session;
    the browser session it replaces is ended, also when the sign-in was someone else's
    over it (Django flushed the Django session first)."""
    previous = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    previous = previous or getattr(request, _BEFORE_LOGIN, None)
    if previous:
        close_session(previous[1])
    session = open_session(
        user,
        SessionKind.BROWSER,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    ref = _ref(session)
    request.session[SESSION_KEY] = [ref.pk, str(ref.uuid)]
    return ref


def on_logout(request: Any) -> None:
    stored = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if stored:
        close_session(stored[1])


def for_context(ctx: AuditContext) -> SessionRef:
    """The session a record made in ``ctx`` belongs to, opening one if there is none.

    A session resolved for another user than the acting one (the request's anonymous
    visitor before a token was authenticated) is resolved again."""
    user = ctx.user
    if ctx.session is not None and ctx.session.user_id == getattr(user, "pk", None):
        return ctx.session
    request = ctx.request
    if user is None or request is None:
        ctx.session = server_session() if user is None else _user_server_session(user)
    elif not user.is_authenticated:
        ctx.session = _ref(
            open_session(None, SessionKind.ANONYMOUS, ip=ctx.ip, user_agent=ctx.user_agent)
        )
    elif getattr(request, "auth", None) is not None and _is_token(request.auth):
        ctx.session = token_session(request, user, request.auth)
    else:
        ctx.session = browser_session(request, user)
    return ctx.session


def browser_session(request: Any, user: Any) -> SessionRef:
    """The session stored at login; opened now if the login predates the audit system."""
    stored = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if stored:
        return SessionRef(pk=stored[0], uuid=uuid.UUID(stored[1]), user_id=user.pk)
    return on_login(request, user)


def token_session(request: Any, user: Any, token: Any) -> SessionRef:
    """The ``api`` session of this token, or the session the client asked to join."""
    joined = _joined_session(request, user)
    if joined is not None:
        return joined
    digest = hashlib.sha256(str(token.key).encode()).hexdigest()[:32]
    key = f"audit:token-session:{digest}"
    idle = config.token_session_idle_seconds()
    cached = shared_cache.call(lambda cache: cache.get(key), lambda: None)
    if cached is not None:
        ref = SessionRef(pk=cached[0], uuid=uuid.UUID(cached[1]), user_id=user.pk)
    else:  # also while the cache is away: the database knows the open session
        cutoff = timezone.now() - timedelta(seconds=idle)
        session = (
            UserSession.objects.filter(
                user=user,
                kind=SessionKind.API,
                client=f"token:{digest[:12]}",
                ended_at__isnull=True,
                last_seen_at__gte=cutoff,
            )
            .order_by("-last_seen_at")
            .first()
        )
        if session is None:
            session = open_session(
                user,
                SessionKind.API,
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                client=f"token:{digest[:12]}",
            )
        ref = _ref(session)
    value = [ref.pk, str(ref.uuid)]
    shared_cache.call(lambda cache: cache.set(key, value, idle), lambda: None)
    return ref


def _joined_session(request: Any, user: Any) -> SessionRef | None:
    raw = request.META.get(JOIN_HEADER)
    if not raw:
        return None
    try:
        wanted = uuid.UUID(raw)
    except ValueError:
        return None
    session = (
        UserSession.objects.filter(uuid=wanted, user=user, ended_at__isnull=True)
        .only("pk", "uuid", "user_id")
        .first()
    )
    return _ref(session) if session else None


def server_session() -> SessionRef:
    """This process's own ``server`` session, for records with no acting user."""
    pid = os.getpid()
    ref = _server_sessions.get(pid)
    if ref is not None:
        return ref
    with _server_lock:
        ref = _server_sessions.get(pid)
        if ref is None:
            session = open_session(None, SessionKind.SERVER, client=f"{socket.gethostname()}:{pid}")
            ref = _server_sessions[pid] = _ref(session)
    return ref


def _user_server_session(user: Any) -> SessionRef:
    """Server-side code acting for a user outside a request (shell, command, task): one
    ``server`` session per process and user, renewed after the idle time. Kept in this
    process's memory: the session is this process's own, so no other process needs it."""
    now = time.monotonic()
    found = _user_sessions.get(user.pk)
    if found is not None and found[0] > now:
        return found[1]
    session = open_session(user, SessionKind.SERVER, client=f"{socket.gethostname()}:{os.getpid()}")
    ref = _ref(session)
    if len(_user_sessions) >= _TOUCHED_MAX:
        _user_sessions.clear()
    _user_sessions[user.pk] = (now + config.token_session_idle_seconds(), ref)
    return ref


def clear_local() -> None:
    """Drop what this process keeps of sessions: its server sessions and when it last
    touched each session (tests that flush the database call this)."""
    _server_sessions.clear()
    _user_sessions.clear()
    _touched.clear()


def _is_token(auth: Any) -> bool:
    return hasattr(auth, "key")


def client_ip(request: Any) -> str | None:
    """The peer address. Proxies' forwarded headers are trusted only by configuration
    of the proxy itself (it should set REMOTE_ADDR), so they are not read here."""
    return request.META.get("REMOTE_ADDR") or None
