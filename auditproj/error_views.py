"""The pages of 400, 403, 404 and 500 answers: what was wrong, in words, and a way back.

Django's own pages (with ``DEBUG=0``) say only "Bad Request (400)": a view that raises
``BadRequest("before: must be a whole number ...")`` deserves to be read. The reason
shown is the exception's message (escaped by the template) where that message is
written for the user: ``BadRequest``, the request-size refusals, ``PermissionDenied``
and ``Http404`` raised by a view. Other refusals (a forged host header, a URL that
matches no route) get a fixed sentence, since their message is Django's internals.
Under ``/api/`` the answer is JSON (``{"detail": ...}``) like the API's own errors;
DRF answers the errors its views raise itself, so these reach only what DRF does not
see (an unknown API address, a refusal by middleware).
"""

from __future__ import annotations

from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404

from audit import unavailable_response

_SAID_FOR_USERS = (BadRequest, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def _reason(exception: Exception | None, readable: bool, fallback: str) -> str:
    message = str(exception) if exception is not None and exception.args else ""
    return message if readable and message else fallback


def _answer(request: HttpRequest, status: int, title: str, reason: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": reason}, status=status)
    context = {"title": title, "reason": reason, "status": status}
    return render(request, "error.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = _reason(
        exception,
        isinstance(exception, _SAID_FOR_USERS),
        "The request could not be understood: check the address and try again.",
    )
    return _answer(request, 400, "Bad request", reason)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = _reason(
        exception,
        isinstance(exception, PermissionDenied),
        "You may not view this page.",
    )
    return _answer(request, 403, "Not allowed", reason)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = _reason(
        exception,
        isinstance(exception, Http404) and not isinstance(exception, Resolver404),
        "There is no page at this address.",
    )
    return _answer(request, 404, "Not found", reason)


def server_error(request: HttpRequest) -> HttpResponse:
    """A database that is away is a 503 with ``Retry-After`` (``audit.unavailable``);
    anything else the plain 500, drawn without a template or the database, which may be
    what failed."""
    unavailable = unavailable_response(request)
    if unavailable is not None:
        return unavailable
    reason = "Something went wrong on our side; it has been logged. Try again in a moment."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": reason}, status=500)
    return HttpResponse(
        f"<!doctype html><title>Server error</title><h1>Server error</h1><p>{reason}</p>"
        '<p><a href="/">Back to the start page</a></p>',
        status=500,
    )
