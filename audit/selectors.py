"""Read-side queries: what a user may see, and records with what a page needs.

Staff read every record. Other users read their own records and, through an entity
filter, the activity of the entities they may view; nothing else.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from . import registry
from .models import AuditRecord, EntityLink, UserSession


def with_related(queryset: QuerySet[AuditRecord]) -> QuerySet[AuditRecord]:
    """Everything the record serializer touches, in a fixed number of queries."""
    return queryset.select_related("type", "user", "session").prefetch_related(
        Prefetch("links", queryset=EntityLink.objects.order_by("id"))
    )


def visible_records(user: Any) -> QuerySet[AuditRecord]:
    queryset = AuditRecord.objects.all()
    if user.is_staff:
        return queryset
    return queryset.filter(user_id=user.pk)


def visible_sessions(user: Any) -> QuerySet[UserSession]:
    queryset = UserSession.objects.select_related("user")
    if user.is_staff:
        return queryset
    return queryset.filter(user_id=user.pk)


def can_view_entity(user: Any, kind: registry.EntityKind, object_id: str) -> bool:
    if user.is_staff:
        return True
    return kind.visible_to(user).filter(pk=object_id).exists()


def entity_activity(kind: registry.EntityKind, object_id: str) -> QuerySet[AuditRecord]:
    """Every record that touches the entity; visibility is the caller's check."""
    links = EntityLink.objects.filter(
        content_type=kind.content_type, object_id=object_id, record=OuterRef("pk")
    )
    return AuditRecord.objects.filter(Exists(links))


def parse_entity(value: str) -> tuple[registry.EntityKind, str]:
    """``KIND:ID`` to a registered kind and a stored id; ``ValueError`` otherwise."""
    kind_name, sep, raw_id = value.partition(":")
    if not sep:
        raise ValueError("must be KIND:ID, for example query:3f2a...")
    kind = registry.get(kind_name)
    if kind is None:
        raise ValueError(
            f"unknown entity kind {kind_name!r} (known: {', '.join(registry.kinds())})"
        )
    return kind, kind.parse_id(raw_id)


def latest_records(user: Any, limit: int = 20) -> list[AuditRecord]:
    """The user's own newest records for the start page, in a fixed number of queries
    (records with type and session, then their links with content types). Each link
    gets ``kind``, the registered entity kind, so the page can label it without a query.
    """
    links = EntityLink.objects.select_related("content_type").order_by("id")
    records = list(
        AuditRecord.objects.filter(user_id=user.pk)
        .select_related("type", "session")
        .prefetch_related(Prefetch("links", queryset=links))
        .order_by("-id")[:limit]
    )
    for record in records:
        for link in record.links.all():
            kind = registry.for_model(link.content_type.model_class())
            link.kind = kind.kind if kind else link.content_type.model
    return records


def own_session(user: Any, session_uuid: Any) -> UserSession | None:
    """The user's session with this UUID (the one their login opened), if it exists."""
    if not session_uuid:
        return None
    return UserSession.objects.filter(uuid=session_uuid, user_id=user.pk).first()
