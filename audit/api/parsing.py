"""Reading an ingest body: size first, then JSON, then the batch limit.

Each refusal names the limit it hit, so a client developer can fix the call without
reading our source. The body is decoded with msgspec, several times faster than the
standard library on large batches.

Nesting is bounded before anything recursive sees it. msgspec decodes (and the
validation encodes) with the interpreter's recursion limit, so an event nested some
hundreds of levels deep would end in a ``RecursionError`` and a 500. An event deeper
than ``max_event_depth()`` can never be valid (its ``params`` would nest deeper than
``AUDIT_MAX_PARAMS_DEPTH``; every other field is a scalar or a shallow list), so its
deeper levels are cut by a scanner that does not recurse: the event keeps its shape
down to that depth, validation rejects it by index for its depth, and the good events
sent with it are stored. A body in which every event is that deep is refused whole.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
from django.http import HttpRequest
from django.http.request import RawPostDataException
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

from .. import config, storable
from ..validation import Unreadable

_decoder = msgspec.json.Decoder()

# Events are cut at this depth at the least (the event object is level 1), well above
# any valid event and well below the recursion limit of msgspec and the validation.
MIN_EVENT_DEPTH = 64
# ... and never read deeper than this, whatever AUDIT_MAX_PARAMS_DEPTH says.
MAX_EVENT_DEPTH = 256


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def max_event_depth() -> int:
    """The deepest an event is read as sent: one level above what validation allows
    (``params`` sits at level 2 of its event), and at least ``MIN_EVENT_DEPTH``."""
    return min(max(config.max_params_depth() + 1, MIN_EVENT_DEPTH), MAX_EVENT_DEPTH)


def read_events(request: HttpRequest) -> list[Any]:
    """The posted events as decoded JSON values (one object becomes a batch of one)."""
    limit = config.max_body_bytes()
    declared = (request.META.get("CONTENT_LENGTH") or "0").lstrip("0") or "0"
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise PayloadTooLarge(
            f"The body is {declared} bytes; the limit is {limit} (AUDIT_MAX_BODY_BYTES)."
        )
    try:
        body = request.body
    except RawPostDataException:  # pragma: no cover - the view never reads POST first
        raise ParseError("The body was already read.") from None
    if len(body) > limit:
        raise PayloadTooLarge(
            f"The body is {len(body)} bytes; the limit is {limit} (AUDIT_MAX_BODY_BYTES)."
        )
    if not body.strip():
        raise ParseError("The body is empty: send one event object or a JSON array of them.")
    data = decode_body(body)
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise ParseError("The body must be one event object or a JSON array of them.")
    if len(data) > (most := config.max_batch()):
        raise PayloadTooLarge(
            f"The batch has {len(data)} events; the limit is {most} (AUDIT_MAX_BATCH)."
        )
    if not data:
        raise ParseError("The batch is empty.")
    return data


def decode_body(body: bytes) -> Any:
    """The body as JSON, each event nested at most ``max_event_depth()`` levels; a
    ``ParseError`` (400) that says what is wrong otherwise."""
    depth = max_event_depth()
    batch = body.lstrip()[:1] == b"["
    body_depth = depth + 1 if batch else depth  # a batch's events are its level 2
    try:
        data = _decoder.decode(body)
    except UnicodeDecodeError:
        raise ParseError(f"The body is not valid JSON/UTF-8: {_utf8_problem(body)}.") from None
    except msgspec.DecodeError as exc:
        if not batch:
            raise ParseError(f"The body is not valid JSON/UTF-8: {exc}.") from None
        # A value msgspec refuses costs only its event; a batch too deep for Python's
        # decoder, or not JSON at all, goes on to be cut (which says what is wrong).
        data = _event_by_event(body)
        if data is not None and not _deeper_than([data], body_depth):
            return data
    except RecursionError:
        data = None
    else:
        if not _deeper_than([data], body_depth):
            return data
    # Deeper than an event may be: cut it without recursing, then decode what is left.
    cut, deep = _cut_deeper_than(body, body_depth)
    try:
        data = _decoder.decode(cut)
    except UnicodeDecodeError:  # past the depth at which the first decode gave up
        raise ParseError(f"The body is not valid JSON/UTF-8: {_utf8_problem(body)}.") from None
    except msgspec.DecodeError as exc:
        data = _event_by_event(cut) if batch else None
        if data is None:
            raise ParseError(f"The body is not valid JSON/UTF-8: {exc}.") from None
    events = len(data) if batch and isinstance(data, list) else 1
    if len(deep) >= events or depth < config.max_params_depth() + 1:
        raise ParseError(
            f"The body nests deeper than {body_depth} levels, so no event in it can be "
            f"stored: an event's params may nest at most {config.max_params_depth()} "
            "levels (AUDIT_MAX_PARAMS_DEPTH)."
        )
    return data


# A number msgspec cannot read as a number Python holds: a float past 1.8e308, an
# integer of more digits than Python converts (4,300), NaN and the infinities.
_OUT_OF_RANGE = object()
_NOT_STORABLE = {
    "number": "holds a number out of range (a float beyond 1.8e308, an integer of more "
    "than 4,300 digits, NaN or an infinity)",
    "surrogate": "holds a lone surrogate (\\ud800-\\udfff not in a pair), which is not text",
}


def _float(text: str) -> Any:
    number = float(text)
    return number if math.isfinite(number) else _OUT_OF_RANGE


def _int(text: str) -> Any:
    return int(text) if len(text.lstrip("-")) <= 4300 else _OUT_OF_RANGE


_lenient = json.JSONDecoder(
    parse_float=_float, parse_int=_int, parse_constant=lambda _name: _OUT_OF_RANGE
)


def _event_by_event(body: bytes) -> list[Any] | None:
    """A batch msgspec refused whole, read with Python's decoder, which reads what
    msgspec refuses in a value (a number out of range, a lone surrogate): each event
    holding such a value becomes an ``Unreadable`` that validation refuses by index,
    and the good events sent with it are stored. None when the body is not JSON at
    all: the caller then refuses it whole, with msgspec's message."""
    try:
        data = _lenient.decode(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(data, list):
        return None
    return [_readable(event) for event in data]


def _readable(event: Any) -> Any:
    """``event``, or an ``Unreadable`` naming its first field that holds what cannot be
    stored. Walks without recursing."""
    if not isinstance(event, dict):
        return event
    for field, value in event.items():
        pending = [field, value]
        while pending:
            item = pending.pop()
            if item is _OUT_OF_RANGE:
                return Unreadable(str(field), _NOT_STORABLE["number"])
            if isinstance(item, str):
                if storable.has_surrogate(item):
                    return Unreadable(str(field), _NOT_STORABLE["surrogate"])
            elif isinstance(item, dict):
                pending += [*item.keys(), *item.values()]
            elif isinstance(item, list):
                pending += item
    return event


def _utf8_problem(body: bytes) -> str:
    """Which byte of ``body`` is not UTF-8 (msgspec's error counts within a string)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{body[exc.start]:02x} at position {exc.start} is not UTF-8"
    return "it is not UTF-8"  # pragma: no cover - msgspec and Python agree on UTF-8


def _deeper_than(level: list[Any], limit: int) -> bool:
    """Whether any container in ``level`` nests more than ``limit`` levels, level by
    level (no recursion), stopping at the first level past ``limit``."""
    if type(level[0]) is not dict and type(level[0]) is not list:
        return False
    for _ in range(limit):
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            for child in children:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        if not below:
            return False
        level = below
    return True


# The next run of opening or closing brackets, or a comma, with the strings (escapes
# included), numbers, literals and blanks before it skipped inside the regex engine.
_STRUCTURE = re.compile(rb'(?:"(?:[^"\\]|\\.)*"|[^"\[\]{},])*+([\[{]+|[\]}]+|,)', re.DOTALL)
_CLOSING = bytes.maketrans(b"[{", b"]}")


def _cut_deeper_than(body: bytes, limit: int) -> tuple[bytes, set[int]]:
    """``body`` with every container that opens at level ``limit + 1`` left empty
    (``[]`` or ``{}``), and the indexes of the top-level array's elements that lost
    something (for a body that is one object, any index means the object).

    What is cut is only scanned: strings are skipped whole and brackets are matched by
    kind, so a bracket inside a string never counts. Runs of brackets are handled as
    slices, so even a body of millions of them is scanned in about a second.
    """
    pieces: list[bytes] = []
    opened = bytearray()  # the brackets open at this point, outermost first
    kept = 0  # body[kept:] is not in pieces yet
    element = 0  # index of the top-level array's element being read
    deep: set[int] = set()
    cutting = False
    for match in _STRUCTURE.finditer(body):
        run, start = match.group(1), match.start(1)
        if run == b",":
            if len(opened) == 1:
                element += 1
        elif run[0] in b"[{":
            before = len(opened)
            opened += run
            if not cutting and len(opened) > limit:
                cut_at = start + limit - before  # the bracket that opens level limit + 1
                pieces.append(body[kept : cut_at + 1])
                deep.add(element)
                cutting = True
        else:
            before = len(opened)
            wrong = _first_mismatch(run, opened)
            if wrong is not None:
                raise ParseError(
                    "The body is not valid JSON: unexpected "
                    f"{chr(run[wrong])!r} at byte {start + wrong}."
                )
            del opened[before - len(run) :]
            if cutting and len(opened) <= limit:
                closing = start + before - limit - 1  # the bracket that closes level limit + 1
                pieces.append(body[closing : closing + 1])
                kept = closing + 1
                cutting = False
    if opened:
        raise ParseError(f"The body is not valid JSON: {len(opened)} brackets are never closed.")
    pieces.append(body[kept:])
    return b"".join(pieces), deep


def _first_mismatch(closers: bytes, opened: bytearray) -> int | None:
    """The index in ``closers`` of the first bracket that does not close what is open."""
    expected = bytes(opened[max(len(opened) - len(closers), 0) :][::-1]).translate(_CLOSING)
    if closers == expected:
        return None
    return next(
        (i for i, (got, want) in enumerate(zip(closers, expected, strict=False)) if got != want),
        len(expected),
    )


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser for every other endpoint (``REST_FRAMEWORK``'s parsers). Its
    decoder recurses: a body nested some thousand levels deep raised ``RecursionError``,
    a 500. Here it is a 400 that says so."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("The body nests too deeply to be read as JSON.") from None
