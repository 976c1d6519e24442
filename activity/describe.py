"""An audit record in plain words: "alice edited the query Sales by region".

People read an activity panel, not a table of type names, so each of the 47 built-in
types gets a sentence of its own, and a custom type (``logger.log(..., 'my_log')``)
reads "alice recorded my_log: HELLO WORLD". The sentence is built as segments, plain
text and mentions of entities, so that the same description renders as text (tests,
titles) and as HTML with the entity names linked (``Description.html``), with every
piece escaped.

Names come from the record itself: a link's ``name`` is the entity's name when the
record was written, and records posted by a client without links usually name their
subject in ``params`` (``{"query": "Sales"}``). Nothing here queries the database
beyond the content-type cache, so describing a page of records costs no query.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.utils.safestring import SafeString, mark_safe

import audit

# Kinds whose records name a person or a group rather than a thing in the catalog.
PEOPLE_KINDS = frozenset({"user", "group"})

# KIND-ACTION types: the action's verb, and whether it reads "VERB the KIND NAME".
ACTIONS: dict[str, str] = {
    "transformations-edited": "edited the transformations of",
    "created": "created",
    "edited": "edited",
    "deleted": "deleted",
    "start": "ran",
    "published": "published",
    "opened": "opened",
}
_KIND_ACTION = re.compile(
    r"^(?P<kind>[a-z][a-z0-9-]*?)-(?P<action>" + "|".join(map(re.escape, ACTIONS)) + r")\Z"
)
# Params keys under which clients name a subject, after the kind itself.
NAME_KEYS = ("name", "title")
KIND_PARAM_ALIASES = {"predictive-model": ("model", "predictive_model", "predictiveModel")}
SHARE_ROLES = frozenset({"shared-with", "with", "target", "audience", "recipient", "grantee"})
QUOTE_LIMIT = 280


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity named in a sentence; ``url`` when it has a page to link to."""

    text: str
    kind: str = ""
    url: str | None = None
    code: bool = False  # shown as code (a type name)


Segment = str | Mention
Params = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Description:
    """A record in words: who, then what (``segments``), and an optional ``detail``
    shown beneath it (a comment's text, a log message).

    ``standalone`` sentences do not start with the actor ("error: TypeError ...").
    """

    actor: str
    segments: tuple[Segment, ...]
    detail: str = ""
    standalone: bool = False

    @property
    def phrase(self) -> str:
        return "".join(s.text if isinstance(s, Mention) else s for s in self.segments)

    @property
    def text(self) -> str:
        return self.phrase if self.standalone else f"{self.actor} {self.phrase}"

    def html(self) -> SafeString:
        """The phrase (without the actor) as HTML: mentions bold, linked when they have
        a page; everything escaped."""
        return mark_safe("".join(_segment_html(s) for s in self.segments))  # each escaped

    def __str__(self) -> str:
        return self.text


Handler = Callable[[str, Sequence["LinkRef"], Params, str, Any], Description]


def _segment_html(segment: Segment) -> str:
    """One segment, escaped: plain text, or a mention in bold, as code, or linked (an
    f-string with ``_escaped``: what ``format_html`` writes, at a fraction of its cost,
    for every sentence of every panel)."""
    if not isinstance(segment, Mention):
        return _escaped(segment)
    text = _escaped(segment.text)
    if segment.code:
        return f'<code class="act-code">{text}</code>'
    if segment.url:
        return f'<a class="act-mention" href="{_escaped(segment.url)}">{text}</a>'
    return f'<strong class="act-mention">{text}</strong>'


def _escaped(text: str) -> str:
    """``conditional_escape(text)``: HTML already marked safe as it is, anything else
    escaped; without the wrapper Django's ``escape`` carries for lazy strings, which
    cost more than the escaping (a segment is a plain or a safe string, never lazy)."""
    safe = getattr(text, "__html__", None)
    if safe is not None:
        return str(safe())
    return html.escape(str(text))


