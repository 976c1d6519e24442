"""HTTP views of the audit API. Thin: they parse, authorize and call domain functions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, status
from rest_framework import serializers as drf_serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from .. import (
    config,
    hidden_names,
    registry,
    selectors,
    sessions,
    staged,
    switch_rules,
    throttling,
    trust,
)
from ..context import AuditContext, current
from ..models import AuditRecord, EventType, UserSession
from ..recording import ingest
from ..stats import dropped_last_day
from . import records, serializers
from .filters import RecordFilter, SessionFilter
from .pagination import BeforeCursor, NewestFirst
from .parsing import read_events


def _context(request: Request) -> AuditContext:
    """The context the middleware bound for this request (``audit.E002`` checks that
    the middleware is installed); it reads the authenticated user from the request."""
    ctx = current()
    if ctx is None:
        raise ImproperlyConfigured("audit.middleware.AuditContextMiddleware is not installed")
    return ctx


class EventsView(generics.ListAPIView[AuditRecord]):
    """Post audit events (one or a batch) and list the records you may read."""

    serializer_class = serializers.RecordSerializer
    filterset_class = RecordFilter
    pagination_class = NewestFirst

    @extend_schema(
        description=(
            "The records you may read, newest first, by cursor: staff read every record, "
            "others their own (and, with `entity=KIND:ID`, the activity of an entity they "
            "may view). Every filter is validated: a bad value is a 400 naming it."
        )
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        # Names of entities the reader may not view are taken out (``hidden_names``).
        hidden_names.mask_api_records(response.data["results"], request.user)
        return response

    def get_queryset(self) -> QuerySet[AuditRecord]:
        user = self.request.user
        entity = self.request.query_params.get("entity")
        if entity and not user.is_staff:
            try:
                kind, object_id = selectors.parse_entity(entity)
            except ValueError:
                return selectors.visible_records(user)  # the filter reports the error
            if not selectors.can_view_entity(user, kind, object_id):
                raise PermissionDenied("You may not view this entity's activity.")
            return selectors.with_related(AuditRecord.objects.all())
        return selectors.with_related(selectors.visible_records(user))

    @extend_schema(
        request={"application/json": serializers.EventInSerializer(many=True)},
        responses={
            202: serializers.IngestResultSerializer,
            400: OpenApiResponse(description="Not JSON, empty, or not an event or a list."),
            413: OpenApiResponse(description="Body or batch over its limit."),
            429: OpenApiResponse(description="Over the user's request or event rate."),
        },
        description=(
            "Post one event object or a JSON array of them. Each event is validated on its "
            "own: bad events are listed in `rejected` by index, good ones are stored."
        ),
    )
    def post(self, request: Request) -> Response:
        events = read_events(request._request)
        trusted = trust.is_trusted_service(request)
        throttling.charge(request.user, len(events), service=trusted)
        result = ingest(events, ctx=_context(request), trusted=trusted)
        return Response(result.as_dict(), status=status.HTTP_202_ACCEPTED)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class ConfigView(APIView):
    """What a client logger needs for its user: session and switched-off types.

    Also sets the CSRF cookie, which a browser logger needs to post events."""

    @extend_schema(responses=serializers.ConfigSerializer)
    def get(self, request: Request) -> Response:
        ctx = _context(request)
        session = sessions.for_context(ctx)
        return Response(
            {
                "user": request.user.get_username(),
                "session": str(session.uuid),
                "disabled_types": sorted(switch_rules.disabled_types(request.user)),
                "limits": config.limits(),
            }
        )


class SessionListView(generics.ListAPIView[UserSession]):
    """Sessions you may read, newest first; filters ``user``, ``kind``, ``since``, ``until``."""

    serializer_class = serializers.SessionSerializer
    pagination_class = NewestFirst
    filterset_class = SessionFilter

    def get_queryset(self) -> QuerySet[UserSession]:
        return selectors.visible_sessions(self.request.user)


class SessionDetailView(generics.RetrieveAPIView[UserSession]):
    serializer_class = serializers.SessionDetailSerializer
    lookup_field = "uuid"

    def get_queryset(self) -> QuerySet[UserSession]:
        staged.settle()  # the count is of the session's records: staged ones too
        return selectors.visible_sessions(self.request.user).annotate(record_count=Count("records"))


class EntityActivityView(generics.GenericAPIView[AuditRecord]):
    """The records that touch one entity, newest first, by keyset cursor (``before``).

    Filters: ``type`` (names, repeatable or comma-separated) and ``user`` (username). A
    filtered page looks through a bounded stretch of history, so it may hold fewer than
    ``limit`` records, even none, and still carry ``next``: follow it until it is null.
    Only those who may view the entity read its activity (403 otherwise); an unknown
    kind or an id that cannot be one is 404; an unreadable parameter is 400.
    """

    serializer_class = serializers.RecordSerializer
    pagination_class = BeforeCursor
    filter_backends: list[Any] = []
    queryset = AuditRecord.objects.none()  # for the schema; pages come from a selector

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH),
            OpenApiParameter("object_id", str, OpenApiParameter.PATH),
            OpenApiParameter(
                "type", str, many=True, description="Type names, repeatable or comma-separated."
            ),
            OpenApiParameter("user", str, description="Username of the acting user."),
            OpenApiParameter("before", int, description="Cursor: from `next`."),
            OpenApiParameter("limit", int, description="Records per page, 1 to 500."),
        ],
        responses={
            200: inline_serializer(
                "EntityActivityPage",
                {
                    "next": drf_serializers.URLField(allow_null=True),
                    "results": serializers.RecordSerializer(many=True),
                },
            ),
            400: OpenApiResponse(description="A query parameter cannot be read."),
            403: OpenApiResponse(description="You may not view this entity."),
            404: OpenApiResponse(description="Unknown entity kind or invalid id."),
        },
    )
    def get(self, request: Request, kind: str, object_id: str) -> HttpResponse:
        entity_kind, entity_id = self._entity(kind, object_id)
        pages = self._pages()
        try:
            query = selectors.ActivityQuery.parse(
                request.query_params,
                default_limit=pages.page_size,
                max_limit=pages.max_page_size,
            )
        except selectors.BadActivityQuery as exc:
            raise ValidationError(exc.errors) from None
        page = selectors.entity_activity_query(
            entity_kind, entity_id, query, load=records.entity_page
        )
        results = hidden_names.mask_api_page(pages.paginate_page(page, request), request.user)
        return records.page_response(request, pages.next_url, results)

    def _pages(self) -> BeforeCursor:
        """The view's paginator, made from ``pagination_class``."""
        paginator = self.paginator
        assert isinstance(paginator, BeforeCursor), paginator
        return paginator

    def _entity(self, kind_name: str, raw_id: str) -> tuple[registry.EntityKind, str]:
        kind = registry.get(kind_name)
        if kind is None:
            raise NotFound(f"Unknown entity kind {kind_name!r}.")
        try:
            object_id = kind.parse_id(raw_id)
        except ValueError as exc:
            raise NotFound(f"Not a valid {kind.kind} id: {exc}.") from None
        if not selectors.can_view_entity(self.request.user, kind, object_id):
            raise PermissionDenied("You may not view this entity's activity.")
        return kind, object_id


class EventTypeList(generics.ListAPIView[EventType]):
    """Every event type with its switches (staff only)."""

    serializer_class = serializers.EventTypeSerializer
    permission_classes = [IsAdminUser]
    pagination_class = None

    def get_queryset(self) -> QuerySet[EventType]:
        return EventType.objects.prefetch_related("disabled_for").order_by("name")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "dropped_counts": dropped_last_day()}


class _ChangeEventTypes(BasePermission):
    """Changing a type's switches takes ``audit.change_eventtype``, as in the admin."""

    message = "Changing switches takes the permission to change event types."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user.has_perm("audit.change_eventtype"))


class EventTypeDetail(generics.RetrieveUpdateAPIView[EventType]):
    """Read or change one type's switches: ``enabled`` (everyone) and
    ``disabled_for_groups`` (group names). Every change is itself recorded."""

    serializer_class = serializers.EventTypeSerializer
    # Staff, and to change a switch the permission the admin's matrix asks for too.
    permission_classes = [IsAdminUser, _ChangeEventTypes]
    lookup_field = "name"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[EventType]:
        return EventType.objects.prefetch_related("disabled_for")

    def perform_update(self, serializer: BaseSerializer[EventType]) -> None:
        with transaction.atomic():
            serializer.save()
