"""Read-side queries of the catalog: what a user may see, with what a page or the API
needs loaded up front.

Every function returns in a fixed number of queries whatever the number of entities
(related rows come through ``select_related``/``prefetch_related``), which the tests
check with query counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Prefetch, QuerySet

from . import kinds, permissions
from .kinds import KINDS, Kind
from .models import Comment, Entity, Project, Query

RECENT = 8


def _users() -> QuerySet:
    user_model = get_user_model()
    return user_model._default_manager.only("pk", user_model.USERNAME_FIELD)


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(field.name == name and field.concrete for field in model._meta.get_fields())


def visible(spec: Kind, user: Any) -> QuerySet[Entity]:
    """The entities of a kind that ``user`` may view, nothing loaded beyond the rows."""
    return permissions.viewable(user, spec.model._default_manager.all())


def for_api(spec: Kind, user: Any) -> QuerySet[Entity]:
    """What the API serializers read: owner, sharing and a job's query ids, prefetched."""
    prefetches: list[Any] = [
        Prefetch("shared_with_users", queryset=_users()),
        Prefetch("shared_with_groups", queryset=Group.objects.only("pk", "name")),
    ]
    if _has_field(spec.model, "queries"):
        prefetches.append(Prefetch("queries", queryset=Query.objects.only("pk")))
    return visible(spec, user).select_related("owner").prefetch_related(*prefetches)


def for_list(spec: Kind, user: Any, *, search: str = "") -> QuerySet[Entity]:
    """Rows of a list page: owner and project names joined in, newest change first."""
    related = [name for name in ("project", "connection") if _has_field(spec.model, name)]
    queryset = visible(spec, user).select_related("owner", *related)
    if search:
        queryset = queryset.filter(name__icontains=search)
    return queryset.order_by("-updated_at", "pk")


def for_page(spec: Kind, pk: Any) -> Entity | None:
    """One entity with the related rows its page shows, or None if it does not exist
    (visibility is the caller's check: the page answers 403 rather than 404)."""
    related = [name for name in ("owner", "project", "connection") if _has_field(spec.model, name)]
    prefetches: list[Any] = [
        Prefetch("shared_with_users", queryset=_users().order_by("username")),
        Prefetch("shared_with_groups", queryset=Group.objects.order_by("name")),
    ]
    return (
        spec.model._default_manager.select_related(*related)
        .prefetch_related(*prefetches)
        .filter(pk=pk)
        .first()
    )


@dataclass(frozen=True)
class KindCount:
    spec: Kind
    count: int


def overview(user: Any, recent: int = RECENT) -> tuple[list[KindCount], list[Entity]]:
    """How many entities of each kind ``user`` may view, and the most recently changed
    ones across kinds (two queries per kind)."""
    counts = [KindCount(spec, visible(spec, user).count()) for spec in KINDS.values()]
    latest: list[Entity] = []
    for spec in KINDS.values():
        latest += list(visible(spec, user).select_related("owner").order_by("-updated_at")[:recent])
    latest.sort(key=lambda obj: obj.updated_at, reverse=True)
    return counts, latest[:recent]


def project_contents(project: Project, user: Any) -> list[tuple[Kind, list[Entity]]]:
    """The entities of a project that ``user`` may view, per kind (one query per kind)."""
    contents = []
    for spec in KINDS.values():
        if not _has_field(spec.model, "project"):
            continue
        # Every kind that gets here has a project field (_has_field above), but the
        # static type of its rows is their abstract base, which has none.
        in_project = visible(spec, user).filter(project=project)  # type: ignore[misc]
        items = list(in_project.order_by("name")[:50])
        if items:
            contents.append((spec, items))
    return contents


def comments(obj: Entity) -> QuerySet[Comment]:
    """The comments on ``obj``, newest first, authors joined in."""
    return Comment.objects.filter(kind=kinds.of(obj).kind, object_id=obj.pk).select_related(
        "author"
    )
