"""Keyset (cursor) pagination, newest first: page 1,000 costs what page 1 costs."""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any, NoReturn
from urllib.parse import parse_qs

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from ..selectors import ActivityPage

_CURSOR_KEYS = frozenset({"o", "r", "p"})  # offset, reverse, position (DRF's encoding)


class StrictCursorPagination(CursorPagination):
    """DRF's cursor pagination, but a cursor it did not make is a 400 that says so.

    DRF decodes whatever base64 it is given and hands the position to the database
    unchecked, so a tampered cursor (``p=abc``, a NUL, SQL text) ends in a 500 from the
    field or the driver, and garbage silently reads the first page. Here the cursor
    must be canonical base64 of DRF's querystring (``o``, ``r``, ``p``, each once) and
    its position a value of the ordering field (``valid_position``).
    """

    invalid_cursor_message = "Invalid cursor: use the `next` or `previous` link of a page as it is"

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = (
                parse_qs(querystring, keep_blank_values=True, strict_parsing=True)
                if querystring
                else {}
            )
        except (binascii.Error, UnicodeError, ValueError):
            self._refuse("it is not one this API made")
        if set(tokens) - _CURSOR_KEYS or any(len(values) != 1 for values in tokens.values()):
            self._refuse("it is not one this API made")
        offset = tokens.get("o", ["0"])[0]
        if not (offset.isascii() and offset.isdigit()) or len(offset) > 9:
            self._refuse("its offset is not a whole number")
        reverse = tokens.get("r", ["0"])[0]
        if reverse not in ("0", "1"):
            self._refuse("its direction is not 0 or 1")
        position = tokens.get("p", [None])[0]
        if position is not None and ("\x00" in position or not self.valid_position(position)):
            self._refuse("its position is not a value of the list's order")
        return Cursor(
            offset=min(int(offset), self.offset_cutoff),
            reverse=reverse == "1",
            # The position is text, as DRF's own decode_cursor gives it and its
            # _get_position_from_instance makes it; djangorestframework-stubs types it
            # as int.
            position=position,  # type: ignore[arg-type]
        )

    def valid_position(self, position: str) -> bool:
        """Whether ``position`` can be a value of the ordering field: a record or
        session id here (``-id``)."""
        return (
            position.isascii()
            and position.isdigit()
            and len(position) <= 19
            and 0 < int(position) < 2**63
        )

    def _refuse(self, why: str) -> NoReturn:
        raise ValidationError(
            {self.cursor_query_param: [f"{self.invalid_cursor_message} ({why})."]}
        )


class NewestFirst(StrictCursorPagination):
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

    def paginate_page(self, page: ActivityPage, request: Request) -> Any:
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
