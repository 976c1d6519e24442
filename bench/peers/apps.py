"""Registers the bench models that are tracked by registration rather than by a
decorator or a field: ours with the audit app, one with django-auditlog."""

from __future__ import annotations

from django.apps import AppConfig

# The audit kind of ``OursItem``: its records are ``bench-item-created`` / ``-edited``.
KIND = "bench-item"
# What catalog.kinds.TRACKING_EXCLUDE leaves out of a catalog entity's changes.
TRACKING_EXCLUDE = ("created_at", "updated_at", "published")


class BenchPeersConfig(AppConfig):
    name = "bench.peers"
    label = "bench_peers"
    verbose_name = "Tracking benchmark peers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Track ``OursItem`` as catalog.apps tracks a catalog kind (``track=True``, the
        same exclusions), and ``AuditlogItem`` the way django-auditlog documents."""
        from auditlog.registry import auditlog

        import audit

        from .models import AuditlogItem, OursItem

        audit.register(OursItem, kind=KIND, name_field="name", exclude=TRACKING_EXCLUDE, track=True)
        auditlog.register(AuditlogItem)
