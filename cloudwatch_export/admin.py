"""Settings -> Log in the admin: the settings (a singleton) with the map as rows, the
export status per stream, and the outbox, where set-aside records are retried or
discarded. The logic lives in ``connection``, ``outbox`` and ``export``; this module
only wires it to pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.debug import sensitive_post_parameters

from . import connection, export_settings, outbox
from .export_settings import mask_access_key
from .forms import ExportSettingsForm
from .models import ExportSettings, OutboxEntry, StreamMapping, StreamStatus


class StreamMappingFormSet(BaseInlineFormSet):
    """The map's rows: none may send another type than the seals' to the seal stream
    (the settings' form above has set ``instance.seal_stream`` to the posted value)."""

    def clean(self) -> None:
        super().clean()
        rows = []
        for form in self.forms:
            cleaned = getattr(form, "cleaned_data", None)
            if not cleaned or (self.can_delete and cleaned.get("DELETE")):
                continue
            event_type, stream = cleaned.get("event_type"), cleaned.get("stream")
            if event_type is not None and stream:
                rows.append((event_type.name, stream))
        errors = export_settings.seal_stream_errors(self.instance.seal_stream, rows)
        if errors:
            raise ValidationError(errors)


class StreamMappingInline(admin.TabularInline):
    model = StreamMapping
    formset = StreamMappingFormSet
    fields = ("event_type", "stream")
    extra = 1
    verbose_name = "event type => log stream"
    verbose_name_plural = "Events to CloudWatch streams map"


@admin.register(ExportSettings)
class ExportSettingsAdmin(admin.ModelAdmin):
    form = ExportSettingsForm
    inlines = (StreamMappingInline,)
    fieldsets = (
        (None, {"fields": ("enabled", "log_group", "region", "message_format", "seal_stream")}),
        (
            "Credentials",
            {
                "fields": ("access_key", "secret_key", "clear_keys"),
                "description": "Leave both keys empty to use boto3's default credential "
                "chain (an instance or task role).",
            },
        ),
        ("Advanced", {"fields": ("endpoint_url",), "classes": ("collapse",)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the one row is made by the changelist below

    # What a view-only user's page shows for the keys. Every field is read-only there
    # and displayed by name: ``access_key`` would show the model's field in full, and
    # ``secret_key`` would call the model's ``secret_key()`` (the secret in clear, for
    # boto3). The read-only fieldsets name these masked displays instead, and a
    # ``secret_key`` of the admin's own (looked up before the model's) is a fallback.
    @admin.display(description="access key")
    def masked_access_key(self, settings: ExportSettings) -> str:
        return mask_access_key(settings.access_key) if settings.access_key else "(none)"

    @admin.display(description="secret key")
    def masked_secret_key(self, settings: ExportSettings) -> str:
        return "set (encrypted, not shown)" if settings.has_secret_key else "(none)"

    secret_key = masked_secret_key

    _READ_ONLY_NAMES = {"access_key": "masked_access_key", "secret_key": "masked_secret_key"}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Read-only: masked keys, and no "forget the keys" (an action, not a value).
        return [
            (
                name,
                {
                    **options,
                    "fields": [
                        self._READ_ONLY_NAMES.get(f, f) if isinstance(f, str) else f
                        for f in options["fields"]
                        if f != "clear_keys"
                    ],
                },
            )
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), *self._READ_ONLY_NAMES.values())

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """A singleton has no list: go straight to its form."""
        settings = ExportSettings.load()
        return HttpResponseRedirect(
            reverse("admin:cloudwatch_export_exportsettings_change", args=[settings.pk])
        )

    @method_decorator(sensitive_post_parameters("secret_key"))
    def changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(*args, **kwargs)

    def response_change(self, request: HttpRequest, obj: ExportSettings) -> HttpResponse:
        if "_test_connection" in request.POST:
            result = connection.check(obj)
            self.message_user(
                request, result.message, messages.SUCCESS if result.ok else messages.ERROR
            )
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


@admin.register(StreamStatus)
class StreamStatusAdmin(admin.ModelAdmin):
    """The status page: per stream, what waits, since when, and how the last sends went."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        now = timezone.now()
        settings = ExportSettings.objects.filter().first()
        rows = [(line, line.oldest_age(now)) for line in outbox.summary()]
        context = {
            **self.admin_site.each_context(request),
            "title": "CloudWatch Logs export status",
            "opts": self.model._meta,
            "rows": rows,
            "settings": settings,
            "outbox_url": reverse("admin:cloudwatch_export_outboxentry_changelist"),
            "settings_url": reverse("admin:cloudwatch_export_exportsettings_changelist"),
        }
        return TemplateResponse(
            request, "admin/cloudwatch_export/streamstatus/status.html", context
        )


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting"), ("set_aside", "Set aside")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> QuerySet:
        if self.value() == "waiting":
            return queryset.filter(set_aside_reason="")
        if self.value() == "set_aside":
            return queryset.exclude(set_aside_reason="")
        return queryset


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "record_link",
        "stream",
        "record_time",
        "enqueued_at",
        "attempts",
        "next_attempt_at",
        "set_aside_reason",
        "error_short",
    )
    list_filter = (StateFilter, "stream")
    search_fields = ("=record__id",)
    search_help_text = "A record id."
    ordering = ("id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("retry_selected", "discard_selected")
    readonly_fields = [field.name for field in OutboxEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only a set-aside row may be deleted (as "discard" does): a waiting one is a
        record on its way to CloudWatch, which deleting would silently drop."""
        if obj is not None and not obj.set_aside_reason:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: OutboxEntry) -> None:
        # The row may have been put back in line since the page was shown.
        outbox.discard(OutboxEntry.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        outbox.discard(queryset)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found = super().get_actions(request)
        found.pop("delete_selected", None)  # "discard" says what it does, and to which
        return found

    @admin.display(description="record")
    def record_link(self, entry: OutboxEntry) -> str:
        url = reverse("admin:audit_auditrecord_change", args=[entry.record_id])
        return format_html('<a href="{}">#{}</a>', url, entry.record_id)

    @admin.display(description="last error")
    def error_short(self, entry: OutboxEntry) -> str:
        return Truncator(entry.last_error).chars(80)

    @admin.action(description="Retry the selected set-aside records", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        count = outbox.retry(queryset, now=timezone.now())
        self.message_user(request, f"{count} set-aside records are back in line for export.")

    @admin.action(description="Discard the selected set-aside records", permissions=["delete"])
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        count = outbox.discard(queryset)
        self.message_user(
            request, f"{count} set-aside records discarded: they will not be exported."
        )
