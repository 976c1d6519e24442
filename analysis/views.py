"""The analysis pages: the overview, the error groups, one error group, and the records
behind any number. Thin: the question is ``analysis.period``'s, the answers
``analysis.queries``', the downloads ``analysis.downloads``'."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

import audit
from audit.models import AuditRecord

from . import access, downloads, errors_status, period, queries, sparkline
from .models import ErrorStatus

PAGE = 50
SORT_LABELS = [
    ("count", "Count"),
    ("users", "Users"),
    ("last_seen", "Last seen"),
    ("first_seen", "First seen"),
]


def _question(request: HttpRequest) -> period.Question:
    try:
        return period.parse(request.GET)
    except period.BadQuery as exc:
        reasons = "; ".join(f"{name}: {' '.join(words)}" for name, words in exc.errors.items())
        raise BadRequest(f"This analysis cannot be asked that way ({reasons}).") from None


def _records_link(question: period.Question, **extra: Any) -> str:
    params = question.query_string(**extra)
    return f"{reverse('analysis:records')}?{urlencode(params)}"


def _bucket_links(question: period.Question) -> list[str]:
    """The records behind each bucket of the period: the question's own parameters with
    the bucket's bounds (built once: a 90-day period has 90 links)."""
    base = f"{reverse('analysis:records')}?"
    starts = question.buckets()
    ends = [*starts[1:], question.until]
    return [
        base + urlencode(question.query_string(since=start.isoformat(), until=end.isoformat()))
        for start, end in zip(starts, ends, strict=True)
    ]


PRESETS = (
    ("24 h", 1, "hour"),
    ("7 days", 7, "day"),
    ("30 days", 30, "day"),
    ("90 days", 90, "week"),
)


