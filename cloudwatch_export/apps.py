"""App configuration: how mapped records enter the outbox on databases without the
trigger, the audit trail of the export's own settings, and its system check."""

from __future__ import annotations

from django.apps import AppConfig
from django.db import connection


class CloudwatchExportConfig(AppConfig):
    name = "cloudwatch_export"
    verbose_name = "Settings -> Log (CloudWatch Logs export)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import audit
        from audit import records_stored

        from . import checks, receivers  # noqa: F401  (checks registers itself)
        from .models import ExportSettings, StreamMapping

        # On PostgreSQL a trigger fills the outbox inside each INSERT statement (see
        # migration 0002). ``records_stored`` must then keep having no listeners: a
        # listener would send tracked saves down their slower path.
        if connection.vendor != "postgresql":
            records_stored.connect(
                receivers.enqueue_stored, dispatch_uid="cloudwatch_export.enqueue"
            )
        # The seal stream is the seals' outside witness (audit_verify --witness cloudwatch).
        from . import witness

        audit.register_witness("cloudwatch", witness.check)
        # Who switched the export off, or re-routed a type, is audit evidence too.
        audit.register(
            ExportSettings,
            kind="cloudwatch-settings",
            exclude=("updated_at",),
            mask=("access_key", "secret_key_encrypted"),
            track=True,
        )
        audit.register(
            StreamMapping,
            kind="cloudwatch-stream-map",
            name_field="stream",
            links=("event_type",),
            track=True,
        )
