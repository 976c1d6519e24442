"""A ``logging.Handler`` that stores Python log records as audit records.

Add it to ``LOGGING`` (see README) to keep warnings and errors of server processes in
the audit trail: a record logged with an exception becomes an ``error`` record with
its traceback, so it groups with the other occurrences of the same error.
"""

from __future__ import annotations

import logging
import traceback
from contextvars import ContextVar

from django.db import transaction

from .levels import Level

_emitting: ContextVar[bool] = ContextVar("audit_handler_emitting", default=False)

_LEVELS = [
    (logging.ERROR, Level.ERROR),
    (logging.WARNING, Level.WARNING),
    (logging.INFO, Level.INFO),
    (0, Level.DEBUG),
]


class AuditLogHandler(logging.Handler):
    """Stores each log record through ``audit.log``; never lets a failure escape."""

    def emit(self, record: logging.LogRecord) -> None:
        if _emitting.get():  # the audit system logging about itself: do not recurse
            return
        token = _emitting.set(True)
        try:
            from .logger import log

            level = next(mapped for threshold, mapped in _LEVELS if record.levelno >= threshold)
            stack_trace = None
            if record.exc_info and record.exc_info[0] is not None:
                stack_trace = "".join(traceback.format_exception(*record.exc_info))
            is_error = record.levelno >= logging.ERROR
            params = {"logger": record.name, "module": record.module, "line": record.lineno}
            if record.funcName:
                params["function"] = record.funcName
            # In a savepoint of its own: a record that cannot be stored must not leave
            # the caller's transaction unusable, as a failed statement in it would.
            with transaction.atomic():
                log(
                    "error" if is_error else "log",
                    record.getMessage(),
                    params,
                    level=level,
                    stack_trace=stack_trace,
                )
        except Exception:
            self.handleError(record)
        finally:
            _emitting.reset(token)
