"""The analysis API (contract v2): usage, error groups, one error group and its status.

Thin views: the question is parsed and checked by ``analysis.period``, answered by
``analysis.queries``, and a status change goes through ``analysis.errors_status``.
"""

from __future__ import annotations

import base64
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import errors_status, period, queries
from .access import CanViewAnalysis

FILTERS = [
    OpenApiParameter("since", str, description="ISO 8601 date or time (default: 7 days ago)"),
    OpenApiParameter("until", str, description="ISO 8601 date or time (default: end of today)"),
    OpenApiParameter("bucket", str, enum=list(period.BUCKETS), description="default day"),
    OpenApiParameter("tz", str, description="IANA time zone (default: the server's)"),
    OpenApiParameter("type", str, description="event type names, comma-separated"),
    OpenApiParameter("level", str, description="levels, comma-separated"),
    OpenApiParameter("user", str, description="usernames or ids, comma-separated"),
    OpenApiParameter("group", str, description="group names, comma-separated"),
]


def question(request: Request) -> period.Question:
    try:
        return period.parse(request.query_params)
    except period.BadQuery as exc:
        raise ValidationError(exc.errors) from None


class UsageView(APIView):
    """Events, distinct users and sessions over time, the most frequent types and the
    most active users of a period (staff and holders of ``audit.view_analysis``)."""

    permission_classes = [CanViewAnalysis]

    @extend_schema(parameters=FILTERS, responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(queries.usage(question(request)))


def _names(raw: str | None, allowed: tuple[str, ...], name: str) -> list[str]:
    values = [part.strip() for part in (raw or "").split(",") if part.strip()]
    bad = [value for value in values if value not in allowed]
    if bad:
        raise ValidationError({name: [f"must be among {', '.join(allowed)}"]})
    return values


def _offset(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (ValueError, UnicodeError):
        raise ValidationError({"cursor": ["is not a cursor this API made"]}) from None
    if not 0 <= offset <= 1_000_000:
        raise ValidationError({"cursor": ["is not a cursor this API made"]})
    return offset


class ErrorsView(APIView):
    """Error groups by fingerprint that occurred in the period: count and distinct users
    in the period, first and last seen, status, a sample record (the newest)."""

    permission_classes = [CanViewAnalysis]

    @extend_schema(
        parameters=[
            *FILTERS,
            OpenApiParameter("status", str, description="open, resolved, ignored, regressed"),
            OpenApiParameter("sort", str, enum=list(queries.ERROR_SORTS)),
            OpenApiParameter("cursor", str),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        asked = question(request)
        status = _names(request.query_params.get("status"), queries.STATUSES, "status")
        sort = request.query_params.get("sort") or "count"
        if sort not in queries.ERROR_SORTS:
            raise ValidationError({"sort": [f"must be one of {', '.join(queries.ERROR_SORTS)}"]})
        offset = _offset(request.query_params.get("cursor"))
        rows, more = queries.errors(asked, status=status, sort=sort, offset=offset)
        following = None
        if more:
            params = request.query_params.copy()
            params["cursor"] = base64.urlsafe_b64encode(str(offset + len(rows)).encode()).decode()
            following = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": rows, "next": following})


class StatusSerializer(serializers.Serializer[dict[str, str]]):
    status = serializers.ChoiceField(choices=errors_status.SETTABLE)


class ErrorDetailView(APIView):
    """One error group, with its trend over the period; PATCH ``{"status": ...}`` sets
    open, resolved or ignored (recorded as ``error-group-edited``; a resolved group that
    occurs again becomes ``regressed``)."""

    permission_classes = [CanViewAnalysis]

    def _answer(self, request: Request, fingerprint: str) -> dict[str, Any]:
        found = queries.error_detail(fingerprint, question(request))
        if found is None:
            raise Http404("No such error group.")
        return found

    @extend_schema(parameters=FILTERS, responses={200: dict})
    def get(self, request: Request, fingerprint: str) -> Response:
        return Response(self._answer(request, fingerprint))

    @extend_schema(request=StatusSerializer, responses={200: dict})
    def patch(self, request: Request, fingerprint: str) -> Response:
        serializer = StatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not errors_status.change(fingerprint, serializer.validated_data["status"]):
            raise Http404("No such error group.")
        return Response(self._answer(request, fingerprint))
