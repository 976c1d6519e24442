"""Who may view and who may edit a catalog entity. Plain functions: the REST API, the
pages, the audit registry (whose activity panel shows an entity's history only to
those who may view it) and the tests all ask the same questions here.

The rules:

- **view**: staff, the owner, a user it is shared with, a member of a group it is
  shared with, or anyone signed in once it is published;
- **edit** (change, delete, publish, share): staff and the owner only. Sharing grants
  read access: people it is shared with can open, run and comment on an entity but
  not change it, so an owner never finds their query rewritten by a reader. (A
  per-share "can edit" flag would need a through model; none is asked for yet.)
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import Entity

_E = TypeVar("_E", bound=Entity)


def _is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def viewable(user: Any, queryset: QuerySet[_E]) -> QuerySet[_E]:
    """``queryset`` narrowed to the entities ``user`` may view.

    Sharing is tested with ``EXISTS`` subqueries rather than joins, so that an entity
    shared with a user and two of their groups is still one row (no ``DISTINCT``,
    which would also break ``select_related`` orderings on some databases).
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    if user.is_staff:
        return queryset
    # The model's many-to-many descriptors: each concrete kind has its own through
    # tables, whose columns are named after the kind.
    users = queryset.model.shared_with_users
    groups = queryset.model.shared_with_groups
    own_field = users.field.m2m_field_name()  # e.g. "query", "predictivemodel"
    shared_with_user = users.through._default_manager.filter(
        **{own_field: OuterRef("pk"), users.field.m2m_reverse_field_name(): user.pk}
    )
    member_of = Group.user_set.through.objects.filter(user_id=user.pk).values("group_id")
    shared_with_group = groups.through._default_manager.filter(
        **{
            groups.field.m2m_field_name(): OuterRef("pk"),
            f"{groups.field.m2m_reverse_field_name()}__in": member_of,
        }
    )
    return queryset.filter(
        Q(owner_id=user.pk)
        | Q(published=True)
        | Exists(shared_with_user)
        | Exists(shared_with_group)
    )


def may_view(user: Any, obj: Entity) -> bool:
    """Whether ``user`` may view ``obj``: free for staff, owners and published entities,
    otherwise one query."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_staff or obj.owner_id == user.pk or obj.published:
        return True
    return viewable(user, type(obj)._default_manager.filter(pk=obj.pk)).exists()


def may_edit(user: Any, obj: Entity) -> bool:
    """Whether ``user`` may change, delete, publish or share ``obj``: staff and the owner."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return _is_staff(user) or obj.owner_id == user.pk
