"""App configuration: connects receivers and registers the built-in entity kinds."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from . import celery_context, checks, receivers, registry  # noqa: F401

        user_logged_in.connect(receivers.user_logged_in, dispatch_uid="audit.login")
        user_logged_out.connect(receivers.user_logged_out, dispatch_uid="audit.logout")

        user_model = get_user_model()
        registry.register(
            user_model,
            kind="user",
            name_field=user_model.USERNAME_FIELD,
            viewable=lambda user, queryset: queryset.filter(pk=user.pk),
        )
        registry.register(
            Group,
            kind="group",
            name_field="name",
            viewable=lambda user, queryset: queryset.filter(user=user),
        )
