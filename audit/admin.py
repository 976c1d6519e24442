"""The admin: a read-only window on the audit trail, and the switchboard of event types.

Records and sessions are evidence, so the admin only reads them (on PostgreSQL the
database refuses UPDATE and DELETE of records anyway). Their changelists are built to
stay fast on tables of millions of rows:

- the count is bounded (``BoundedPaginator``) and the unfiltered total is never
  counted (``show_full_result_count = False``); facet counts are off;
- only indexed columns are sortable, and there is no ``date_hierarchy`` (it runs
  aggregate queries over the table);
- every filter narrows through an index: user ``(user, -id)``, type ``(type, -id)``,
  level ``(level, -id)`` and the date range ``created_at``; the user, type and date
  filters are small forms (``audit.admin_filters``), so no filter lists a whole table;
- search is typed: a number is a record id, a UUID a record or session key, and only
  other text falls back to a substring search of the message; ``params`` (JSON) are
  never searched.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from . import (
    admin_integrity,  # noqa: F401  (registers the seals' admin)
    admin_staged,  # noqa: F401  (registers the staged changes' admin)
    event_types,
    registry,
    server_types,
)
from .admin_display import (
    ReadOnlyMixin,
    acting_user_link,
    changelist_url,
    compact_time,
    pretty_json,
)
from .admin_filters import DateRangeFilter, TypeFilter, UserFilter
from .bounded_count import BoundedPaginator, bounded_count
from .models import AuditRecord, EntityLink, EventType, Source, UserSession
from .selectors import whole_number

if TYPE_CHECKING:
    # django-stubs makes these classes generic; Django's take no type arguments at run
    # time, so the parametrized bases exist for the type checker only.
    _ModelAdminMixinBase = admin.ModelAdmin[Any]
    _RecordAdmin = admin.ModelAdmin[AuditRecord]
    _SessionAdmin = admin.ModelAdmin[UserSession]
    _EventTypeAdmin = admin.ModelAdmin[EventType]
    _LinkInline = admin.TabularInline[EntityLink, AuditRecord]
    _EventTypeModelForm = forms.ModelForm[EventType]
else:
    _ModelAdminMixinBase = object  # a mixin: the ModelAdmin follows it in the MRO
    _RecordAdmin = _SessionAdmin = _EventTypeAdmin = admin.ModelAdmin
    _LinkInline = admin.TabularInline
    _EventTypeModelForm = forms.ModelForm

admin.site.site_header = "Audit administration"
admin.site.site_title = "Audit admin"
admin.site.index_title = "Records, sessions and event types"

_MAX_BIGINT = 2**63 - 1
MESSAGE_CHARS = 240  # a list row shows at most two lines of it anyway
MESSAGE_TITLE_CHARS = 2000  # the hover text


def _as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def _as_id(term: str) -> int | None:
    return whole_number(term, _MAX_BIGINT)


def _user_ids_named(term: str) -> list[int]:
    """The ids of the users whose username is ``term`` (case-insensitive)."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    lookup = {f"{model.USERNAME_FIELD}__iexact": term}
    return list(model._default_manager.filter(**lookup).values_list("pk", flat=True)[:10])


class BadFilterIsBadRequestMixin(_ModelAdminMixinBase):
    """A changelist filter in the address that cannot be applied (``?id__exact=abc``,
    ``?created_at__gte=notadate``) is the site's styled 400 naming what was wrong,
    rather than Django's redirect to a bare ``?e=1`` page that says nothing."""

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        try:
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            raise BadRequest(_bad_filter_reason(request, exc)) from None


def _bad_filter_reason(request: HttpRequest, exc: Exception) -> str:
    cause = exc.__cause__ or (exc.args[0] if exc.args else None)
    if isinstance(cause, ValidationError):
        detail = " ".join(cause.messages)
    else:
        detail = str(cause or "").strip("[]'\"")
    detail = detail.rstrip(". ")
    shown = ", ".join(
        f"{key}={value}" for key, value in request.GET.items() if key not in ("e", "p", "o", "q")
    )[:300]
    reason = "This list cannot be filtered that way"
    if shown:
        reason += f" ({shown})"
    if detail:
        reason += f": {detail}"
    return reason + ". Remove the filter from the address, or pick one from the list's filters."


