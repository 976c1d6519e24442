"""The 47 event types of the specification, with their default level and meaning.

The data migration seeds them; ``EventType.built_in`` marks them so that they are never
counted against the cap on custom types and cannot be removed.
"""

from __future__ import annotations

from .levels import Level

A, U, INFO, E = Level.AUDIT, Level.USAGE, Level.INFO, Level.ERROR


# (name, level, description)
BuiltinType = tuple[str, str, str]


def _entity_types(kind: str, label: str, extra: tuple[str, ...] = ()) -> list[BuiltinType]:
    rows: list[BuiltinType] = [
        (f"{kind}-created", A, f"A {label} was created."),
        (f"{kind}-edited", A, f"A {label} was changed; the record holds the changed fields."),
        (f"{kind}-deleted", A, f"A {label} was deleted."),
    ]
    meanings = {
        "start": (U, f"A {label} was run."),
        "published": (A, f"A {label} was published."),
        "transformations-edited": (A, f"The transformations of a {label} were changed."),
        "opened": (U, f"A {label} was opened."),
    }
    for action in extra:
        level, text = meanings[action]
        rows.append((f"{kind}-{action}", level, text))
    return rows


BUILTIN_TYPES: list[BuiltinType] = [
    *_entity_types("query", "query", ("start", "published", "transformations-edited")),
    *_entity_types("connection", "connection", ("published",)),
    *_entity_types("job", "job", ("transformations-edited", "start")),
    *_entity_types("script", "script", ("start", "published")),
    *_entity_types("predictive-model", "predictive model", ("start", "published")),
    ("action-start", U, "An action was run."),
    *_entity_types("notebook", "notebook", ("start", "published")),
    *_entity_types("project", "project", ("opened",)),
    ("entity-shared", A, "An entity was shared with users or groups, who were notified."),
    ("entity-shared-silent", A, "An entity was shared without notifying anyone."),
    ("table-produced", U, "A run produced a table."),
    ("user-invited", A, "A user was invited to the platform."),
    ("comment-posted", A, "A comment was posted on an entity."),
    ("dialog-ok", U, "A dialog was confirmed."),
    ("main-menu-item-click", U, "A main menu item was clicked."),
    ("error", E, "An error, with its stack trace for grouping."),
    ("tutorial-completed", U, "A tutorial was completed."),
    ("viewer-rendered", U, "A viewer (chart or table) was rendered."),
    ("log", INFO, "A free-form log message (the default type of DG.Logger)."),
    ("package-tested", INFO, "A package's tests were run."),
]

BUILTIN_NAMES: frozenset[str] = frozenset(name for name, _, _ in BUILTIN_TYPES)
assert len(BUILTIN_TYPES) == 47 == len(BUILTIN_NAMES), "the specification lists 47 types"
