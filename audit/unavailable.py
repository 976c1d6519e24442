"""A database that is away for a moment answers 503 with ``Retry-After``, never 500.

While PostgreSQL restarts (or a connection drops), every query raises Django's
``OperationalError`` or ``InterfaceError``. Nothing of the request was stored (each
ingest batch is one transaction), so the honest answer is "try again shortly": every
client of ours (``DG.Logger``, the Python and curl examples) resends a batch on a 5xx
with the same event ids, and the server stores it once. The API answers through DRF's
exception handler, everything else through the project's ``handler500``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import config

logger = logging.getLogger("audit.unavailable")


def _detail() -> str:
    return (
        "The database is unavailable for a moment; nothing of this request was stored. "
        f"Retry in {config.retry_after_seconds()} s (with the same event ids)."
    )


DATABASE_ERRORS = (OperationalError, InterfaceError)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus 503 for a database that is away."""
    if isinstance(exc, DATABASE_ERRORS):
        logger.warning("Database unavailable, answered 503: %s", exc)
        return Response(
            {"detail": _detail()},
            status=503,
            headers={"Retry-After": str(config.retry_after_seconds())},
        )
    return drf_exception_handler(exc, context)


def unavailable_response(request: HttpRequest) -> HttpResponse | None:
    """The 503 for an error being handled now, if it is a database that is away; for the
    project's ``handler500``, which Django calls for any uncaught exception (views,
    middleware, DRF's own re-raises alike)."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, DATABASE_ERRORS):
        return None
    logger.warning("Database unavailable, answered 503 to %s: %s", request.path, exc)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": _detail()}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Unavailable for a moment</title>"
            f"<h1>Unavailable for a moment</h1><p>{_detail()}</p>",
            status=503,
        )
    response["Retry-After"] = str(config.retry_after_seconds())
    return response
