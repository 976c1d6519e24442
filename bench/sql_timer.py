"""One clock for the statements a benchmark's code sends through Django.

Why this exists: several benchmarks split a request's or a save's time into the time
spent waiting on the database (each ``execute``: the round trip, the server's work and,
in autocommit, the commit) and the rest, Python; one ``connection.execute_wrapper``
serves them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class SqlTimer:
    """An execute wrapper: how many statements, their time, the slowest one with its
    parameters, and every statement sent, as (ms, sql, params) in order."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.slowest: tuple[float, str, Any] = (0.0, "", None)
        self.sent: list[tuple[float, str, Any]] = []

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - began
            self.count += 1
            self.seconds += took
            self.sent.append((took * 1000, sql, params))
            if took * 1000 > self.slowest[0]:
                self.slowest = (took * 1000, sql, params)
