"""``GET /api/audit/events/export/?format=csv|ndjson``: every record the events list
would show for the same filters, newest first, streamed.

Constant memory whatever the size: the records are read in keyset pages of a thousand
(``records.page_rows``, one query a page on PostgreSQL) and written as they come; the
response is a stream, so neither the server nor a proxy holds the file. Visibility is
the list's own (``EventsView.get_queryset``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from .. import hidden_names
from .records import ApiRecord, page_rows
from .views import EventsView

PAGE = 1000
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
COLUMNS = (
    "id", "timestamp", "type", "level", "user", "session", "source", "message", "params",
    "entities", "changes", "client_timestamp", "stack_trace", "fingerprint",
)  # fmt: skip
_encoder = msgspec.json.Encoder()


class EventsExportView(EventsView):
    """The events list's records and filters, as one CSV or NDJSON download."""

    pagination_class = None  # type: ignore[assignment]  # one stream, not pages
    http_method_names = ["get", "head", "options"]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ``format`` names the file's format here, not a DRF renderer: errors stay JSON.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(FORMATS), description="csv")],
        responses={200: OpenApiResponse(description="The records, as CSV or NDJSON.")},
        description=(
            "Every record the events list shows for the same filters and the same caller, "
            "newest first, streamed in constant memory (CSV or NDJSON, one record a line "
            "as the read API shows it)."
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        fmt = request.query_params.get("format") or "csv"
        if fmt not in FORMATS:
            raise ValidationError({"format": [f"must be one of {', '.join(FORMATS)}"]})
        queryset = self.filter_queryset(self.get_queryset()).order_by("-id")
        user = request.user
        lines = _csv(queryset, user) if fmt == "csv" else _ndjson(queryset, user)
        response = StreamingHttpResponse(lines, content_type=FORMATS[fmt])
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-records-{stamp}.{fmt}"'
        response["Cache-Control"] = "no-store"
        return response


def _pages(queryset: Any, user: Any) -> Iterator[list[ApiRecord]]:
    """The records a page at a time, without the names ``user`` may not see."""
    before: int | None = None
    while True:
        page = page_rows(queryset if before is None else queryset.filter(id__lt=before), PAGE)
        if not page:
            return
        hidden_names.mask_api_records([record.data for record in page], user)
        yield page
        before = page[-1].pk


def _ndjson(queryset: Any, user: Any) -> Iterator[bytes]:
    for page in _pages(queryset, user):
        yield b"".join(_encoder.encode(record.data) + b"\n" for record in page)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, msgspec.Raw):
        return bytes(value).decode()
    if isinstance(value, dict | list):
        return _encoder.encode(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(queryset: Any, user: Any) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for page in _pages(queryset, user):
        buffer.seek(0)
        buffer.truncate()
        for record in page:
            writer.writerow([_text(record.data.get(column)) for column in COLUMNS])
        yield buffer.getvalue()
