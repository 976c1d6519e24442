"""Keyset (cursor) pagination, newest first: page 1,000 costs what page 1 costs."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from ..selectors import ActivityPage


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class SessionsNewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class BeforeCursor(BasePagination):
    """Keyset pages of an entity's activity: ``?before=<record id>``, newest first.

    Not DRF's ``CursorPagination``: the page is computed by
    ``selectors.entity_activity_page`` from the link index (distinct record ids below
    the cursor), which a queryset ordering cannot express, and the cursor stays a plain
    record id that the HTML panel shares. The view hands the page over with
    ``paginate_page``; ``next`` keeps every other query parameter (filters, limit).
    """

    page_size = 50
    max_page_size = 500
    next_url: str | None = None

    def paginate_page(self, page: ActivityPage, request: Request) -> list[Any]:
        self.next_url = None
        if page.next_cursor is not None:
            url = request.build_absolute_uri()
            self.next_url = replace_query_param(url, "before", page.next_cursor)
        return page.records

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.next_url, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "before",
                "required": False,
                "in": "query",
                "description": "Cursor: records older than this record id (from `next`).",
                "schema": {"type": "integer"},
            },
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"Records per page, 1 to {self.max_page_size}.",
                "schema": {"type": "integer", "default": self.page_size},
            },
        ]
