"""Server-rendered pages of the catalog: an overview, a list per kind and one page per
entity with its activity panel beside the details.

Views stay thin: what a user may see comes from ``selectors`` and ``permissions``,
what an action does (and records) from ``actions``. Forms post back and redirect
(post/redirect/get), so a reload never repeats an action. An entity the user may not
view answers 403 with a page that says so (404 when it does not exist).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import actions, display, kinds, permissions, selectors
from .kinds import BY_PLURAL, KINDS, Kind
from .models import Entity, Project

PAGE_SIZE = 25


def _kind(slug: str) -> Kind:
    """The kind a URL names: its singular name, as in the contract's /catalog/KIND/ID/
    (``query``), or its plural, as in the lists and the API (``queries``)."""
    spec = KINDS.get(slug) or BY_PLURAL.get(slug)
    if spec is None:
        raise Http404(f"No kind of entity is called {slug!r}.")
    return spec


def detail_url(obj: Entity) -> str:
    return reverse("catalog:detail", args=[kinds.of(obj).kind, obj.pk])


def _forbidden(request: HttpRequest, spec: Kind, *, edit: bool = False) -> HttpResponse:
    return render(
        request,
        "catalog/forbidden.html",
        {"spec": spec, "edit": edit, "kinds": KINDS.values()},
        status=403,
    )


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """What the user may see in the catalog: a count per kind and the latest changes."""
    counts, recent = selectors.overview(request.user)
    return render(
        request,
        "catalog/overview.html",
        {"counts": counts, "recent": recent, "kinds": KINDS.values()},
    )


@login_required
def entity_list(request: HttpRequest, plural: str) -> HttpResponse:
    """The entities of one kind the user may view, most recently changed first."""
    spec = _kind(plural)
    search = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    page = Paginator(selectors.for_list(spec, request.user, search=search), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(obj, display.summary(obj)) for obj in page.object_list]
    context = {"spec": spec, "page": page, "rows": rows, "search": search}
    context["hidden_projects"] = _hidden_projects(request.user, page.object_list)
    return render(request, "catalog/list.html", {**context, "kinds": KINDS.values()})


def _hidden_projects(user: Any, objects: Any) -> set[uuid.UUID]:
    """The projects of ``objects`` that ``user`` may not view, in one query: a row
    shows such a project without its name or a link."""
    ids = {obj.project_id for obj in objects if getattr(obj, "project_id", None)}
    if not ids:
        return set()
    visible = permissions.viewable(user, Project.objects.filter(pk__in=ids))
    return ids - set(visible.values_list("pk", flat=True))


@login_required
def detail(request: HttpRequest, plural: str, pk: uuid.UUID) -> HttpResponse:
    """One entity: its details, what it holds (projects), sharing, comments, the
    actions the user may take, and its activity panel beside them."""
    spec = _kind(plural)
    obj = selectors.for_page(spec, pk)
    if obj is None:
        raise Http404(f"No {spec.label.lower()} with this id.")
    if not permissions.may_view(request.user, obj):
        return _forbidden(request, spec)
    may_edit = permissions.may_edit(request.user, obj)
    context: dict[str, Any] = {
        "spec": spec,
        "kind": spec.kind,
        "object": obj,
        "facts": display.facts(obj),
        "sections": display.sections(obj),
        "comments": list(selectors.comments(obj)[:50]),
        "may_edit": may_edit,
        "can_publish": spec.publishable and may_edit and not obj.published,
        "contents": (
            selectors.project_contents(obj, request.user) if isinstance(obj, Project) else []
        ),
        "kinds": KINDS.values(),
        "comment_max_length": actions.COMMENT_MAX_LENGTH,
    }
    return render(request, "catalog/detail.html", context)


# --- actions (POST, then back to the page) --------------------------------------------


def _target(
    request: HttpRequest, plural: str, pk: uuid.UUID, *, edit: bool
) -> tuple[Kind, Entity] | HttpResponse:
    """The entity an action form posted to (and its kind), or the 403 answer to give
    instead; 404 when there is no such entity."""
    spec = _kind(plural)
    obj = selectors.for_page(spec, pk)
    if obj is None:
        raise Http404(f"No {spec.label.lower()} with this id.")
    allowed = (permissions.may_edit if edit else permissions.may_view)(request.user, obj)
    if not allowed:
        return _forbidden(request, spec, edit=edit)
    return spec, obj


def _back(obj: Entity) -> HttpResponse:
    return redirect(detail_url(obj))


@login_required
@require_POST
def publish(request: HttpRequest, plural: str, pk: uuid.UUID) -> HttpResponse:
    target = _target(request, plural, pk, edit=True)
    if isinstance(target, HttpResponse):
        return target
    spec, obj = target
    if not spec.publishable:
        raise Http404(f"A {spec.label.lower()} cannot be published.")
    actions.publish(obj)
    messages.success(request, f"Published. Every signed-in user can now view {obj.name}.")
    return _back(obj)


@login_required
@require_POST
def run(request: HttpRequest, plural: str, pk: uuid.UUID) -> HttpResponse:
    target = _target(request, plural, pk, edit=False)
    if isinstance(target, HttpResponse):
        return target
    spec, obj = target
    if not spec.runnable:
        raise Http404(f"A {spec.label.lower()} cannot be run.")
    result = actions.run(obj)
    if result.table is not None:
        messages.success(
            request,
            f"Ran {obj.name}: {result.table.rows:,} rows, {result.table.columns} columns "
            f"in {result.table.duration_ms:,} ms.",
        )
    else:
        messages.success(request, f"Started {obj.name}.")
    return _back(obj)


@login_required
@require_POST
def open_project(request: HttpRequest, plural: str, pk: uuid.UUID) -> HttpResponse:
    target = _target(request, plural, pk, edit=False)
    if isinstance(target, HttpResponse):
        return target
    _spec, obj = target
    if not isinstance(obj, Project):
        raise Http404("Only projects are opened.")
    actions.open_project(obj)
    messages.success(request, f"Opened {obj.name}.")
    return _back(obj)


def _names(raw: str) -> list[str]:
    """Comma-separated names, deduplicated; NUL (which no name has, and PostgreSQL
    refuses in a query) removed."""
    parts = (part.strip() for part in raw.replace("\x00", "").split(","))
    return [name for name in dict.fromkeys(parts) if name][:100]


@login_required
@require_POST
def share(request: HttpRequest, plural: str, pk: uuid.UUID) -> HttpResponse:
    """Share with comma-separated usernames and group names from the page's form."""
    target = _target(request, plural, pk, edit=True)
    if isinstance(target, HttpResponse):
        return target
    _spec, obj = target
    user_names = _names(request.POST.get("users", ""))
    group_names = _names(request.POST.get("groups", ""))
    user_model = get_user_model()
    users = list(
        user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__in": user_names})
    )
    groups = list(Group.objects.filter(name__in=group_names))
    missing = sorted(set(user_names) - {user.get_username() for user in users}) + sorted(
        set(group_names) - {group.name for group in groups}
    )
    if missing:
        messages.error(request, f"Not shared: no user or group called {', '.join(missing)}.")
        return _back(obj)
    try:
        actions.share(obj, users, groups, notify=request.POST.get("notify") == "on")
    except actions.ActionError as exc:
        messages.error(request, str(exc))
        return _back(obj)
    messages.success(request, f"Shared with {', '.join(user_names + group_names)}.")
    return _back(obj)


@login_required
@require_POST
def comment(request: HttpRequest, plural: str, pk: uuid.UUID) -> HttpResponse:
    target = _target(request, plural, pk, edit=False)
    if isinstance(target, HttpResponse):
        return target
    _spec, obj = target
    assert request.user.is_authenticated  # login_required
    try:
        actions.comment(obj, request.user, request.POST.get("text", ""))
    except actions.ActionError as exc:
        messages.error(request, str(exc))
        return _back(obj)
    messages.success(request, "Comment posted.")
    return redirect(detail_url(obj) + "#comments")