@dataclass(frozen=True, slots=True)
class LinkRef:
    """A record's entity link as the panel shows it: kind, id, role, name and page."""

    kind: str
    object_id: str
    role: str
    name: str
    url: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{kind_label(self.kind)} {self.object_id}"

    @property
    def mention(self) -> Mention:
        return Mention(self.label, self.kind, self.url)


def kind_label(kind: str) -> str:
    """``predictive-model`` reads "predictive model"."""
    return kind.replace("-", " ").replace("_", " ")


def entity_url(kind: str, object_id: str, name: str = "") -> str | None:
    """Where an entity's page is: a user's activity page, the page the app that
    registered the kind names (``audit.register(page=...)``: the catalog's, an error
    group's), or nowhere (groups, kinds without a page)."""
    if kind == "user":
        return f"/activity/users/{quote(name, safe='')}/" if name else None
    entry = None if kind in PEOPLE_KINDS else audit.kind(kind)
    return entry.url(object_id) if entry is not None else None


def record_links(record: Any) -> Iterable[Any]:
    """``record.links.all()``: the links a page read with its records (``prefetch_related``,
    or ``audit.page_of_records``), without a related manager made at every call, which
    cost a panel's entries more than going through the links (two calls a record); a
    panel's ``audit.panel_page`` record holds them as a list."""
    prefetched = getattr(record, "_prefetched_objects_cache", {}).get("links")
    if prefetched is not None:
        return prefetched
    links = record.links
    return links if isinstance(links, list) else links.all()


def link_refs(record: Any) -> list[LinkRef]:
    """The record's links, each once per (kind, id, role), in stored order; reads the
    prefetched ``record.links`` and the content-type cache only."""
    refs: list[LinkRef] = []
    seen: set[tuple[str, str, str]] = set()
    for link in record_links(record):
        entry = audit.kind_for_content_type_id(link.content_type_id)
        kind = entry.kind if entry is not None else f"type-{link.content_type_id}"
        key = (kind, link.object_id, link.role)
        if key in seen:
            continue
        seen.add(key)
        url = entity_url(kind, link.object_id, link.name) if entry is not None else None
        refs.append(LinkRef(kind, link.object_id, link.role, link.name, url))
    return refs


def actor_name(record: Any) -> str:
    """The username, "system" for records no user caused, or a note for a user gone."""
    if record.user_id is None:
        return "system"
    user = record.user
    return user.get_username() if user is not None else f"deleted user #{record.user_id}"


def describe(record: Any) -> str:
    """The record as one plain sentence: ``"carol ran the job Nightly load"``."""
    return describe_parts(record).text


def describe_parts(record: Any, links: Sequence[LinkRef] | None = None) -> Description:
    """The record as a ``Description``; ``links`` saves recomputing ``link_refs``."""
    refs = list(links) if links is not None else link_refs(record)
    type_name = record.type.name
    params = record.params if isinstance(record.params, dict) else {}
    message = (record.message or "").strip()
    actor = actor_name(record)
    handler = _HANDLERS.get(type_name)
    if handler is not None:
        return handler(actor, refs, params, message, record)
    match = _KIND_ACTION.match(type_name)
    if match:
        return _kind_action(actor, match["kind"], match["action"], refs, params, message)
    return _custom(actor, type_name, message)


# --- helpers -------------------------------------------------------------------------


