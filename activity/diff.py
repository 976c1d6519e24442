"""The ``changes`` of an edit, shown compactly: only the fields that changed.

A record's ``changes`` is ``{"field": {"old": x, "new": y}}`` (``audit.tracking``; a
foreign key's are the names of its targets, with ``old_id`` and ``new_id`` beside). In a
panel about 400 pixels wide, a short value reads best inline (``draft -> published``);
a query's SQL or a script body does not, so long or multi-line text becomes a short
line diff (``difflib``) of at most a few lines and "+N more". A single long line
(a description) is compared word by word and shown around what changed. Secrets are
recorded masked and stay masked; JSON values are shown compact. Anything that is not
in the expected shape (a client may post any ``changes``) is shown as best it can be,
never as an error.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

LONG_TEXT = 80  # characters: longer text (or any multi-line text) gets a line diff
INLINE_LIMIT = 60  # characters of an inline value before it is cut with "…"
MAX_LINES = 6  # diff lines shown per field before "+N more"
MAX_FIELDS = 8  # fields shown per record before "+N more fields"
CONTEXT_CHARS = 24  # characters kept either side of a change within one long line
MASK_DISPLAY = "••••••"
EMPTY = "—"
# What a masked value may look like in stored changes: the tracker's mask, older or
# client-side conventions.
_KNOWN_MASKS = frozenset({"••••••", "********", "******", "***", "<masked>", "[masked]"})


def mask_strings() -> frozenset[str]:
    """The strings that stand for a masked secret, the change tracker's own included."""
    import audit

    return _KNOWN_MASKS | {audit.MASK}


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a text diff: ``op`` is "+", "-", " " (context) or "…" (a gap)."""

    op: Literal["+", "-", " ", "…"]
    text: str

    @property
    def css(self) -> str:
        """The line's class suffix in templates: add, del, ctx or gap."""
        return {"+": "add", "-": "del", " ": "ctx"}.get(self.op, "gap")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """How one field changed. ``style`` says how to show it:

    * ``inline``: ``old -> new`` (either may be ``EMPTY`` when the field was unset);
    * ``lines``: a line diff in ``lines``, ``more`` lines left out;
    * ``masked``: a secret changed; its values were never recorded;
    * ``value``: a value with no old/new pair (a client's free-form changes).
    """

    field: str
    style: Literal["inline", "lines", "masked", "value"]
    old: str = ""
    new: str = ""
    lines: tuple[DiffLine, ...] = ()
    more: int = 0

    @property
    def label(self) -> str:
        """The field in words; a stored secret's column is named for what it holds
        ("secret_key_encrypted" reads "secret key")."""
        return self.field.removesuffix("_encrypted").replace("_", " ")

    @property
    def text(self) -> str:
        """The change as plain text, for titles and tests."""
        if self.style == "masked":
            return f"{self.label}: {self.old or '(none)'} -> {self.new or '(none)'} (secret)"
        if self.style == "value":
            return f"{self.label}: {self.new}"
        if self.style == "inline":
            return f"{self.label}: {self.old} -> {self.new}"
        body = "\n".join(f"{line.op} {line.text}" for line in self.lines)
        more = f"\n+{self.more} more" if self.more else ""
        return f"{self.label}:\n{body}{more}"


@dataclass(frozen=True, slots=True)
class ChangeSet:
    fields: tuple[FieldChange, ...] = ()
    more: int = 0  # fields left out

    def __bool__(self) -> bool:
        return bool(self.fields)

    @property
    def names(self) -> list[str]:
        return [change.field for change in self.fields]


def render_changes(
    changes: Any,
    *,
    max_fields: int = MAX_FIELDS,
    max_lines: int = MAX_LINES,
) -> ChangeSet:
    """The changed fields of ``changes``, in stored order, at most ``max_fields``."""
    if not isinstance(changes, dict) or not changes:
        return ChangeSet()
    masks = mask_strings()
    rendered: list[FieldChange] = []
    for name, change in changes.items():
        item = _field_change(str(name), change, masks, max_lines)
        if item is not None:
            rendered.append(item)
    return ChangeSet(tuple(rendered[:max_fields]), max(0, len(rendered) - max_fields))


