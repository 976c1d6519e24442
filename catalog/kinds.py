"""The entity kinds of the catalog: one table that the registration, the API router,
the pages and the demo all read, so that a kind is declared once.

A kind's name is the audit kind (``predictive-model``), its plural the URL segment
(``/catalog/predictive-models/``). What a kind can do follows the specification's
fixed event types: only kinds with a ``KIND-published`` type can be published, only
kinds with a ``KIND-start`` type can be run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models

from .models import Connection, Entity, Job, Notebook, PredictiveModel, Project, Query, Script


@dataclass(frozen=True)
class Kind:
    kind: str
    model: type[Entity]
    plural: str
    label: str
    label_plural: str
    publishable: bool = False
    runnable: bool = False
    produces_table: bool = False  # a run also records table-produced
    links: tuple[str, ...] = ("project",)
    field_types: dict[str, str] = field(default_factory=dict)
    mask: tuple[str, ...] = ()

    @property
    def published_type(self) -> str:
        return f"{self.kind}-published"

    @property
    def start_type(self) -> str:
        return f"{self.kind}-start"


KINDS: dict[str, Kind] = {
    spec.kind: spec
    for spec in (
        Kind("project", Project, "projects", "Project", "Projects", links=()),
        Kind(
            "query",
            Query,
            "queries",
            "Query",
            "Queries",
            publishable=True,
            runnable=True,
            produces_table=True,
            links=("project", "connection"),
            field_types={"transformations": "query-transformations-edited"},
        ),
        Kind(
            "connection",
            Connection,
            "connections",
            "Connection",
            "Connections",
            publishable=True,
            mask=("password",),
        ),
        Kind(
            "job",
            Job,
            "jobs",
            "Job",
            "Jobs",
            runnable=True,
            produces_table=True,
            field_types={"transformations": "job-transformations-edited"},
        ),
        Kind("script", Script, "scripts", "Script", "Scripts", publishable=True, runnable=True),
        Kind(
            "predictive-model",
            PredictiveModel,
            "predictive-models",
            "Predictive model",
            "Predictive models",
            publishable=True,
            runnable=True,
        ),
        Kind(
            "notebook",
            Notebook,
            "notebooks",
            "Notebook",
            "Notebooks",
            publishable=True,
            runnable=True,
        ),
    )
}

BY_PLURAL: dict[str, Kind] = {spec.plural: spec for spec in KINDS.values()}
_BY_MODEL: dict[type[models.Model], Kind] = {spec.model: spec for spec in KINDS.values()}

# Fields that change on every save or only through an action: not worth an edit record.
TRACKING_EXCLUDE = ("created_at", "updated_at", "published")


def of(obj: models.Model | type[models.Model]) -> Kind:
    """The kind of a catalog object (or model class); ``KeyError`` for other models."""
    model = obj if isinstance(obj, type) else type(obj)
    return _BY_MODEL[model]