def _form(question: period.Question) -> dict[str, Any]:
    """What the filter form shows: the period in its own time zone, the choices."""
    local = "%Y-%m-%dT%H:%M"
    return {
        "since_local": question.since.astimezone(question.tz).strftime(local),
        "until_local": question.until.astimezone(question.tz).strftime(local),
        "buckets": period.BUCKETS,
        "levels": period.LEVELS,
        "presets": _presets(question),
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    access.require(request.user)
    question = _question(request)
    if (table := request.GET.get("download")) is not None:
        return downloads.overview_table(question, table)
    answer = queries.overview(question)
    chart = {
        "labels": [bucket["start"].isoformat() for bucket in answer["series"]],
        "events": [bucket["events"] for bucket in answer["series"]],
        "users": [bucket["users"] for bucket in answer["series"]],
        "new_users": answer["new_users"]["series"],
        "sessions": answer["sessions"]["series"],
        "bucket": question.bucket,
        "tz": str(question.tz.key),
        "links": _bucket_links(question),
        "types": [row["type"] for row in answer["types"]],
        "type_events": [row["events"] for row in answer["types"]],
        "type_links": [_records_link(question, type=row["type"]) for row in answer["types"]],
    }
    return render(
        request,
        "analysis/overview.html",
        {
            **_form(question),
            "question": question,
            "answer": answer,
            "chart": chart,
            "records_link": _records_link(question),
            "errors_link": f"{reverse('analysis:errors')}?{urlencode(question.query_string())}",
            "query": urlencode(question.query_string()),
            "type_choices": _type_choices(),
        },
    )


def _presets(question: period.Question) -> list[dict[str, Any]]:
    from datetime import timedelta

    from django.utils import timezone

    until = period.ceil(timezone.now(), "day", question.tz)
    found = []
    for label, days, bucket in PRESETS:
        since = until - timedelta(days=days)
        params = question.query_string(
            since=since.isoformat(), until=until.isoformat(), bucket=bucket
        )
        found.append(
            {
                "label": label,
                "href": f"?{urlencode(params)}",
                "current": question.until == until and question.since == since,
            }
        )
    return found


def _type_choices() -> list[str]:
    from audit.models import EventType

    return list(EventType.objects.order_by("name").values_list("name", flat=True))


@login_required
def error_list(request: HttpRequest) -> HttpResponse:
    access.require(request.user)
    question = _question(request)
    status = [s for s in request.GET.getlist("status") if s]
    bad = [s for s in status if s not in queries.STATUSES]
    sort = request.GET.get("sort") or "count"
    if bad or sort not in queries.ERROR_SORTS:
        raise BadRequest(
            f"status must be among {', '.join(queries.STATUSES)}, and sort one of "
            f"{', '.join(queries.ERROR_SORTS)}."
        )
    page = audit.whole_number(request.GET.get("page") or "1", 10_000) or 1
    rows, more = queries.errors(
        question, status=status, sort=sort, offset=(page - 1) * PAGE, limit=PAGE
    )
    if request.GET.get("download") == "csv":
        return downloads.errors_table(question, status, sort)
    for row in rows:
        row["spark"] = sparkline.svg(row["trend"])
        row["href"] = (
            f"{reverse('analysis:error', args=[row['fingerprint']])}?"
            f"{urlencode(question.query_string())}"
        )
        row["records_href"] = _records_link(question, fingerprint=row["fingerprint"])
    base = question.query_string(sort=sort)
    return render(
        request,
        "analysis/errors.html",
        {
            **_form(question),
            "question": question,
            "rows": rows,
            "status": status,
            "statuses": queries.STATUSES,
            "sort": sort,
            "sorts": SORT_LABELS,
            "page": page,
            "next": f"?{urlencode({**base, 'page': page + 1})}" if more else None,
            "previous": f"?{urlencode({**base, 'page': page - 1})}" if page > 1 else None,
            "query": urlencode(question.query_string()),
            "overview_link": f"{reverse('analysis:overview')}?{urlencode(question.query_string())}",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def error_detail(request: HttpRequest, fingerprint: str) -> HttpResponse:
    access.require(request.user)
    if request.method == "POST":
        status = request.POST.get("status", "")
        if status not in errors_status.SETTABLE:
            raise BadRequest(f"status must be one of {', '.join(errors_status.SETTABLE)}.")
        if not errors_status.change(fingerprint, status):
            raise Http404("No such error group.")
        return redirect(request.get_full_path())
    question = _question(request)
    found = queries.error_detail(fingerprint, question)
    if found is None:
        raise Http404("No such error group.")
    sample = (
        AuditRecord.objects.filter(pk=found["sample"]).select_related("user", "session").first()
    )
    occurrences = list(_occurrences(fingerprint, question)[:PAGE])
    return render(
        request,
        "analysis/error.html",
        {
            "question": question,
            "group": found,
            "sample": sample,
            "users_hit": queries.users_hit(fingerprint, question),
            "occurrences": occurrences,
            "chart": {
                "labels": [row["start"].isoformat() for row in found["series"]],
                "events": [row["events"] for row in found["series"]],
                "bucket": question.bucket,
                "tz": str(question.tz.key),
            },
            "settable": errors_status.SETTABLE,
            "statuses": ErrorStatus,
            "records_link": _records_link(question, fingerprint=fingerprint),
            "list_link": f"{reverse('analysis:errors')}?{urlencode(question.query_string())}",
        },
    )


def _export(params: dict[str, str], format: str) -> str:
    return f"{reverse('audit-api:events-export')}?{urlencode({**params, 'format': format})}"


def _occurrences(fingerprint: str, question: period.Question) -> QuerySet[AuditRecord]:
    return (
        AuditRecord.objects.filter(
            fingerprint=fingerprint, created_at__gte=question.since, created_at__lt=question.until
        )
        .select_related("user", "session", "type")
        .prefetch_related("links")
        .order_by("-id")
    )


@login_required
def records(request: HttpRequest) -> HttpResponse:
    """The records behind a number: the question's filters, newest first, by keyset."""
    access.require(request.user)
    question = _question(request)
    found = AuditRecord.objects.filter(
        created_at__gte=question.since, created_at__lt=question.until
    )
    if question.type_names:
        found = found.filter(type_id__in=question.types)
    if question.levels:
        found = found.filter(level__in=question.levels)
    if question.users is not None:
        found = found.filter(user_id__in=question.users)
    if fingerprint := request.GET.get("fingerprint"):
        found = found.filter(fingerprint=fingerprint[:40])
    before = audit.whole_number(request.GET.get("before") or "")
    if before is not None:
        found = found.filter(id__lt=before)
    page = list(
        found.select_related("user", "session", "type")
        .prefetch_related("links")
        .order_by("-id")[: PAGE + 1]
    )
    following = None
    if len(page) > PAGE:
        page = page[:PAGE]
        params = request.GET.copy()
        params["before"] = str(page[-1].pk)
        following = f"?{params.urlencode()}"
    export = {
        key: value
        for key, value in {
            "since": question.since.isoformat(),
            "until": question.until.isoformat(),
            "type": ",".join(question.type_names),
            "level": ",".join(question.levels),
            "user": ",".join(question.user_names) if not question.groups else "",
        }.items()
        if value
    }
    return render(
        request,
        "analysis/records.html",
        {
            "question": question,
            "records": page,
            "next": following,
            "fingerprint": request.GET.get("fingerprint", ""),
            "export_csv": _export(export, "csv"),
            "export_ndjson": _export(export, "ndjson"),
            "overview_link": f"{reverse('analysis:overview')}?{urlencode(question.query_string())}",
        },
    )
