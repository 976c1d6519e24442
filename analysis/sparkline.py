"""A trend as a small inline SVG: drawn on the server, so a list of a hundred error groups
needs no chart library and no script to show its trends."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 120, 28


def svg(values: list[int]) -> SafeString:
    if not values or not any(values):
        return format_html(
            '<svg class="spark" width="{}" height="{}" role="img" aria-label="no occurrences">'
            '<line x1="0" y1="{}" x2="{}" y2="{}"/></svg>',
            WIDTH, HEIGHT, HEIGHT - 2, WIDTH, HEIGHT - 2,
        )  # fmt: skip
    top = max(values)
    step = WIDTH / max(len(values) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{HEIGHT - 2 - (value / top) * (HEIGHT - 4):.1f}"
        for index, value in enumerate(values)
    )
    label = f"{sum(values)} occurrences, at most {top} in a bucket"
    return format_html(
        '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}"><polyline points="{}"/></svg>',
        WIDTH, HEIGHT, WIDTH, HEIGHT, label, points,
    )  # fmt: skip
