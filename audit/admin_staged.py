"""Staged changes in the admin (``AUDIT_DEFERRED_TRACKING``): what waits to become
records, and above all what could not, with its error and a way to try it again.

A staged change says what a save did; nobody writes or edits one here (the application's
role may not rewrite one either). The one action clears the error of the chosen changes,
once what stopped them is mended, so that the next drain tries them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .admin_display import ReadOnlyMixin, acting_user_link, compact_time, pretty_json
from .models import StagedChange

if TYPE_CHECKING:
    _StagedAdmin = admin.ModelAdmin[StagedChange]
else:
    _StagedAdmin = admin.ModelAdmin


class WaitingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("failed", "kept with an error"), ("waiting", "waiting for the drain")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "failed":
            return queryset.exclude(error="")
        if self.value() == "waiting":
            return queryset.filter(error="")
        return queryset


@admin.register(StagedChange)
class StagedChangeAdmin(ReadOnlyMixin, _StagedAdmin):
    list_display = ("id", "saved", "change", "user_link", "error_shown")
    list_filter = (WaitingFilter,)
    list_select_related = ("user",)
    ordering = ("id",)
    sortable_by = ("id",)
    actions = ("try_again",)
    fields = ("id", "saved", "user_link", "session_id", "request_id", "events_shown", "error")
    readonly_fields = fields

    @admin.display(description="saved", ordering="id")
    def saved(self, obj: StagedChange) -> str:
        return compact_time(obj.created_at)

    @admin.display(description="change")
    def change(self, obj: StagedChange) -> str:
        document = obj.events if isinstance(obj.events, dict) else {}
        kind, name = document.get("kind"), document.get("name")
        if not isinstance(kind, str) or not isinstance(name, str):
            return "—"
        what = "created" if document.get("created") else "edited"
        return f"{kind} '{name}' {what}"

    @admin.display(description="user")
    def user_link(self, obj: StagedChange) -> str:
        return acting_user_link(obj)

    @admin.display(description="error")
    def error_shown(self, obj: StagedChange) -> str:
        return obj.error[:120] or "—"

    @admin.display(description="what the save staged")
    def events_shown(self, obj: StagedChange) -> str:
        return pretty_json(obj.events)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """The action needs the right to change staged changes' state: the superuser's,
        or a staff user given ``audit.change_stagedchange``."""
        found = super().get_actions(request)
        if not request.user.has_perm("audit.change_stagedchange"):
            found.pop("try_again", None)
        return found

    @admin.action(description="Try the chosen changes again at the next drain")
    def try_again(self, request: HttpRequest, queryset: QuerySet[StagedChange]) -> None:
        count = queryset.exclude(error="").update(error="")
        self.message_user(request, f"{count} staged changes will be tried again.", messages.SUCCESS)
