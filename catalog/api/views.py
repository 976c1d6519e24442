"""REST views of the catalog: a ModelViewSet per kind, thin over ``catalog.actions``,
``catalog.permissions`` and ``catalog.selectors``.

Lists and lookups only ever see what the user may view (``selectors.for_api``), so an
entity the user may not view answers 404, exactly like one that does not exist.
Changing, deleting, publishing and sharing need edit rights: 403 otherwise.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar, Protocol

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from audit import StrictCursorPagination

from .. import actions, permissions, selectors
from ..kinds import KINDS, Kind
from ..models import Entity, Project
from . import serializers
from .filters import filterset_for

EDIT_ACTIONS = frozenset({"update", "partial_update", "destroy", "publish", "share"})


class ActionRefused(APIException):
    """An action that cannot be done as asked (``actions.ActionError``)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "action_refused"


class NewestFirst(StrictCursorPagination):
    """Keyset pagination on the creation time, which never changes: an entity edited
    while someone pages through the list does not move between pages. A cursor whose
    position is not a time is a 400. Entities made at the same moment (an import, a
    backdated batch) are told apart by their key: the cursor counts its way past such
    ties, which skipped and repeated rows while the database ordered them at will."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def valid_position(self, position: str) -> bool:
        try:
            moment = parse_datetime(position) if position.isascii() else None
            if moment is not None and moment.tzinfo is not None:
                moment.astimezone(UTC)  # what the query does with it
        except (ValueError, OverflowError):  # a field out of range, before year 1
            return False
        return moment is not None


class CommentsNewestFirst(NewestFirst):
    page_size = 20
    max_page_size = 100


class EntityPermission(BasePermission):
    """Edit actions need ``may_edit``; viewing is already the queryset's filter."""

    message = "Only the owner and staff may change, delete, publish or share this entity."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if getattr(view, "action", None) in EDIT_ACTIONS:
            return permissions.may_edit(request.user, obj)
        return True


class EntityViewSet(viewsets.ModelViewSet[Entity]):
    """CRUD of one kind; subclasses set ``spec`` and mix in the actions the kind has."""

    spec: ClassVar[Kind]
    permission_classes = [IsAuthenticated, EntityPermission]
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[Entity]:
        return selectors.for_api(self.spec, self.request.user)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.save(owner=self.request.user)

    @extend_schema(
        request=serializers.ShareSerializer,
        responses={
            200: serializers.ShareResultSerializer,
            400: OpenApiResponse(description="Unknown users or groups, or nobody named."),
            403: OpenApiResponse(description="Only the owner and staff may share."),
        },
        description="Share (read access) with users and groups. `notify: false` records "
        "`entity-shared-silent` instead of `entity-shared`.",
    )
    @action(detail=True, methods=["post"])
    def share(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        payload = serializers.ShareSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            record = actions.share(obj, data["users"], data["groups"], notify=data["notify"])
        except actions.ActionError as exc:
            raise ActionRefused(str(exc)) from None
        obj = self.get_queryset().get(pk=obj.pk)  # fresh sharing lists
        body = {
            "shared_with": serializers.shared_with(obj),
            "record": record,
        }
        return Response(serializers.ShareResultSerializer(body).data)

    @extend_schema(
        methods=["GET"],
        request=None,
        responses=serializers.CommentSerializer(many=True),
        description="Comments on the entity, newest first.",
    )
    @extend_schema(
        methods=["POST"],
        request=serializers.CommentSerializer,
        responses={201: serializers.CommentSerializer},
        description="Post a comment; records `comment-posted` linking the entity.",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=CommentsNewestFirst,
        filter_backends=[],  # the list filters are for entities, not comments
    )
    def comments(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        if request.method == "POST":
            payload = serializers.CommentSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            assert request.user.is_authenticated  # IsAuthenticated
            try:
                posted = actions.comment(obj, request.user, payload.validated_data["text"])
            except actions.ActionError as exc:
                raise ActionRefused(str(exc)) from None
            return Response(
                serializers.CommentSerializer(posted).data, status=status.HTTP_201_CREATED
            )
        # The stubs tie paginate_queryset to the view's model; this action pages comments.
        page = self.paginate_queryset(selectors.comments(obj))  # type: ignore[arg-type]
        return self.get_paginated_response(serializers.CommentSerializer(page, many=True).data)


class _EntityView(Protocol):
    """What the action mixins use of the ``EntityViewSet`` they are mixed into."""

    def get_object(self) -> Entity: ...


class PublishMixin:
    @extend_schema(
        request=None,
        responses={
            200: serializers.PublishResultSerializer,
            403: OpenApiResponse(description="Only the owner and staff may publish."),
        },
        description="Make the entity visible to every signed-in user; records "
        "`KIND-published` (nothing when it already was published).",
    )
    @action(detail=True, methods=["post"])
    def publish(self: _EntityView, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        record = actions.publish(obj)
        return Response({"published": True, "record": record})


class RunMixin:
    @extend_schema(
        request=None,
        responses=serializers.RunResultSerializer,
        description="Run the entity; records `KIND-start` and, for queries and jobs, "
        "`table-produced` with the rows and columns of the result.",
    )
    @action(detail=True, methods=["post"])
    def run(self: _EntityView, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        result = actions.run(obj)
        return Response(serializers.RunResultSerializer(result).data)


class ProjectViewSet(EntityViewSet):
    spec = KINDS["project"]
    serializer_class = serializers.ProjectSerializer
    filterset_class = filterset_for(spec.model)

    @extend_schema(
        request=None,
        responses=serializers.RecordResultSerializer,
        description="Record that you opened the project (`project-opened`).",
    )
    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> Response:
        project = self.get_object()
        assert isinstance(project, Project)  # this view set's kind
        return Response({"record": actions.open_project(project)})


class ConnectionViewSet(PublishMixin, EntityViewSet):
    spec = KINDS["connection"]
    serializer_class = serializers.ConnectionSerializer
    filterset_class = filterset_for(spec.model)


class QueryViewSet(PublishMixin, RunMixin, EntityViewSet):
    spec = KINDS["query"]
    serializer_class = serializers.QuerySerializer
    filterset_class = filterset_for(spec.model)


class JobViewSet(RunMixin, EntityViewSet):
    spec = KINDS["job"]
    serializer_class = serializers.JobSerializer
    filterset_class = filterset_for(spec.model)


class ScriptViewSet(PublishMixin, RunMixin, EntityViewSet):
    spec = KINDS["script"]
    serializer_class = serializers.ScriptSerializer
    filterset_class = filterset_for(spec.model)


class PredictiveModelViewSet(PublishMixin, RunMixin, EntityViewSet):
    spec = KINDS["predictive-model"]
    serializer_class = serializers.PredictiveModelSerializer
    filterset_class = filterset_for(spec.model)


class NotebookViewSet(PublishMixin, RunMixin, EntityViewSet):
    spec = KINDS["notebook"]
    serializer_class = serializers.NotebookSerializer
    filterset_class = filterset_for(spec.model)


VIEWSETS: tuple[type[EntityViewSet], ...] = (
    ProjectViewSet,
    QueryViewSet,
    ConnectionViewSet,
    JobViewSet,
    ScriptViewSet,
    PredictiveModelViewSet,
    NotebookViewSet,
)
