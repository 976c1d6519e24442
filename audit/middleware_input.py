"""Refuses requests that carry a NUL character, before any view or database sees them.

PostgreSQL cannot store or compare text holding a NUL (psycopg raises ``ValueError``
on the parameter), and the file system cannot name a file with one, so a ``%00`` in a
path or query parameter would reach a lookup and end in a 500. One check here covers
every page and API path alike: the answer is a 400 that says where the NUL was, as
JSON under ``/api/`` (like DRF's errors) and as the HTML error page elsewhere.
Views and parsers still check their own input; this is the net under all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse

# A NUL as sent (raw) or percent-encoded, in the still-encoded query string.
_NUL_IN_QUERY = re.compile(r"\x00|%00")


def nul_problem(request: HttpRequest) -> str | None:
    """Where the request carries a NUL, in words; None when it carries none."""
    where = None
    if "\x00" in request.path:
        where = "Its address (path)"
    elif _NUL_IN_QUERY.search(request.META.get("QUERY_STRING", "")):
        where = "Its query string"
    else:
        for key, value in request.META.items():
            if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
                where = f"Its {key[5:].replace('_', '-').title()} header"
                break
        else:
            if any("\x00" in name or "\x00" in value for name, value in request.COOKIES.items()):
                where = "A cookie"
    if where is None:
        return None
    return f"{where} contains a NUL character (%00 or \\u0000), which no part of this site accepts."


class RefuseNulMiddleware:
    """A 400 for any request with a NUL in its path, query string, headers or cookies.

    Put it first in ``MIDDLEWARE``: the session middleware would look a NUL cookie up
    in the database, and WhiteNoise a NUL path on disk.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return self._refusal(request) or self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._refusal(request) or await self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        problem = nul_problem(request)
        if problem is None:
            return None
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": problem}, status=400)
        raise BadRequest(problem)  # rendered by handler400 (templates/400.html)
