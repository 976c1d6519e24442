"""App configuration: how stored records reach the rollups on databases without the
triggers, what the retention purge takes from them, and error groups as entities."""

from __future__ import annotations

from django.apps import AppConfig
from django.db import connection


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Usage analysis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import audit

        from . import access, checks, receivers  # noqa: F401  (checks registers itself)
        from .models import ErrorGroup

        # On PostgreSQL triggers on the records and links tables write the deltas inside
        # each INSERT statement (``analysis.sql``); a receiver there would send every
        # tracked save down its slower path (audit.E003).
        if connection.vendor != "postgresql":
            audit.records_stored.connect(receivers.count_stored, dispatch_uid="analysis.count")
        audit.records_purged.connect(receivers.forget_purged, dispatch_uid="analysis.purged")
        # An error group is an entity: a change of its status is an audit record
        # (error-group-edited) in the change's transaction, shown on the group's page.
        audit.register(
            ErrorGroup,
            kind="error-group",
            name_field="message",
            fields=("status",),
            track=True,
            viewable=lambda user, queryset: queryset if access.can_view(user) else queryset.none(),
            page=lambda fingerprint: f"/analysis/errors/{fingerprint}/",
        )
