"""Small pieces of the analysis pages: a total with its change, links to the records
behind a number, a link to an entity's page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template import Context
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

import audit

register = template.Library()


@register.filter
def in_zone(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None


@register.simple_tag
def kpi(name: str, value: int, change: float | None, href: str) -> SafeString:
    if change is None:
        trend = format_html('<span class="kpi-change muted">{}</span>', "no earlier figure")
    else:
        arrow = "up" if change > 0 else "down" if change < 0 else "flat"
        trend = format_html(
            '<span class="kpi-change kpi-{}" title="against the previous period of the same '
            'length">{}{} %</span>',
            arrow,
            "+" if change > 0 else "",
            change,
        )
    return format_html(
        '<a class="kpi card" href="{}"><span class="kpi-name">{}</span>'
        '<span class="kpi-value">{}</span>{}</a>',
        href,
        name,
        intcomma(value),
        trend,
    )


@register.simple_tag(takes_context=True)
def records_href(context: Context, question: Any, **changes: Any) -> str:
    """The records behind a figure: the question's parameters with ``changes``. The
    page's path is reversed once per render (the overview links 60 figures)."""
    base = context.render_context.get("records_path")
    if base is None:
        base = context.render_context["records_path"] = reverse("analysis:records")
    return f"{base}?{urlencode(question.query_string(**changes))}"


@register.simple_tag
def entity_link(row: dict[str, Any]) -> SafeString:
    """The entity's own page: a catalog page, a user's activity; else its name."""
    kind, object_id, name = row["kind"], row["id"], row["name"]
    href = None
    if kind == "user":
        try:
            href = reverse("activity:user", args=[name])
        except NoReverseMatch:
            href = None
    elif (entry := audit.kind(kind)) is not None:
        href = entry.url(object_id)
    if href is None:
        return format_html('<span class="entity-kind">{}</span> {}', kind, name)
    return format_html('<span class="entity-kind">{}</span> <a href="{}">{}</a>', kind, href, name)
