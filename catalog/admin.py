"""Admin of the catalog: staff fix ownership, sharing and fields by hand.

Changes made here are recorded like any other (change tracking does not care where a
save comes from). A connection's password is never shown: the form offers an empty
password field, and leaving it empty keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from audit import user_activity_link

from .kinds import KINDS
from .models import Comment, Connection


class ConnectionForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored, never shown. Leave empty to keep the current password.",
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "description",
            "owner",
            "project",
            "data_source",
            "server",
            "port",
            "database",
            "login",
            "password",
            "shared_with_users",
            "shared_with_groups",
        ]

    def clean_password(self) -> str:
        new = self.cleaned_data.get("password") or ""
        return new or (self.instance.password if self.instance.pk else "")


class EntityAdmin(admin.ModelAdmin):
    list_display = ("name", "owner_link", "published", "updated_at")
    list_filter = ("published",)
    search_fields = ("name", "description")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    filter_horizontal = ("shared_with_users", "shared_with_groups")
    readonly_fields = ("id", "created_at", "updated_at", "published")

    def get_list_display(self, request: HttpRequest) -> Any:
        if any(field.name == "project" for field in self.model._meta.fields):
            return (*self.list_display[:2], "project", *self.list_display[2:])
        return self.list_display

    def get_list_select_related(self, request: HttpRequest) -> Any:
        if any(field.name == "project" for field in self.model._meta.fields):
            return ("owner", "project")
        return self.list_select_related

    @admin.display(description="owner", ordering="owner")
    def owner_link(self, obj: Any) -> str:
        return user_activity_link(obj.owner)


class ConnectionAdmin(EntityAdmin):
    form = ConnectionForm


for spec in KINDS.values():
    admin.site.register(spec.model, ConnectionAdmin if spec.model is Connection else EntityAdmin)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("kind", "object_id", "author_link", "created_at")
    list_filter = ("kind",)
    list_select_related = ("author",)
    search_fields = ("text",)
    readonly_fields = ("created_at",)

    @admin.display(description="author", ordering="author")
    def author_link(self, obj: Comment) -> str:
        return user_activity_link(obj.author)
