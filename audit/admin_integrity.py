"""The seals in the admin: a read-only list, each seal linked to the records it covers
and to the ``trail-sealed`` record that carried it to the witness.

Seals are evidence like the records, so nobody adds, changes or deletes one here (on
PostgreSQL the database refuses it anyway). The admin index shows the trail's integrity
at a glance through the ``audit_integrity`` template tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .admin_display import ReadOnlyMixin, changelist_url, compact_time
from .models import AuditRecord, Seal

if TYPE_CHECKING:
    _SealAdmin = admin.ModelAdmin[Seal]
else:
    _SealAdmin = admin.ModelAdmin


def record_link(record_id: int | None) -> str:
    if record_id is None:
        return "—"
    url = reverse("admin:audit_auditrecord_change", args=[record_id])
    return format_html('<a href="{}">#{}</a>', url, record_id)


@admin.register(Seal)
class SealAdmin(ReadOnlyMixin, _SealAdmin):
    list_display = ("id", "made", "covers", "records", "links", "digest_short", "carried_by")
    list_display_links = ("id", "made")
    ordering = ("-id",)
    sortable_by = ("id",)
    list_per_page = 50
    show_full_result_count = False
    actions = None
    fields = (
        "id",
        "made",
        "covers",
        "records",
        "links",
        "last_at",
        "digest",
        "previous_link",
        "carried_by",
        "record_ids",
    )
    readonly_fields = fields

    @admin.display(description="made")
    def made(self, obj: Seal) -> str:
        return compact_time(obj.created_at)

    @admin.display(description="records covered")
    def covers(self, obj: Seal) -> str:
        """The first and last record, and the list of all of them."""
        url = changelist_url(AuditRecord, id__gte=obj.first_record_id, id__lte=obj.last_record_id)
        return format_html(
            '{} to {} · <a href="{}">list</a>',
            record_link(obj.first_record_id),
            record_link(obj.last_record_id),
            url,
        )

    @admin.display(description="digest")
    def digest_short(self, obj: Seal) -> str:
        return format_html('<code title="{}">{}…</code>', obj.digest, obj.digest[:16])

    @admin.display(description="follows")
    def previous_link(self, obj: Seal) -> str:
        before = Seal.objects.filter(id__lt=obj.pk).order_by("-id").first()
        if before is None:
            return obj.previous or "— (the first seal kept)"
        url = reverse("admin:audit_seal_change", args=[before.pk])
        return format_html(
            '<a href="{}">seal #{}</a> <code>{}</code>', url, before.pk, obj.previous
        )

    @admin.display(description="carried by")
    def carried_by(self, obj: Seal) -> str:
        return record_link(obj.record)
