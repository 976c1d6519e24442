"""App configuration: registers every catalog kind with the audit system."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.apps import AppConfig


def _page(kind: str) -> Callable[[str], str]:
    """An entity's page: ``/catalog/KIND/ID/``."""

    def page(object_id: str) -> str:
        return f"/catalog/{kind}/{quote(object_id, safe='')}/"

    return page


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Make each kind an audit entity with change tracking.

        ``track=True`` has the audit app record ``KIND-created``/``-edited``/``-deleted``
        by itself, in the same transaction as the change, whatever makes it (API,
        admin, shell, bulk operations); the catalog records only its own actions
        (``catalog.actions``). ``viewable`` lets the activity panel show an entity's
        history to exactly those who may view the entity.
        """
        import audit

        from . import permissions
        from .kinds import KINDS, TRACKING_EXCLUDE

        for spec in KINDS.values():
            audit.register(
                spec.model,
                kind=spec.kind,
                name_field="name",
                exclude=TRACKING_EXCLUDE,
                mask=spec.mask,
                links=spec.links,
                field_types=spec.field_types,
                track=True,
                viewable=permissions.viewable,
                page=_page(spec.kind),
            )
