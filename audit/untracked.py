"""Switching change tracking off for a block of code: ``with audit.disabled():``.

A leaf module (it imports nothing of the app) because the code that must not record
its own bookkeeping (registering a custom event type, restoring fixtures, a demo's
settling of times) sits below change tracking in the import graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_off: ContextVar[bool] = ContextVar("audit_tracking_off", default=False)


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Changes made inside are not recorded (imports, seeding, benchmarks' baseline)."""
    token = _off.set(True)
    try:
        yield
    finally:
        _off.reset(token)


def is_off() -> bool:
    return _off.get()
