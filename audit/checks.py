"""System checks: configuration mistakes reported by ``manage.py check``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import config


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SECRET_KEY.startswith("dev-insecure"):
        return [
            checks.Warning(
                "SECRET_KEY is the development default.",
                hint="Set the SECRET_KEY environment variable in production.",
                id="audit.W001",
            )
        ]
    return []


@checks.register()
def check_limits(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    errors = []
    for name, value in config.limits().items():
        if value < 1:
            errors.append(
                checks.Error(
                    f"AUDIT_{name.upper()} must be at least 1, not {value}.", id="audit.E001"
                )
            )
    if "audit.middleware.AuditContextMiddleware" not in settings.MIDDLEWARE:
        errors.append(
            checks.Error(
                "audit.middleware.AuditContextMiddleware is not in MIDDLEWARE.",
                hint="Records would not join the user's session.",
                id="audit.E002",
            )
        )
    return errors
