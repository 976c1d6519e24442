"""The Python API for writing records: ``audit.log`` and ``Logger``.

``Logger`` mirrors the JavaScript ``DG.Logger`` of the specification, so the same
habits work on both sides: a callback that sets predefined params, ``log(message,
params, type='log')`` and one method per level.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .context import AuditContext, bind, current
from .levels import Level
from .recording import build_event, record_events


def log(
    type: str,
    message: str = "",
    params: dict[str, Any] | None = None,
    *,
    entities: Iterable[Any] = (),
    level: str | None = None,
    stack_trace: str | None = None,
    user: Any = None,
    changes: dict[str, Any] | None = None,
) -> int | None:
    """Record one event; returns its id, or None when its type is switched off.

    The acting user and session come from the current request or task; ``user``
    overrides the user (for code acting on someone's behalf outside a request).
    """
    event = build_event(
        type,
        message,
        params,
        entities=entities,
        level=level,
        stack_trace=stack_trace,
        changes=changes,
    )
    ctx = current()
    if user is not None and (ctx is None or ctx.user != user):
        ctx = AuditContext(user=user, request_id=ctx.request_id if ctx else "")
    result = record_events([event], ctx=ctx)
    return result.accepted[0] if result.accepted else None


@dataclass
class Message:
    """What a ``Logger`` callback receives and may change before the record is stored."""

    message: str
    params: dict[str, Any]
    type: str
    level: str | None = None
    stack_trace: str | None = None
    entities: list[Any] = field(default_factory=list)


class Logger:
    """A logger with predefined params, like ``new DG.Logger((m) => ...)`` in the browser.

    >>> logger = Logger(lambda m: m.params.update(persistent="value"))
    >>> logger.log("HELLO WORLD", {"test": "value"}, "my_log")
    """

    def __init__(
        self,
        callback: Callable[[Message], Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        user: Any = None,
    ) -> None:
        self.callback = callback
        self.params = dict(params or {})
        self.user = user

    def log(
        self,
        message: str,
        params: dict[str, Any] | None = None,
        type: str = "log",
        *,
        level: str | None = None,
        stack_trace: str | None = None,
        entities: Iterable[Any] = (),
    ) -> int | None:
        msg = Message(
            message=message,
            params={**self.params, **(params or {})},
            type=type,
            level=level,
            stack_trace=stack_trace,
            entities=list(entities),
        )
        if self.callback is not None:
            self.callback(msg)
        return log(
            msg.type,
            msg.message,
            msg.params,
            entities=msg.entities,
            level=msg.level,
            stack_trace=msg.stack_trace,
            user=self.user,
        )

    def audit(self, message: str, params: dict[str, Any] | None = None) -> int | None:
        return self.log(message, params, level=Level.AUDIT)

    def usage(self, message: str, params: dict[str, Any] | None = None) -> int | None:
        return self.log(message, params, level=Level.USAGE)

    def info(self, message: str, params: dict[str, Any] | None = None) -> int | None:
        return self.log(message, params, level=Level.INFO)

    def debug(self, message: str, params: dict[str, Any] | None = None) -> int | None:
        return self.log(message, params, level=Level.DEBUG)

    def warning(self, message: str, params: dict[str, Any] | None = None) -> int | None:
        return self.log(message, params, level=Level.WARNING)

    def error(
        self,
        message: str | BaseException,
        params: dict[str, Any] | None = None,
        stack_trace: str | None = None,
    ) -> int | None:
        """An ``error`` record; an exception gives its message and traceback."""
        if isinstance(message, BaseException):
            error = message
            message = f"{type(error).__name__}: {error}"
            if stack_trace is None:
                stack_trace = "".join(traceback.format_exception(error))
        return self.log(message, params, "error", level=Level.ERROR, stack_trace=stack_trace)


def run_as(user: Any) -> Any:
    """``with audit.logger.run_as(user):`` records made inside act for ``user``."""
    ctx = current()
    return bind(AuditContext(user=user, request_id=ctx.request_id if ctx else ""))
