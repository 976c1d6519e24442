"""App configuration: connects receivers and registers the built-in entity kinds."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Wires the audit system into Django when the app registry is ready."""

    name = "audit"
    verbose_name = "Audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.backends.signals import connection_created

        from . import celery_context, checks, receivers, registry, time_loader, tracking  # noqa: F401

        # Every kind registered with track=True, by this app or any other, gets change
        # tracking installed; the registry only holds what it was told.
        registry.on_register(tracking.install)
        connection_created.connect(time_loader.install, dispatch_uid="audit.time-loader")
        user_logged_in.connect(receivers.user_logged_in, dispatch_uid="audit.login")
        user_logged_out.connect(receivers.user_logged_out, dispatch_uid="audit.logout")
        user_login_failed.connect(receivers.user_login_failed, dispatch_uid="audit.login-failed")
        self._connect_tokens()
        self._connect_toggle_invalidation()

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
        # The switches are audited like any entity: a change to a type's global switch,
        # level or description is tracked; group switches by the m2m receiver below.
        from .models import EventType

        registry.register(
            EventType,
            kind="event-type",
            name_field="name",
            fields=("enabled", "level", "description", "server_only"),
            track=True,
        )

    def _connect_tokens(self) -> None:
        """API tokens (DRF's authtoken) are credentials: their creation and deletion are
        recorded, whoever makes them (admin, command, code)."""
        from django.db.models.signals import post_delete, post_save
        from rest_framework.authtoken.models import Token, TokenProxy

        from . import receivers

        # The admin edits tokens through DRF's TokenProxy, which sends its own signals.
        for model in (Token, TokenProxy):
            uid = f"audit.token.{model.__name__}"
            post_save.connect(receivers.token_saved, sender=model, dispatch_uid=f"{uid}.save")
            post_delete.connect(receivers.token_deleted, sender=model, dispatch_uid=f"{uid}.del")

    def _connect_toggle_invalidation(self) -> None:
        """The cached switch rules go stale when a rule, a group or a membership
        changes; these receivers drop them from the shared cache (django-waffle's way)."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from . import receivers
        from .models import EventType
        from .signals import event_types_updated

        for signal in (post_save, post_delete):
            signal.connect(
                receivers.rules_changed, sender=EventType, dispatch_uid=f"audit.rules.{signal}"
            )
        event_types_updated.connect(receivers.rules_changed, dispatch_uid="audit.rules.update")
        m2m_changed.connect(
            receivers.rules_changed,
            sender=EventType.disabled_for.through,
            dispatch_uid="audit.rules.m2m",
        )
        m2m_changed.connect(
            receivers.rule_groups_changed,
            sender=EventType.disabled_for.through,
            dispatch_uid="audit.rules.record",
        )
        post_delete.connect(receivers.group_changed, sender=Group, dispatch_uid="audit.group-del")
        post_save.connect(receivers.group_changed, sender=Group, dispatch_uid="audit.group-save")
        m2m_changed.connect(
            receivers.memberships_changed,
            sender=get_user_model().groups.through,
            dispatch_uid="audit.memberships",
        )
