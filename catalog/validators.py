"""Validators of the catalog's JSON and text fields.

They sit on the model fields, so the admin, the REST serializers (DRF copies model
validators) and ``full_clean`` all refuse the same bad shapes with a 400, instead of
letting a wrong type reach a page that expects a list or a mapping.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

import audit

# Five fields (minute hour day-of-month month day-of-week), each a number, a range, a
# list, a step or "*"; or one of the @-shortcuts cron understands.
_CRON_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*|[A-Za-z]{3}(-[A-Za-z]{3})?"
_CRON = re.compile(rf"^({_CRON_FIELD})(\s+({_CRON_FIELD})){{4}}\Z")
_CRON_SHORTCUTS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually"}


# Deeper than any parameters, metrics or cells need, well inside what the JSON encoder
# writes back without reaching the interpreter's recursion limit.
MAX_JSON_DEPTH = 64


def no_nul(value: Any) -> None:
    """What PostgreSQL cannot store in text or jsonb (NUL, lone surrogates) and JSON
    nested past ``MAX_JSON_DEPTH`` are refused here, a 400 where the database or the
    response's encoder would give a 500. Walks JSON values (keys included) without
    recursing."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValidationError("Must not contain NUL characters.", code="null_characters")
            if audit.has_lone_surrogate(item):
                raise ValidationError(
                    "Must not contain lone surrogates (\\ud800-\\udfff not in a pair).",
                    code="surrogates",
                )
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValidationError(
                    f"Must nest at most {MAX_JSON_DEPTH} levels.", code="too_deep"
                )
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def json_object(value: Any) -> None:
    """Parameters and metrics are name -> value mappings."""
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object.", code="not_an_object")
    no_nul(value)


def json_list(value: Any) -> None:
    """Transformations, features and notebook cells are ordered lists."""
    if not isinstance(value, list):
        raise ValidationError("Must be a JSON array.", code="not_a_list")
    no_nul(value)


def transformations(value: Any) -> None:
    """A list of steps, each an object that names its operation: ``{"op": "filter", ...}``.

    The activity panel and the pages print ``op`` per step, so a step without one is
    refused here rather than shown as a blank line later.
    """
    json_list(value)
    for index, step in enumerate(value):
        if not isinstance(step, dict) or not isinstance(step.get("op"), str) or not step["op"]:
            raise ValidationError(
                f'Step {index} must be an object with a non-empty "op", e.g. {{"op": "filter"}}.',
                code="bad_step",
            )


def cron(value: str) -> None:
    """A cron schedule: five fields or an @-shortcut; empty means "run by hand only"."""
    text = value.strip()
    if not text or text in _CRON_SHORTCUTS:
        return
    if not _CRON.match(text):
        raise ValidationError(
            "Must be a cron expression of five fields, e.g. '0 2 * * *', or @daily.",
            code="bad_cron",
        )
