"""What PostgreSQL cannot store in text: NUL and lone surrogates, found and replaced in
one place for the paths that refuse them (a client's) and those that replace them
(server code's).

NUL in JSON text is found by what it means rather than by its six characters.
PostgreSQL's ``json`` and ``jsonb`` cannot hold U+0000, so the encoded params are
checked for it: refused from a client, replaced by U+FFFD from server code. An encoder
writes a NUL as the escape ``\\u0000``, but the same six characters also appear when a
value holds the text backslash-``u0000`` (a Windows path, a regular expression): the
backslash is escaped, so the text reads ``\\\\u0000``. A plain search for the six
characters refused that value from a client and rewrote it from the server. An escape is
real when an odd number of backslashes comes before its ``u0000``.
"""

from __future__ import annotations

import re

# Not after a backslash, any pairs of escaped backslashes, then the NUL's escape.
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def has_nul(json_text: str) -> bool:
    """Whether encoded JSON holds a NUL character in a string or a key."""
    # The substring test is C-fast and nearly always false: the pattern runs only then.
    return "\\u0000" in json_text and _NUL_ESCAPE.search(json_text) is not None


def replace_nul(json_text: str) -> str:
    """Encoded JSON with every NUL character written as U+FFFD, and nothing else changed."""
    if "\\u0000" not in json_text:
        return json_text
    return _NUL_ESCAPE.sub(r"\1\\ufffd", json_text)


# Code points UTF-8 cannot encode alone: Python holds them (``surrogateescape``, a
# ``"\\ud800"`` in JSON it parsed), PostgreSQL's text and JSON refuse them.
_SURROGATES = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (ASCII text, the usual, is not searched)."""
    return not text.isascii() and _SURROGATES.search(text) is not None


def storable_text(text: str) -> str:
    """``text`` with what PostgreSQL cannot store in text, NUL and lone surrogates,
    replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return text
