"""The demo's recurring errors: a few that every team knows, each with a life of its own.

Each error happens in a context (rendering a viewer of a project, running a query, a
nightly job) and links the entities involved, as the platform's own error reports do.
Its traces differ from one occurrence to the next the way real ones do (line numbers,
cache-busting query strings, hosts), so grouping them is the fingerprint's work, not
the demo's. One error stops for a while after a fix and comes back: the regression an
error list must show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RecurringError:
    key: str
    message: str
    frames: tuple[tuple[str, str], ...]  # (function, file), innermost first
    context: str  # viewer | query | filter | app | job
    chance: float  # per sitting that has the context (per night for jobs)
    days: tuple[tuple[int, int], ...]  # day ranges [first, last) in which it happens
    language: str = "js"
    # (day, status) set by the admin on the analysis page: the fix of the filter error
    # is marked resolved, and the release of day 32 makes it regressed by itself.
    triage: tuple[tuple[int, str], ...] = ()


ERRORS: tuple[RecurringError, ...] = (
    RecurringError(
        "scatter-columns",
        "TypeError: Cannot read properties of undefined (reading 'columns')",
        (
            ("ScatterPlotViewer.render", "viewers.js"),
            ("Viewer.onSizeChanged", "viewers.js"),
            ("ResizeObserver.<anonymous>", "core.js"),
        ),
        "viewer",
        0.16,
        ((0, 999),),
    ),
    RecurringError(
        "filter-recursion",
        "RangeError: Maximum call stack size exceeded",
        (
            ("FilterGroup.apply", "filters.js"),
            ("FilterGroup.apply", "filters.js"),
            ("DataFrame.onFilterChanged", "dataframe.js"),
        ),
        "filter",
        0.22,
        ((0, 21), (32, 999)),  # fixed on day 21; the fix is undone by a release on day 32
        triage=((24, "resolved"),),
    ),
    RecurringError(
        "query-timeout",
        "Error: Query execution timed out after 60000 ms",
        (
            ("QueryRunner.poll", "queries.js"),
            ("async QueryView.run", "queries.js"),
            ("HTMLButtonElement.onclick", "app.js"),
        ),
        "query",
        0.07,
        ((0, 999),),
    ),
    RecurringError(
        "resize-loop",
        "ResizeObserver loop completed with undelivered notifications.",
        (("ResizeObserver.<anonymous>", "core.js"), ("Dock.layout", "dock.js")),
        "app",
        0.05,
        ((3, 999),),
        triage=((10, "ignored"),),  # a harmless browser warning
    ),
    RecurringError(
        "json-token",
        "SyntaxError: Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
        (
            ("JSON.parse", "<anonymous>"),
            ("ApiClient.fetchJson", "api.js"),
            ("async ProjectView.load", "projects.js"),
        ),
        "app",
        0.12,
        ((35, 999),),  # new after a release in the last week
    ),
    RecurringError(
        "warehouse-timeout",
        'psycopg.OperationalError: connection to server at "warehouse.internal" '
        "(10.0.4.12), port 5432 failed: timeout expired",
        (
            ("run_job", "jobs/runner.py"),
            ("refresh", "jobs/sales.py"),
            ("connect", "psycopg/connection.py"),
        ),
        "job",
        0.25,
        ((0, 999),),
        language="python",
    ),
)


def happens(error: RecurringError, day: int) -> bool:
    return any(first <= day < last for first, last in error.days)


def stack_trace(rng: random.Random, error: RecurringError) -> str:
    """A trace as the browser or Python prints it, with this occurrence's own line
    numbers, build query string and worker path."""
    if error.language == "python":
        root = rng.choice(("/srv/platform", "/opt/platform/releases/2026.11"))
        lines = ["Traceback (most recent call last):"]
        for func, file in reversed(error.frames):
            lines.append(f'  File "{root}/{file}", line {rng.randint(20, 900)}, in {func}')
            lines.append("    ...")
        lines.append(error.message)
        return "\n".join(lines)
    build = f"v=2026.{rng.randint(10, 12)}.{rng.randint(0, 40)}"
    lines = [error.message]
    for func, file in error.frames:
        where = (
            file
            if file == "<anonymous>"
            else (
                f"https://demo.datagrok.local/js/{file}?{build}:{rng.randint(10, 4000)}:"
                f"{rng.randint(1, 80)}"
            )
        )
        lines.append(f"    at {func} ({where})")
    return "\n".join(lines)
