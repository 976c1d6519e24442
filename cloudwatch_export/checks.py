"""System checks of the export: its settings' values, and a secret already stored under
the development key.

``crypto.encrypt`` refuses the development key with ``DEBUG`` off, but a secret saved
before that refusal existed, or on a machine with ``DEBUG`` on whose database went to
production, is still encrypted under a key anyone with the source code can derive.
Tagged ``database`` (one query), so Django runs it on ``migrate`` and on
``check --database default``, not on every command.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, router

from . import config as export_config
from . import crypto


@checks.register()
def check_settings(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every CLOUDWATCH_EXPORT_* setting (and AUDIT_ENCRYPTION_KEY) has a usable value."""
    return [
        checks.Error(problem, hint="See the README's export tunables.", id="cloudwatch_export.E001")
        for problem in export_config.SETTINGS.problems()
    ]


@checks.register(checks.Tags.security, checks.Tags.database)
def check_stored_secret(
    app_configs: Any, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    config = apps.get_app_config("cloudwatch_export")
    if settings.DEBUG or not databases or (app_configs and config not in app_configs):
        return []
    model = config.get_model("ExportSettings")
    alias = router.db_for_read(model)
    if alias not in databases:
        return []
    try:
        token = (
            model._default_manager.using(alias)
            .values_list("secret_key_encrypted", flat=True)
            .first()
        )
    except DatabaseError:  # not migrated yet
        return []
    if not crypto.under_development_key(token or ""):
        return []
    return [
        checks.Warning(
            "The stored CloudWatch secret key is encrypted under the development "
            "SECRET_KEY: anyone with the source code and the database can decrypt it.",
            hint="Set SECRET_KEY (or AUDIT_ENCRYPTION_KEY) in the environment, then enter "
            "the secret key again (admin or cloudwatch_configure --secret-key -); treat the "
            "old one as exposed and rotate it in AWS.",
            obj="cloudwatch_export.ExportSettings",
            id="cloudwatch_export.W001",
        )
    ]
