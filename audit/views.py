"""Server-rendered pages of the audit app. Views stay thin: queries live in
``selectors``, so the page and the API read records the same way."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from . import selectors, sessions

LATEST = 20


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page: the signed-in user's latest activity, their current session and
    how to post an event from a script."""
    stored = request.session.get(sessions.SESSION_KEY) or [None, None]
    context = {
        "latest": selectors.latest_records(request.user, LATEST),
        "session": selectors.own_session(request.user, stored[1]),
        "ingest_url": request.build_absolute_uri(reverse("audit-api:events")),
    }
    return render(request, "audit/home.html", context)
