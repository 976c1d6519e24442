"""The activity panel fragment and the activity pages. Thin: they parse and authorize,
``activity.selectors`` reads, the templates render.

Every view answers ``?fragment=items`` with just the entries and the "load more" link,
which ``panel.js`` appends; without JavaScript the same links load whole pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

import audit
from audit import (
    ActivityQuery,
    BadActivityQuery,
    can_view_entity,
    can_view_user_activity,
    whole_number,
)
from audit.models import UserSession

from . import selectors

ITEMS = "items"


def parse_query(request: HttpRequest) -> ActivityQuery:
    """The filters and cursor of a request; a 400 that names the bad parameters."""
    try:
        return ActivityQuery.parse(
            request.GET, default_limit=selectors.PAGE_SIZE, max_limit=selectors.MAX_PAGE_SIZE
        )
    except BadActivityQuery as exc:
        problems = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in exc.errors.items())
        raise BadRequest(problems) from None


def resolve_entity(kind_name: str, raw_id: str) -> tuple[audit.EntityKind, str]:
    """The registered kind and the stored id; 404 for an unknown kind or a bad id."""
    kind = audit.kind(kind_name)
    if kind is None:
        raise Http404(f"Unknown entity kind {kind_name!r}.")
    try:
        return kind, kind.parse_id(raw_id)
    except ValueError:
        raise Http404(f"Not a valid {kind.kind} id.") from None


def _wants_items(request: HttpRequest) -> bool:
    return request.GET.get("fragment") == ITEMS


@require_GET
@login_required
def entity_panel(request: HttpRequest, kind: str, object_id: str) -> HttpResponse:
    """``/activity/KIND/ID/``: the entity's activity panel as an HTML fragment."""
    entity_kind, entity_id = resolve_entity(kind, object_id)
    if not can_view_entity(request.user, entity_kind, entity_id):
        raise PermissionDenied("You may not view this entity's activity.")
    query = parse_query(request)
    items_only = _wants_items(request)
    panel = selectors.entity_panel(
        entity_kind, entity_id, query, with_choices=not items_only, viewer=request.user
    )
    context = {"panel": panel, "page": panel, "action": request.path, "fragment_url": request.path}
    template = "activity/_body.html" if items_only else "activity/panel.html"
    return render(request, template, context)


@require_GET
@login_required
def user_activity(request: HttpRequest, username: str) -> HttpResponse:
    """``/activity/users/USERNAME/``: what a person did. Your own, or anyone's for staff.
    For others, a name that is not theirs is the same 403 whether or not it exists, so
    the page cannot be used to learn who has an account."""
    if not can_view_user_activity(request.user, username):
        raise PermissionDenied("You may only view your own activity.")
    person = selectors.find_user(username)
    if person is None:
        raise Http404("No such user.")
    query = parse_query(request)
    page = selectors.user_activity(person, query, viewer=request.user)
    context: dict[str, Any] = {
        "person": person,
        "page": page,
        "action": request.path,
        "fragment_url": request.path,
    }
    if _wants_items(request):
        return render(request, "activity/_body.html", context)
    context |= {
        "type_choices": sorted({*selectors.user_type_choices(person), *query.types}),
        "sessions": selectors.recent_sessions(person),
        "is_self": person.pk == request.user.pk,
    }
    return render(request, "activity/user.html", context)


@require_GET
@login_required
def session_timeline(request: HttpRequest, session_uuid: Any) -> HttpResponse:
    """``/activity/sessions/UUID/``: one session's timeline, oldest first, with times
    relative to its start. Your own sessions, or anyone's for staff: someone else's
    session is the same 404 as one that does not exist, so the page cannot be used to
    learn which session ids exist."""
    assert request.user.is_authenticated  # login_required
    sessions = UserSession.objects.select_related("user")
    if not request.user.is_staff:
        sessions = sessions.filter(user_id=request.user.pk)
    session = sessions.filter(uuid=session_uuid).first()
    if session is None:
        raise Http404("No such session among those you may view.")
    query = parse_query(request)
    after = _after(request)
    page = selectors.session_timeline(session, query, after=after, viewer=request.user)
    context = {
        "session": session,
        "page": page,
        "action": request.path,
        "fragment_url": request.path,
        "timeline": True,
    }
    template = "activity/_body.html" if _wants_items(request) else "activity/session.html"
    return render(request, template, context)


def _after(request: HttpRequest) -> int | None:
    raw = request.GET.get("after", "").strip()
    if not raw:
        return None
    after = whole_number(raw)
    if after is None:
        raise BadRequest("after: must be a record id (a whole number from 1)")
    return after
