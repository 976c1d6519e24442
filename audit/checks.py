"""System checks: configuration mistakes reported by ``manage.py check``.

The project's own concerns (a development ``SECRET_KEY``) are Django's deploy checks'
(``security.W009``); these are the audit app's.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connections

from . import config, db_roles
from .signals import records_stored


@checks.register()
def check_settings(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every AUDIT_* setting has a usable value, and the context middleware is on."""
    errors: list[checks.CheckMessage] = [
        checks.Error(problem, hint="See the README's Configuration table.", id="audit.E001")
        for problem in config.SETTINGS.problems()
    ]
    if "audit.middleware.AuditContextMiddleware" not in settings.MIDDLEWARE:
        errors.append(
            checks.Error(
                "audit.middleware.AuditContextMiddleware is not in MIDDLEWARE.",
                hint="Records would not join the user's session.",
                id="audit.E002",
            )
        )
    return errors


@checks.register()
def check_no_receivers_on_postgresql(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """On PostgreSQL a tracked save stores its record inside the model's own statement,
    which returns no record ids; a ``records_stored`` receiver needs them, so its mere
    presence sends every tracked save down the slower path (two statements)."""
    vendors = {connections[alias].vendor for alias in connections}
    if "postgresql" not in vendors or not records_stored.has_listeners():
        return []
    sync, asynchronous = records_stored._live_receivers(None)
    names = ", ".join(
        sorted(
            {getattr(receiver, "__qualname__", repr(receiver)) for receiver in sync + asynchronous}
        )
    )
    return [
        checks.Error(
            f"audit.signals.records_stored has receivers on PostgreSQL ({names}).",
            hint=(
                "Every tracked save then takes two statements instead of one. Act on new "
                "records with a trigger on audit_auditrecord (as cloudwatch_export does), "
                "or silence audit.E003 to accept the cost."
            ),
            id="audit.E003",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_append_only_is_enforced(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Only PostgreSQL refuses UPDATE and DELETE of records (a trigger); elsewhere the
    trail is append-only because nothing in the product edits it, not because the
    database refuses."""
    found: list[checks.CheckMessage] = []
    for alias in connections:
        vendor = connections[alias].vendor
        if vendor != "postgresql":
            found.append(
                checks.Warning(
                    f"The database {alias!r} ({vendor}) does not refuse changes to audit "
                    "records: append-only is enforced only on PostgreSQL.",
                    hint="Run production on PostgreSQL (DATABASE_URL=postgres://...).",
                    id="audit.W002",
                )
            )
    return found


@checks.register(checks.Tags.security, deploy=True)
def check_role_cannot_bypass_the_guard(
    app_configs: Any, **kwargs: Any
) -> list[checks.CheckMessage]:
    """A superuser or the tables' owner can disable the guard's triggers, truncate the
    trail or switch to replica mode: the application should connect as a role of its
    own (``audit.db_roles``). Runs with ``check --deploy --database default``."""
    if "default" not in (kwargs.get("databases") or ()):
        return []  # Django's rule: a check reads a database only when asked to
    try:
        me = db_roles.connected_role()
    except DatabaseError:
        return []  # not reachable now; the check means nothing then
    if me is None or not me.can_bypass_guard:
        return []
    what = "a superuser" if me.superuser else "the owner of the audit tables"
    return [
        checks.Warning(
            f"The application connects to PostgreSQL as {me.name!r}, {what}: it could "
            "get past the guard that keeps the trail append-only.",
            hint=(
                "Run migrate as the owner, then connect as a role of its own: "
                "manage.py audit_roles --grant ROLE (see the README's Integrity section)."
            ),
            id="audit.W003",
        )
    ]
