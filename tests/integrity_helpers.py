"""Running ``audit_verify`` as an operator would, for the integrity tests."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command


def run_verify(*args: str) -> tuple[int, str]:
    """``manage.py audit_verify ARGS``: its exit status and what it printed."""
    out = StringIO()
    try:
        call_command("audit_verify", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()