class EntityLinkInline(ReadOnlyMixin, _LinkInline):
    """The entities a record touches, as they were named when it was written."""

    model = EntityLink
    fields = ("content_type", "object_id", "role", "name")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "entity"
    verbose_name_plural = "entities"

    def get_queryset(self, request: HttpRequest) -> QuerySet[EntityLink]:
        return super().get_queryset(request).select_related("content_type").order_by("id")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may read a record may read what it touches: links have no admin of
        # their own, so their separate "view" permission would only hide them.
        return request.user.has_perm("audit.view_auditrecord")


@admin.register(AuditRecord)
class AuditRecordAdmin(BadFilterIsBadRequestMixin, ReadOnlyMixin, _RecordAdmin):
    list_display = (
        "id",
        "time",
        "type_link",
        "level",
        "user_link",
        "session_short",
        "message_short",
    )
    list_display_links = ("id", "time")
    list_select_related = ("type", "user", "session")
    # Each narrows through an index: (user, -id), (type, -id), (level, -id), created_at.
    list_filter = (UserFilter, TypeFilter, "level", DateRangeFilter)
    list_per_page = 50
    ordering = ("-id",)
    sortable_by = ("id",)  # id order is time order; other sorts would scan the table
    search_fields = ("=id", "=uuid", "=request_id", "message")
    search_help_text = (
        "A number finds a record id, a UUID a record key or request id, a username that "
        "user's records; other text searches messages."
    )
    paginator = BoundedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    inlines = (EntityLinkInline,)

    class Media:
        css = {"all": ("audit/admin.css",)}

    fieldsets = (
        (None, {"fields": ("id", "uuid", "type", "level", "source", "created_at", "client_time")}),
        ("Who", {"fields": ("user", "session_link", "request_id")}),
        ("What", {"fields": ("message", "params_pretty", "changes_pretty")}),
        ("Error", {"fields": ("stack_trace_pre", "fingerprint_link")}),
    )
    readonly_fields = (
        "session_link",
        "params_pretty",
        "changes_pretty",
        "stack_trace_pre",
        "fingerprint_link",
    )

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        """The entities table only for records that touch any: most do not."""
        if obj is None or not obj.links.exists():
            return []
        return super().get_inline_instances(request, obj)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditRecord], search_term: str
    ) -> tuple[QuerySet[AuditRecord], bool]:
        """Dispatch on the shape of the term so that ids and keys use their indexes;
        the default ``=field`` search would compare every row case-insensitively."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if (record_id := _as_id(term)) is not None:
            return queryset.filter(id=record_id), False
        if (key := _as_uuid(term)) is not None:
            by_key = queryset.filter(uuid=key)
            if by_key.exists():
                return by_key, False
            return queryset.filter(request_id__in={term, key.hex, str(key)}), False
        user_ids = _user_ids_named(term)
        if user_ids:  # "alice" finds alice's records, and messages that name her
            matches = Q(user_id__in=user_ids) | Q(message__icontains=term)
            return queryset.filter(matches | Q(request_id=term)), False
        return queryset.filter(Q(request_id=term) | Q(message__icontains=term)), False

    @admin.display(description="time")
    def time(self, obj: AuditRecord) -> str:
        return compact_time(obj.created_at)

    @admin.display(description="type")
    def type_link(self, obj: AuditRecord) -> str:
        """The type's name narrows the list to that type; what a client posted says so
        (the list has no room for a source column at 1400 px)."""
        url = changelist_url(AuditRecord, type=obj.type.name)
        link = format_html(
            '<a class="audit-type" href="{}" title="Only {} records">{}</a>',
            url,
            obj.type.name,
            obj.type.name,
        )
        if obj.source != Source.CLIENT:
            return link
        return format_html(
            '{} <span class="audit-client" title="Posted by a client, not recorded by the '
            'server when it happened">client</span>',
            link,
        )

    @admin.display(description="user", ordering=None)
    def user_link(self, obj: AuditRecord) -> str:
        return acting_user_link(obj)

    @admin.display(description="session")
    def session_short(self, obj: AuditRecord) -> str:
        url = reverse("activity:session", args=[obj.session.uuid])
        return format_html('<a href="{}">{}</a>', url, str(obj.session.uuid)[:8])

    @admin.display(description="message")
    def message_short(self, obj: AuditRecord) -> str:
        """Two lines at most, cut with an ellipsis (admin.css); the whole message on
        hover, and on the record's page."""
        if not obj.message:
            return "—"
        return format_html(
            '<span class="audit-message" title="{}">{}</span>',
            Truncator(obj.message).chars(MESSAGE_TITLE_CHARS),
            Truncator(obj.message).chars(MESSAGE_CHARS),
        )

    @admin.display(description="session")
    def session_link(self, obj: AuditRecord) -> str:
        session = obj.session
        url = reverse("admin:audit_usersession_change", args=[session.pk])
        return format_html(
            '<a href="{}">{}</a> ({})', url, session.uuid, session.get_kind_display()
        )

    @admin.display(description="params")
    def params_pretty(self, obj: AuditRecord) -> str:
        return pretty_json(obj.params)

    @admin.display(description="changes")
    def changes_pretty(self, obj: AuditRecord) -> str:
        return pretty_json(obj.changes)

    @admin.display(description="stack trace")
    def stack_trace_pre(self, obj: AuditRecord) -> str:
        if not obj.stack_trace:
            return "—"
        return format_html('<pre class="audit-trace">{}</pre>', obj.stack_trace)

    @admin.display(description="fingerprint")
    def fingerprint_link(self, obj: AuditRecord) -> str:
        if not obj.fingerprint:
            return "—"
        url = changelist_url(AuditRecord, fingerprint=obj.fingerprint)
        group = registry.get("error-group")  # usage analysis' page of the error, if any
        page = group.url(obj.fingerprint) if group is not None else None
        if page is None:
            return format_html(
                '<code>{}</code> · <a href="{}">same error</a>', obj.fingerprint, url
            )
        return format_html(
            '<code>{}</code> · <a href="{}">same error</a> · <a href="{}">error group</a>',
            obj.fingerprint,
            url,
            page,
        )


