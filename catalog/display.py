"""How an entity's fields read on its page: labels, values and how to show each.

Templates stay simple loops over ``Detail`` rows; what is a secret, what is code and
what is a list of steps is decided here once, in Python, where it can be tested. A
secret's value never reaches a template: only whether one is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .models import Connection, Entity, Job, Notebook, PredictiveModel, Query, Script


@dataclass(frozen=True)
class Detail:
    """One row of an entity's details.

    ``style`` tells the template how to render ``value``: ``text``, ``code`` (a block
    of SQL or source, ``lang`` names it), ``json`` (pretty-printed), ``secret`` (value
    is only a bool: stored or not), ``bool``, ``chips`` (a list of strings),
    ``steps`` (transformations), ``link`` (value is an entity), ``links``, ``pairs``
    (a mapping shown as a small table) or ``cells`` (notebook cells).
    """

    label: str
    value: Any
    style: str = "text"
    lang: str = ""


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def facts(obj: Entity) -> list[Detail]:
    """Short facts shown in the entity's header card, kind-specific first."""
    rows: list[Detail] = []
    if isinstance(obj, Connection):
        rows += [
            Detail("Data source", obj.get_data_source_display()),
            Detail("Server", obj.server or "—"),
            Detail("Port", obj.port if obj.port is not None else "—"),
            Detail("Database", obj.database or "—"),
            Detail("Login", obj.login or "—"),
            Detail("Password", bool(obj.password), "secret"),
        ]
    elif isinstance(obj, Query):
        rows.append(Detail("Connection", obj.connection, "link"))
    elif isinstance(obj, Job):
        rows += [
            Detail("Schedule", obj.schedule or "Run by hand", "code" if obj.schedule else "text"),
            Detail("Enabled", obj.enabled, "bool"),
        ]
    elif isinstance(obj, Script):
        rows.append(Detail("Language", obj.get_language_display()))
    elif isinstance(obj, PredictiveModel):
        rows += [Detail("Method", obj.method), Detail("Target", obj.target or "—")]
    elif isinstance(obj, Notebook):
        rows.append(Detail("Environment", obj.environment or "—"))
    return rows


def sections(obj: Entity) -> list[Detail]:
    """The larger blocks of an entity's page: SQL, source, steps, parameters..."""
    rows: list[Detail] = []
    if isinstance(obj, Query):
        rows.append(Detail("SQL", obj.text, "code", "sql"))
        if obj.parameters:
            rows.append(Detail("Parameters", _json(obj.parameters), "json"))
        rows.append(Detail("Transformations", _steps(obj.transformations), "steps"))
    elif isinstance(obj, Job):
        rows.append(Detail("Queries", list(obj.queries.order_by("name")), "links"))
        rows.append(Detail("Transformations", _steps(obj.transformations), "steps"))
    elif isinstance(obj, Script):
        rows.append(Detail("Source", obj.body, "code", obj.language))
        if obj.parameters:
            rows.append(Detail("Parameters", _json(obj.parameters), "json"))
    elif isinstance(obj, PredictiveModel):
        rows.append(Detail("Features", [str(item) for item in obj.features], "chips"))
        if obj.metrics:
            rows.append(Detail("Metrics", sorted(obj.metrics.items()), "pairs"))
        if obj.parameters:
            rows.append(Detail("Training parameters", _json(obj.parameters), "json"))
    elif isinstance(obj, Notebook):
        rows.append(Detail("Cells", _cells(obj.content), "cells"))
    return rows


def _cells(content: Any) -> list[dict[str, str]]:
    """Notebook cells for the page. A markdown cell's leading ``# Title`` line becomes
    its heading; the rest is shown as plain text (no markdown is rendered, so no HTML
    from a cell ever reaches the page)."""
    cells = []
    for cell in content if isinstance(content, list) else []:
        if not isinstance(cell, dict):
            cells.append({"type": "code", "source": str(cell), "heading": ""})
            continue
        source = str(cell.get("source", ""))
        heading = ""
        if cell.get("type") == "markdown":
            first, _, rest = source.partition("\n")
            if first.startswith("#"):
                heading, source = first.lstrip("#").strip(), rest.strip()
            cells.append({"type": "markdown", "source": source, "heading": heading})
        else:
            cells.append({"type": "code", "source": source, "heading": ""})
    return cells


def _steps(transformations: Any) -> list[tuple[str, str]]:
    """Transformation steps as (op, settings in a line)."""
    steps = []
    for step in transformations if isinstance(transformations, list) else []:
        if not isinstance(step, dict):
            steps.append((str(step), ""))
            continue
        settings = ", ".join(
            f"{key}: {_inline(value)}" for key, value in step.items() if key != "op"
        )
        steps.append((str(step.get("op", "?")), settings))
    return steps


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def summary(obj: Entity) -> str:
    """The one detail a list row shows beside the name (a query's connection, a job's
    schedule...); what the list page joins in (``selectors.for_list``)."""
    if isinstance(obj, Connection):
        return obj.get_data_source_display()
    if isinstance(obj, Query):
        return obj.connection.name if obj.connection is not None else "No connection"
    if isinstance(obj, Job):
        return obj.schedule or "Run by hand"
    if isinstance(obj, Script):
        return obj.get_language_display()
    if isinstance(obj, PredictiveModel):
        return obj.method
    if isinstance(obj, Notebook):
        return obj.environment
    return ""