def _field_change(
    name: str, change: Any, masks: frozenset[str], max_lines: int
) -> FieldChange | None:
    if isinstance(change, dict) and change.get("masked") is True:
        return FieldChange(name, "masked", old=MASK_DISPLAY, new=MASK_DISPLAY)
    if not isinstance(change, dict) or not ({"old", "new"} & set(change)):
        return FieldChange(name, "value", new=_inline(change))
    old, new = change.get("old"), change.get("new")
    if _is_mask(old, masks) or _is_mask(new, masks):
        # An empty side is no secret: "(none) -> ••••••" says a key was set.
        shown_old = MASK_DISPLAY if old not in (None, "") else ""
        shown_new = MASK_DISPLAY if new not in (None, "") else ""
        return FieldChange(name, "masked", old=shown_old, new=shown_new)
    if old == new:
        old_id, new_id = change.get("old_id"), change.get("new_id")
        if old_id == new_id:
            return None  # recorded but unchanged: not worth a line
        # A foreign key moved between two targets of the same name: tell them apart.
        old, new = f"{_inline(old)} #{_inline(old_id)}", f"{_inline(new)} #{_inline(new_id)}"
    if _is_long(old) or _is_long(new):
        lines, more = text_diff(_as_text(old), _as_text(new), max_lines=max_lines)
        return FieldChange(name, "lines", lines=lines, more=more)
    return FieldChange(name, "inline", old=_inline(old), new=_inline(new))


def _is_mask(value: Any, masks: frozenset[str]) -> bool:
    return isinstance(value, str) and value in masks


def _is_long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else compact_json(value)


def compact_json(value: Any) -> str:
    """JSON without spaces after separators: ``{"a":1,"b":[1,2]}``."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # pragma: no cover - stored changes are JSON
        return str(value)


def _inline(value: Any, limit: int = INLINE_LIMIT) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else compact_json(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_diff(
    old: str, new: str, *, max_lines: int = MAX_LINES
) -> tuple[tuple[DiffLine, ...], int]:
    """A short diff of two texts: changed lines with one line of context, gaps marked,
    at most ``max_lines``, and how many changed lines were left out.

    Two single-line texts (a long description) are compared word by word instead, each
    change shown with a little context, since a line diff would just print both texts.
    """
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if len(old_lines) <= 1 and len(new_lines) <= 1:
        produced = _word_diff(old, new)
    else:
        produced = _line_diff(old_lines, new_lines)
    shown = produced[:max_lines]
    more = sum(1 for line in produced[max_lines:] if line.op in "+-")
    while shown and shown[-1].op in " …":  # do not end on context or a gap
        shown.pop()
    return tuple(shown), more


def _line_diff(old_lines: list[str], new_lines: list[str]) -> list[DiffLine]:
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for group_index, group in enumerate(matcher.get_grouped_opcodes(1)):
        if group_index:
            lines.append(DiffLine("…", ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine(" ", _cut(text)) for text in old_lines[i1:i2]]
                continue
            lines += [DiffLine("-", _cut(text)) for text in old_lines[i1:i2]]
            lines += [DiffLine("+", _cut(text)) for text in new_lines[j1:j2]]
    return lines


_TOKENS = re.compile(r"\s+|[^\s]+")


def _word_diff(old: str, new: str) -> list[DiffLine]:
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before = "".join(a[:i1])[-CONTEXT_CHARS:]
        after_old, after_new = "".join(a[i2:])[:CONTEXT_CHARS], "".join(b[j2:])[:CONTEXT_CHARS]
        lead = "…" if i1 and len("".join(a[:i1])) > CONTEXT_CHARS else ""
        if i2 > i1:
            tail = "…" if len("".join(a[i2:])) > CONTEXT_CHARS else ""
            lines.append(DiffLine("-", _cut(f"{lead}{before}{''.join(a[i1:i2])}{after_old}{tail}")))
        if j2 > j1:
            tail = "…" if len("".join(b[j2:])) > CONTEXT_CHARS else ""
            lines.append(DiffLine("+", _cut(f"{lead}{before}{''.join(b[j1:j2])}{after_new}{tail}")))
    return lines


def _cut(text: str, limit: int = 200) -> str:
    text = text.replace("\t", "    ").rstrip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