@admin.register(UserSession)
class UserSessionAdmin(BadFilterIsBadRequestMixin, ReadOnlyMixin, _SessionAdmin):
    list_display = (
        "session_key",
        "user_link",
        "kind",
        "started",
        "last_seen",
        "ended",
        "ip",
        "timeline_link",
    )
    list_display_links = ("session_key",)
    list_select_related = ("user",)
    list_filter = ("kind",)
    ordering = ("-started_at",)
    sortable_by = ("started_at",)
    search_fields = ("=uuid", "user__username")
    search_help_text = "A UUID finds a session; other text searches user names."
    paginator = BoundedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    fields = (
        "uuid",
        "user",
        "kind",
        "started_at",
        "last_seen_at",
        "ended_at",
        "ip",
        "user_agent",
        "client",
        "records_link",
    )
    readonly_fields = ("records_link",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[UserSession], search_term: str
    ) -> tuple[QuerySet[UserSession], bool]:
        """A UUID is looked up exactly (indexed); anything else matches user names."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if (key := _as_uuid(term)) is not None:
            return queryset.filter(uuid=key), False
        return queryset.filter(user__username__icontains=term), False

    class Media:
        css = {"all": ("audit/admin.css",)}

    @admin.display(description="session", ordering="started_at")
    def session_key(self, obj: UserSession) -> str:
        """The first 8 characters, as the records list shows it; all of it on hover."""
        return format_html('<code title="{}">{}</code>', obj.uuid, str(obj.uuid)[:8])

    @admin.display(description="user")
    def user_link(self, obj: UserSession) -> str:
        return acting_user_link(obj)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: UserSession) -> str:
        return compact_time(obj.started_at)

    @admin.display(description="last seen")
    def last_seen(self, obj: UserSession) -> str:
        return compact_time(obj.last_seen_at, day_of=obj.started_at)

    @admin.display(description="ended")
    def ended(self, obj: UserSession) -> str:
        return compact_time(obj.ended_at, day_of=obj.started_at)

    @admin.display(description="timeline")
    def timeline_link(self, obj: UserSession) -> str:
        url = reverse("activity:session", args=[obj.uuid])
        return format_html('<a href="{}">Timeline</a>', url)

    @admin.display(description="records")
    def records_link(self, obj: UserSession) -> str:
        count = bounded_count(AuditRecord.objects.filter(session_id=obj.pk))
        url = changelist_url(AuditRecord, session__id__exact=obj.pk)
        noun = "record" if count == 1 else "records"
        return format_html('<a href="{}">{} {} in this session</a>', url, str(count), noun)


class EventTypeForm(_EventTypeModelForm):
    """Custom types made here follow the same name rule as those registered on use."""

    class Meta:
        model = EventType
        fields = ("name", "level", "description", "enabled", "server_only", "disabled_for")

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]  # a CharField's value
        if not event_types.NAME_RE.match(name):
            raise forms.ValidationError(
                "1 to 64 letters, digits or '_.:-', starting with a letter or digit."
            )
        return name


@admin.register(EventType)
class EventTypeAdmin(_EventTypeAdmin):
    form = EventTypeForm
    list_display = ("name", "level", "built_in", "enabled", "server_only", "description")
    list_filter = ("level", "built_in", "enabled", "server_only")
    search_fields = ("name",)
    filter_horizontal = ("disabled_for",)
    fields = (
        "name",
        "level",
        "description",
        "enabled",
        "server_only",
        "disabled_for",
        "built_in",
        "created_at",
    )

    change_list_template = "admin/audit/eventtype/change_list.html"

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path(
                "switches/",
                self.admin_site.admin_view(self.switches_view),
                name="audit_eventtype_switches",
            ),
            *super().get_urls(),
        ]

    def switches_view(self, request: HttpRequest) -> Any:
        """Types as rows, groups as columns: switch types off for groups at a glance."""
        from django.contrib import messages
        from django.core.exceptions import PermissionDenied
        from django.shortcuts import redirect
        from django.template.response import TemplateResponse

        from . import switch_matrix
        from .levels import Level

        if not self.has_view_permission(request):
            raise PermissionDenied
        search, level = request.GET.get("q", "").strip(), request.GET.get("level", "")
        if level not in Level.values:
            level = ""
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            posted, groups_shown = _posted_switches(request.POST)
            changed = switch_matrix.apply(posted, groups_shown)
            messages.success(
                request, f"Saved: {changed} switch{'es' if changed != 1 else ''} changed."
            )
            return redirect(request.get_full_path())
        groups, rows = switch_matrix.matrix(search, level)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Event switches",
            "groups": groups,
            "rows": rows,
            "search": search,
            "level": level,
            "levels": Level.choices,
            "can_change": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/audit/eventtype/switches.html", context)

    def get_readonly_fields(self, request: HttpRequest, obj: EventType | None = None) -> Any:
        """A type's name is what its records say they are: the 47 built-in names are the
        specification's contract, and a type with records keeps its name (a rename would
        rewrite what every old record says). The types the server records by itself
        stay server-only."""
        fields = ["built_in", "created_at"]
        if obj is not None and (obj.built_in or obj.records.exists()):
            fields.insert(0, "name")
        if obj is not None and server_types.is_server_type(obj.name):
            fields.append("server_only")
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: EventType | None = None) -> bool:
        if obj is not None and obj.built_in:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: EventType, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # This process sees a new level at once; others reload within a minute.
        event_types.clear_cache()

    def delete_model(self, request: HttpRequest, obj: EventType) -> None:
        super().delete_model(request, obj)
        event_types.clear_cache()


def _posted_switches(data: Any) -> tuple[dict[int, tuple[bool, set[int]]], set[int]]:
    """The matrix form: ``shown`` lists the type ids on the page and ``group`` the group
    ids of its columns; a checked ``on-T`` keeps type T on for everyone and a checked
    ``on-T-G`` keeps it on for group G. A shown switch that is not posted is off.
    Returns ``({type_id: (globally_off, {group ids off})}, {group ids shown})``."""
    groups_shown = {g for raw in data.getlist("group") if (g := whole_number(raw)) is not None}
    on_for: dict[int, set[int]] = {}
    for key in data:
        parts = key.split("-")
        if len(parts) != 3 or parts[0] != "on":
            continue
        type_id, group_id = whole_number(parts[1]), whole_number(parts[2])
        if type_id is not None and group_id is not None:
            on_for.setdefault(type_id, set()).add(group_id)
    posted: dict[int, tuple[bool, set[int]]] = {}
    for raw in data.getlist("shown"):
        if (type_id := whole_number(raw)) is not None:
            posted[type_id] = (
                f"on-{raw}" not in data,
                groups_shown - on_for.get(type_id, set()),
            )
    return posted, groups_shown
