"""The panel's entries as HTML, written in Python.

An entry is the panel's densest markup (a sentence with links, the diff of an edit,
chips for the other entities, a line of meta data), and a page has 25 of them: through
Django's template engine they were 60 % of an activity panel's time (about 1,400
variable lookups and 450 loop steps a page, each resolved through the context at run
time). Written here, a page's entries cost about a third of that, and the hot entity's
whole panel 9-10 ms in process instead of 19-22 (``bench/activity_http.py``). Every
value goes through ``_escape``; names become links only for a reader who may open them
(``activity.links``).

The markup is the one the panel's style sheet and script expect (``act-*`` classes,
``data-record`` and ``data-type`` on each entry); white space is kept where the browser
shows it (between the inline items of the meta line).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.defaultfilters import linebreaksbr
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from . import links
from .diff import FieldChange
from .selectors import Entry

_DOT = '<span aria-hidden="true">·</span>'
_SECRET = "Secret: its value is never recorded"
_NONE = '<em class="act-none">none</em>'
_ARROW = '<span class="act-arrow" aria-label="changed to">→</span>'
_FROM_CLIENT = (
    '<span class="act-source" title="Posted by a client (a browser or a script), not recorded '
    'by the server when it happened">reported by client</span>'
)


def _escape(value: Any) -> str:
    """``django.utils.html.escape``'s text (the standard library's ``html.escape`` of
    ``str(value)``) without its wrapper for lazy strings, which took four fifths of its
    time: a page's entries escape about 400 values. The page is marked safe once, whole
    (``entries_html``)."""
    return html.escape(str(value))


def entries_html(
    entries: Iterable[Entry], *, viewer: Any, timeline: bool = False, session: Any = None
) -> SafeString:
    """Each entry as an ``<li>`` of the panel's list, for ``viewer``; on a session's
    timeline (``timeline``), with each entry's time since ``session`` started."""
    reader = _Reader(viewer)
    shown = (_entry(entry, reader=reader, timeline=timeline, session=session) for entry in entries)
    return mark_safe("".join(shown))  # every value in it went through _escape


class _Reader:
    """The reader of one page and the links written for them so far: a page's entries
    name few people, sessions and error groups, and each link costs a permission check
    and a reverse, so each is written once a page."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self._written: dict[tuple[Any, ...], str] = {}
        self._now = timezone.now()
        self._ages: dict[tuple[str, int], str] = {}
        # The zone times are shown in, read once a page: ``timezone.localtime`` looks
        # it up in a context-local store at every call, twice an entry.
        self.zone = timezone.get_current_timezone() if settings.USE_TZ else None

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the current time zone, as templates show times."""
        if self.zone is not None and timezone.is_aware(moment):
            return moment.astimezone(self.zone)
        return moment

    def age(self, moment: datetime) -> str:
        """``naturaltime(moment)``, escaped, worked out once per text the page shows:
        with Django's translations behind it, it was a third of an entry's time, and a
        page's entries are mostly the same few hours old (``_age_key``)."""
        in_utc = timezone.is_aware(moment) and not moment.utcoffset()  # as records are read
        key = _age_key(moment, self._now) if in_utc else None
        if key is None:
            return _escape(naturaltime(moment))
        found = self._ages.get(key)
        if found is None:
            found = self._ages[key] = _escape(naturaltime(moment))
        return found

    def person(self, person: Any, css: str = "") -> str:
        key = ("person", person.pk, css)
        if key not in self._written:
            self._written[key] = conditional_escape(links.user_link(self.viewer, person, css=css))
        return self._written[key]

    def session(self, session: Any) -> str:
        key = ("session", session.pk if session is not None else None)
        if key not in self._written:
            self._written[key] = links.session_link(self.viewer, session, css="act-session")
        return self._written[key]

    def error_group(self, record: Any) -> str:
        key = ("group", getattr(record, "fingerprint", ""))
        if key not in self._written:
            self._written[key] = links.error_group_link(self.viewer, record, css="act-error-group")
        return self._written[key]


_HOUR = 3600
_FOUR_WEEKS = 28 * 24 * _HOUR


