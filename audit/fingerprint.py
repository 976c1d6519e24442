"""Grouping errors: a fingerprint of a stack trace with the noise taken out.

Two occurrences of the same error should group even when line and column numbers,
memory addresses, cache-busting query strings, hosts or ids differ (after a deploy or
in another tab), so the trace is reduced to its frames' function names and file names
before hashing, with the error's class (``TypeError``, ``psycopg.OperationalError``):
the same frames failing with another error are another error. The message itself is
left out, since it carries the values of the moment. Works for JavaScript (V8 and
Firefox) and Python traces.
"""

from __future__ import annotations

import functools
import hashlib
import re

_MAX_FRAMES = 12
_PY_FRAME = re.compile(r'File "(?P<file>[^"]+)", line \d+, in (?P<func>\S+)')
_JS_V8_FRAME = re.compile(r"^\s*at\s+(?:(?P<func>[^(]+?)\s+\()?(?P<loc>[^)\s]+?)\)?\s*$")
_JS_FF_FRAME = re.compile(r"^(?P<func>[^@\s]*)@(?P<loc>\S+)$")
_LINE_COL = re.compile(r"(:\d+)+$")
# "TypeError: ..." (JavaScript's first line, Python's last): the error's class.
_CLASS = re.compile(r"^(?:Uncaught )?([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?::|$)")
_NOISE = [
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<uuid>",
    ),
    (re.compile(r"\d+"), "<n>"),
]


def _file(location: str) -> str:
    location = _LINE_COL.sub("", location.split("?")[0].split("#")[0])
    return location.rsplit("/", 1)[-1]


def frames(stack_trace: str) -> list[str]:
    """The normalized frames (``function@file``) of a trace, innermost calls kept."""
    out: list[str] = []
    for line in stack_trace.splitlines():
        line = line.strip()
        if not line:
            continue
        if match := _PY_FRAME.search(line):
            out.append(f"{match['func']}@{_file(match['file'])}")
        elif match := _JS_V8_FRAME.match(line):
            out.append(f"{(match['func'] or '<anonymous>').strip()}@{_file(match['loc'])}")
        elif match := _JS_FF_FRAME.match(line):
            out.append(f"{match['func'] or '<anonymous>'}@{_file(match['loc'])}")
    return out[-_MAX_FRAMES:] if _PY_FRAME.search(stack_trace) else out[:_MAX_FRAMES]


def error_class(stack_trace: str) -> str:
    """The class of the error a trace reports, or "" (Python's is on its last line)."""
    lines = [line.strip() for line in stack_trace.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if _PY_FRAME.search(stack_trace) else lines[0]
    match = _CLASS.match(line)
    return match.group(1) if match else ""


def normalize(stack_trace: str) -> str:
    found = frames(stack_trace)
    if found:
        return "\n".join([error_class(stack_trace), *found])
    # Not a trace we can parse: fall back to the text with numbers and ids removed.
    text = " ".join(stack_trace.split())
    for pattern, replacement in _NOISE:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=2048)
def _digest(stack_trace: str) -> str:
    return hashlib.sha1(normalize(stack_trace).encode(), usedforsecurity=False).hexdigest()


def fingerprint(stack_trace: str | None) -> str:
    """A 40-character hex digest, or "" when there is no trace."""
    if not stack_trace or not stack_trace.strip():
        return ""
    return _digest(stack_trace)  # the same error tends to arrive many times over
