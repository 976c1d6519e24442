"""Server-rendered pages of the audit app."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page: the signed-in user's latest activity and where to go next."""
    latest = selectors.with_related(
        selectors.visible_records(request.user).filter(user_id=request.user.pk)
    ).order_by("-id")[:20]
    return render(request, "audit/home.html", {"latest": latest})