def _age_key(moment: datetime, now: datetime) -> tuple[Any, ...] | None:
    """What alone decides ``naturaltime``'s text for ``moment`` at ``now`` (both in
    UTC), or None where more does (under a minute it names seconds; a future time).

    From a minute to an hour it names minutes; from an hour to four weeks, hours, or
    days and hours, or weeks and days, all from the whole hours. From four weeks on it
    names years and months (counted on the calendar), then the weeks or days left from
    the day they end on: the date decides those, and whether the time of day is past
    ``now``'s, compared with and without the fraction of a second (``timesince``
    compares the one to count months and the other to count what is left)."""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return None
    if seconds < _HOUR:
        return ("minutes", int(seconds // 60))
    if seconds < _FOUR_WEEKS:
        return ("hours", int(seconds // _HOUR))
    clock, wall = moment.time(), now.time()
    return ("calendar", moment.date(), clock > wall, clock.replace(microsecond=0) > wall)


def _iso(local: datetime) -> str:
    """The template filter ``date:'c'`` of a time already in the current time zone
    (``_Reader.local``): ISO 8601."""
    return _escape(local.isoformat())


def _stamp(local: datetime) -> str:
    """The template filter ``date:'Y-m-d H:i:s T'`` of a time already in the current
    time zone: the zone's name left out, as ``date`` leaves it out, for a wall time that
    a change of clocks makes ambiguous or skips (its offset differs between the two
    folds)."""
    zone = local.tzinfo or timezone.get_default_timezone()  # as ``date`` takes a naive time
    name = ""
    if zone.utcoffset(local.replace(fold=not local.fold)) == zone.utcoffset(local):
        name = zone.tzname(local) or ""
    return _escape(f"{_seconds(local)} {name}")


def _seconds(moment: datetime) -> str:
    """``date:'Y-m-d H:i:s'``."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def initial(name: str) -> str:
    """The first letter of a name, for an avatar."""
    return (name or "?")[:1].upper()


def offset_from(moment: datetime | None, start: datetime | None) -> str:
    """``moment`` relative to ``start``, for a session timeline: "+4 s", "+2 min 05 s",
    "+1 h 02 min"."""
    if moment is None or start is None:
        return ""
    seconds = max(0, int((moment - start).total_seconds()))
    if seconds < 60:
        return f"+{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"+{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"+{hours} h {minutes:02d} min"
    return f"+{hours // 24} d {hours % 24} h"


def _entry(entry: Entry, *, reader: _Reader, timeline: bool, session: Any) -> str:
    record = entry.record
    description = entry.description
    level = entry.level
    system = record.user_id is None
    if level == "error":
        avatar = "!"
    elif system:
        avatar = "⚙"
    else:
        avatar = _escape(initial(description.actor))
    parts = [
        f'\n<li class="act-entry act-level-{_escape(level)}" data-record="{record.pk}" '
        f'data-type="{_escape(record.type.name)}">\n  <span class="act-avatar'
        f'{" act-avatar-system" if system else ""}" aria-hidden="true">{avatar}</span>\n'
        f'  <div class="act-main">\n    <p class="act-what">{_what(entry, reader)}</p>\n    '
    ]
    if description.detail:
        detail = linebreaksbr(description.detail, autoescape=True)
        parts.append(f'<p class="act-detail">{detail}</p>')
    parts.append("\n    ")
    if entry.changes:
        parts.append(_diff(entry))
    parts.append("\n    ")
    if entry.links:
        parts.append(_chips(entry))
    parts.append(_meta(entry, reader=reader, timeline=timeline, session=session))
    parts.append("\n  </div>\n</li>\n\n")
    return "".join(parts)


def _what(entry: Entry, reader: _Reader) -> str:
    """The sentence: who did what, and "N times" for a collapsed run."""
    record = entry.record
    description = entry.description
    if description.standalone:
        what = f'<span class="act-error-label">{description.html()}</span>'
    else:
        who = (
            reader.person(record.user, css="act-who")
            if record.user
            else f'<span class="act-who">{_escape(description.actor)}</span>'
        )
        what = f"{who} {description.html()}"
    if entry.collapsed:
        first, last = entry.span
        what += (
            f' <span class="act-times" title="{entry.count} times between '
            f'{_seconds(reader.local(first))} and {_stamp(reader.local(last))}">'
            f"{entry.count} times</span>"
        )
    return what


def _diff(entry: Entry) -> str:
    parts = ['\n    <div class="act-diff" aria-label="Changes">\n      ']
    for change in entry.changes.fields:
        parts.append(
            f'\n      <div class="act-change act-change-{_escape(change.style)}">\n'
            f'        <span class="act-field">{_escape(change.label)}</span>\n        '
            f"\n        {_change(change)}\n        \n      </div>\n      "
        )
    parts.append("\n      ")
    more = entry.changes.more
    if more:
        plural = "" if more == 1 else "s"
        parts.append(f'<p class="act-more-lines">+{more} more field{plural}</p>')
    parts.append("\n    </div>\n    ")
    return "".join(parts)


def _change(change: FieldChange) -> str:
    if change.style == "lines":
        lines = "".join(
            f'<span class="act-line act-line-{line.css}">'
            + (
                "⋯"
                if line.css == "gap"
                else f'<span class="act-op" aria-hidden="true">{_escape(line.op)}</span>'
                f"{_escape(line.text)}"
            )
            + "</span>"
            for line in change.lines
        )
        more = f'<span class="act-more-lines">+{change.more} more</span>' if change.more else ""
        return f'<pre class="act-lines">{lines}</pre>{more}'
    if change.style == "masked":
        old = _masked(change.old)
        new = _masked(change.new)
        return f'<span class="act-values">{old}{_ARROW}{new}</span>'
    if change.style == "value":
        return f'<span class="act-values"><ins class="act-new">{_escape(change.new)}</ins></span>'
    old, new = _escape(change.old), _escape(change.new)
    return (
        f'<span class="act-values"><del class="act-old" title="{old}">{old}</del>{_ARROW}'
        f'<ins class="act-new" title="{new}">{new}</ins></span>'
    )


def _masked(value: str) -> str:
    if not value:
        return _NONE
    return f'<span class="act-masked" title="{_SECRET}">{_escape(value)}</span>'


def _chips(entry: Entry) -> str:
    """The other entities the record touches, each a chip linked to its page."""
    chips = []
    for ref in entry.links:
        role = f" ({_escape(ref.role)})" if ref.role else ""
        title = f"{_escape(ref.kind)} {_escape(ref.object_id)}{role}"
        opening = (
            f'<a class="act-chip" href="{_escape(ref.url)}"'
            if ref.url
            else '<span class="act-chip"'
        )
        shown_role = (
            f'<span class="act-chip-role">{_escape(ref.role)}</span>'
            if ref.role and ref.role != ref.kind
            else ""
        )
        chips.append(
            f'<li>{opening} title="{title}"><span class="act-chip-kind">{_escape(ref.kind)}</span>'
            f"{_escape(ref.label)}{shown_role}{'</a>' if ref.url else '</span>'}</li>"
        )
    return (
        '\n    <ul class="act-links" aria-label="Also touches">\n      '
        + "".join(chips)
        + "\n    </ul>\n    "
    )


def _meta(entry: Entry, *, reader: _Reader, timeline: bool, session: Any) -> str:
    """When (and, on a timeline, how long into the session), who for an error, in which
    session, the type, the error's group, and whether a client reported it."""
    record = entry.record
    description = entry.description
    parts = ['\n    <p class="act-meta">\n      ']
    if timeline:
        clock = ", by the client's clock" if record.client_time else ""
        since = offset_from(record.client_time or record.created_at, session.started_at)
        parts.append(
            f'<span class="act-offset" title="Since the session started{clock}">'
            f"{_escape(since)}</span>{_DOT}"
        )
    created = record.created_at
    local = reader.local(created)
    parts.append(
        f'\n      <time datetime="{_iso(local)}" title="{_stamp(local)}">'
        f"{reader.age(created)}</time>\n      "
    )
    if description.standalone:
        who = (
            reader.person(record.user)
            if record.user
            else f"<span>{_escape(description.actor)}</span>"
        )
        parts.append(_DOT + who)
    parts.append("\n      ")
    if not timeline:
        to_session = reader.session(record.session)
        if to_session:
            parts.append(_DOT + to_session)
    parts.append(f'\n      {_DOT}<span class="act-type">{_escape(record.type.name)}</span>\n      ')
    to_group = reader.error_group(record)
    if to_group:
        parts.append(_DOT + to_group)
    parts.append("\n      ")
    if record.source == "client":
        parts.append(_DOT + _FROM_CLIENT)
    parts.append("\n    </p>")
    return "".join(parts)


def entry_list_html(entries: Iterable[Entry], context: Mapping[Any, Any]) -> SafeString:
    """``entries_html`` for a template context (``request``, ``timeline``, ``session``)."""
    request = context.get("request")
    return entries_html(
        entries,
        viewer=getattr(request, "user", None),
        timeline=bool(context.get("timeline")),
        session=context.get("session"),
    )