def _param_text(params: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = params.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return ""


def _clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _primary(refs: Sequence[LinkRef], kind: str | None = None) -> LinkRef | None:
    """The entity the record is about: the first unroled link (of ``kind`` if given)."""
    for ref in refs:
        if ref.role == "" and (kind is None or ref.kind == kind):
            return ref
    if kind is not None:
        for ref in refs:
            if ref.kind == kind:
                return ref
    return None


def _subject(kind: str, refs: Sequence[LinkRef], params: dict[str, Any]) -> tuple[Segment, ...]:
    """ "the query Sales by region" (linked) / "the query Sales" (from params) / "a query"."""
    label = kind_label(kind)
    ref = _primary(refs, kind)
    if ref is not None:
        return (f"the {label} ", ref.mention)
    keys = (kind, kind.replace("-", "_"), *KIND_PARAM_ALIASES.get(kind, ()), *NAME_KEYS)
    named = _param_text(params, *keys)
    if named:
        return (f"the {label} ", Mention(named, kind))
    article = "an" if label[:1] in "aeiou" else "a"
    return (f"{article} {label}",)


def _any_subject(refs: Sequence[LinkRef], params: dict[str, Any]) -> tuple[Segment, ...]:
    """The thing a generic record (a share, a comment) is about, whatever its kind."""
    for ref in refs:
        if ref.role == "" and ref.kind not in PEOPLE_KINDS:
            return (f"the {kind_label(ref.kind)} ", ref.mention)
    for kind in ("project", "query", "script", "job", "notebook", "connection", "model"):
        named = _param_text(params, kind)
        if named:
            return (f"the {kind_label(kind)} ", Mention(named, kind))
    entity = _param_text(params, "entity", "name")
    if entity:
        return (Mention(entity),)
    return ()


def _join(mentions: Iterable[Mention]) -> tuple[Segment, ...]:
    """ "a", "a and b", "a, b and c"."""
    items = list(mentions)
    out: list[Segment] = []
    for index, item in enumerate(items):
        if index:
            out.append(" and " if index == len(items) - 1 else ", ")
        out.append(item)
    return tuple(out)


# --- one function per family of types -----------------------------------------------


def _kind_action(
    actor: str,
    kind: str,
    action: str,
    refs: Sequence[LinkRef],
    params: dict[str, Any],
    message: str,
) -> Description:
    verb = ACTIONS[action]
    return Description(actor, (f"{verb} ", *_subject(kind, refs, params)))


def _action_start(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    named = _param_text(params, "action", "name") or message
    if named:
        return Description(actor, ("ran the action ", Mention(_clip(named, 120), "action")))
    return Description(actor, ("ran an action",))


def _shared(silent: bool) -> Handler:
    def handler(
        actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
    ) -> Description:
        subject = _any_subject(refs, params)
        targets = [
            r for r in refs if r.role in SHARE_ROLES or (r.kind in PEOPLE_KINDS and r.role != "")
        ]
        segments: list[Segment] = ["shared "]
        segments += subject or ("an entity",)
        if targets:
            segments += [" with ", *_join(r.mention for r in targets)]
        else:
            whom = params.get("with") or params.get("sharedWith") or params.get("shared_with")
            if isinstance(whom, list) and whom:
                segments += [" with ", *_join(Mention(str(w)) for w in whom[:5])]
            elif isinstance(whom, str) and whom:
                segments += [" with ", Mention(whom)]
        if silent:
            segments.append(" without notifying anyone")
        return Description(actor, tuple(segments))

    return handler


def _table_produced(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    table = _param_text(params, "table", "tableName", "table_name")
    segments: list[Segment] = ["produced "]
    segments += ["the table ", Mention(table, "table")] if table else ["a table"]
    rows = params.get("rows")
    if isinstance(rows, int) and not isinstance(rows, bool):
        segments.append(f" of {rows:,} row{'s' if rows != 1 else ''}")
    source = _any_subject(refs, params)
    if source:
        segments += [" from ", *source]
    return Description(actor, tuple(segments))


def _user_invited(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    invited = [r for r in refs if r.kind == "user"]
    if invited:
        return Description(actor, ("invited ", *_join(r.mention for r in invited)))
    who = _param_text(params, "email", "username", "user", "invitee")
    if who:
        return Description(actor, ("invited ", Mention(who, "user")))
    return Description(actor, ("invited a user",), detail=_clip(message))


def _comment_posted(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    subject = _any_subject(refs, params)
    segments: tuple[Segment, ...] = ("posted a comment",)
    if subject:
        segments += (" on ", *subject)
    text = _param_text(params, "text", "comment", "body")
    return Description(actor, segments, detail=_clip(text or message))


def _named(verb: str, what: str, *keys: str, fallback: str = "") -> Handler:
    """ "VERB the WHAT NAME" with the name from params or the message."""

    def handler(
        actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
    ) -> Description:
        named = _param_text(params, *keys) or message
        if named:
            return Description(actor, (f"{verb} the {what} ", Mention(_clip(named, 120))))
        return Description(actor, (fallback or f"{verb} a {what}",))

    return handler


def _menu_click(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    item = _param_text(params, "item", "menu", "path") or message
    if item:
        return Description(actor, ("clicked ", Mention(_clip(item, 120)), " in the main menu"))
    return Description(actor, ("clicked a main menu item",))


def _viewer_rendered(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    viewer = _param_text(params, "viewer", "type", "name")
    segments: list[Segment] = ["rendered "]
    segments += ["the viewer ", Mention(viewer, "viewer")] if viewer else ["a viewer"]
    subject = _any_subject(refs, params)
    if subject:
        segments += [" in ", *subject]
    return Description(actor, tuple(segments))


def _error(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    text = _clip(message or "(no message)", 200)
    return Description(actor, ("error: ", text), standalone=True)


def _log(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    if message:
        return Description(actor, ("logged: ", _clip(message, 200)))
    return Description(actor, ("logged an event",))


def _package_tested(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    package = _param_text(params, "package", "name")
    segments: list[Segment] = ["tested "]
    segments += ["the package ", Mention(package, "package")] if package else ["a package"]
    outcome = _test_outcome(params)
    if outcome:
        segments.append(f": {outcome}")
    return Description(actor, tuple(segments), detail="" if package else _clip(message))


def _test_outcome(params: dict[str, Any]) -> str:
    passed, failed = params.get("passed"), params.get("failed")
    if isinstance(passed, int) and isinstance(failed, int):
        return f"{passed} passed, {failed} failed"
    if isinstance(params.get("success"), bool):
        return "passed" if params["success"] else "failed"
    return ""


def _custom(actor: str, type_name: str, message: str) -> Description:
    """Any type without a sentence of its own: "alice recorded my_log: HELLO WORLD"."""
    segments: tuple[Segment, ...] = ("recorded ", Mention(type_name, code=True))
    if message:
        segments += (": ", _clip(message, 200))
    return Description(actor, segments)


def _signed(verb: str) -> Handler:
    def handler(
        actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
    ) -> Description:
        where = _param_text(params, "ip")
        return Description(actor, (verb, f" from {where}" if where else ""))

    return handler


def _sign_in_failed(
    actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
) -> Description:
    tried = _param_text(params, "username")
    where = _param_text(params, "ip")
    segments: list[Segment] = ["a sign-in as ", Mention(tried or "(no name)")]
    segments.append(f" failed from {where}" if where else " failed")
    return Description(actor, tuple(segments), standalone=True)


def _token(verb: str) -> Handler:
    def handler(
        actor: str, refs: Sequence[LinkRef], params: Params, message: str, record: Any
    ) -> Description:
        owner = _primary(refs, "user")
        if owner is None:
            return Description(actor, (f"{verb} an API token",))
        return Description(actor, (f"{verb} an API token of ", owner.mention))

    return handler


_HANDLERS: dict[str, Handler] = {
    "user-signed-in": _signed("signed in"),
    "user-signed-out": _signed("signed out"),
    "user-sign-in-failed": _sign_in_failed,
    "token-created": _token("created"),
    "token-deleted": _token("deleted"),
    "action-start": _action_start,
    "entity-shared": _shared(silent=False),
    "entity-shared-silent": _shared(silent=True),
    "table-produced": _table_produced,
    "user-invited": _user_invited,
    "comment-posted": _comment_posted,
    "dialog-ok": _named("confirmed", "dialog", "dialog", "name", fallback="confirmed a dialog"),
    "main-menu-item-click": _menu_click,
    "error": _error,
    "tutorial-completed": _named("completed", "tutorial", "tutorial", "name"),
    "viewer-rendered": _viewer_rendered,
    "log": _log,
    "package-tested": _package_tested,
}
