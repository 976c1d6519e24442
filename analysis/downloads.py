"""Every table of the analysis pages as CSV, with a file name that says what it holds."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpResponse

from . import queries, rollups
from .period import Question

TABLES = ("series", "types", "users", "entities")


def _csv(
    name: str, question: Question, header: list[str], rows: Iterable[list[Any]]
) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    since = question.since.astimezone(question.tz).strftime("%Y%m%d")
    until = question.until.astimezone(question.tz).strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="analysis-{name}-{since}-{until}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else _cell(value) for value in row])
    return response


def _cell(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    # A cell that a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def overview_table(question: Question, table: str) -> HttpResponse:
    if table not in TABLES:
        raise BadRequest(f"download must be one of {', '.join(TABLES)}.")
    if table != "series":  # the series' answer folds itself (``queries.usage``)
        rollups.fold()  # the newest records count, as on the page the table comes from
    if table == "series":
        answer = queries.usage(question)
        rows = [[b["start"], b["events"], b["users"]] for b in answer["series"]]
        return _csv("series", question, ["start", "events", "users"], rows)
    if table == "types":
        rows = [[r["type"], r["events"], r["users"]] for r in queries.types(question, limit=1000)]
        return _csv("types", question, ["type", "events", "users"], rows)
    if table == "users":
        found = queries.top_users(question, limit=10_000)
        rows = [[r["user"], r["events"], r["sessions"], r["last_seen"]] for r in found]
        return _csv("users", question, ["user", "events", "sessions", "last_seen"], rows)
    found_entities = queries.entities(question, limit=1000)
    rows = [
        [how, r["kind"], r["id"], r["name"], r["events"]]
        for how in ("used", "changed")
        for r in found_entities[how]
    ]
    return _csv("entities", question, ["how", "kind", "id", "name", "events"], rows)


ERROR_COLUMNS = [
    "fingerprint", "type", "message", "count", "users", "first_seen", "last_seen", "status",
    "sample",
]  # fmt: skip


def errors_table(question: Question, status: list[str], sort: str) -> HttpResponse:
    rows, _ = queries.errors(question, status=status, sort=sort, limit=10_000)
    return _csv("errors", question, ERROR_COLUMNS, ([r[c] for c in ERROR_COLUMNS] for r in rows))
