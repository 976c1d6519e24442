"""What an analysis question asks: the period, its buckets, the time zone and the filters,
read from the query string and checked, every problem named by its parameter.

The period is snapped outwards to whole buckets of the time zone (a day starts at local
midnight, a week on Monday), so every bucket of the answer is whole, and the answer says
which period it covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

import audit
from audit.models import EventType

BUCKETS = ("hour", "day", "week")
LEVELS = ("audit", "usage", "info", "debug", "warning", "error")
DEFAULT_DAYS = 7
# The longest period per bucket: an answer has every bucket, zeros included.
MAX_BUCKETS = {"hour": 24 * 31, "day": 400, "week": 160}
# The longest a bucket can be (a day is 25 hours when clocks go back): a period longer
# than the limit's worth of those is refused before its buckets are listed, which for
# two centuries of hours took seconds.
_LONGEST = {"hour": timedelta(hours=1), "day": timedelta(hours=25), "week": timedelta(hours=169)}
MAX_NAMES = 50


class BadQuery(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class Question:
    since: datetime
    until: datetime
    bucket: str
    tz: ZoneInfo
    types: list[int] = field(default_factory=list)  # event type ids (empty: all)
    type_names: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    users: list[int] | None = None  # None: everyone; ids of the users and groups asked
    user_names: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @property
    def filtered_by_user(self) -> bool:
        return self.users is not None

    def buckets(self) -> list[datetime]:
        """Every bucket start of the period, in the time zone, oldest first."""
        starts, at = [], self.since
        while at < self.until:
            starts.append(at)
            at = step(at, self.bucket, self.tz)
        return starts

    def previous(self) -> Question:
        """The period of the same length just before this one (for "+12 %")."""
        length = self.until - self.since
        return Question(
            since=self.since - length,
            until=self.since,
            bucket=self.bucket,
            tz=self.tz,
            types=self.types,
            type_names=self.type_names,
            levels=self.levels,
            users=self.users,
            user_names=self.user_names,
            groups=self.groups,
        )

    def query_string(self, **changes: Any) -> dict[str, str]:
        """The parameters that ask this question again (for links and downloads)."""
        params = {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "bucket": self.bucket,
            "tz": str(self.tz.key),
        }
        if self.type_names:
            params["type"] = ",".join(self.type_names)
        if self.levels:
            params["level"] = ",".join(self.levels)
        if self.user_names:
            params["user"] = ",".join(self.user_names)
        if self.groups:
            params["group"] = ",".join(self.groups)
        params.update({key: str(value) for key, value in changes.items() if value is not None})
        return params


def step(at: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    """The next bucket start after ``at`` (a bucket start), across daylight saving."""
    if bucket == "hour":
        return at + timedelta(hours=1)
    local = at.astimezone(tz).date() + timedelta(days=1 if bucket == "day" else 7)
    return datetime.combine(local, time(), tz)


def floor(at: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    if bucket == "hour":
        return at.astimezone(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)
    day = at.astimezone(tz).date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(), tz)


def ceil(at: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    start = floor(at, bucket, tz)
    return start if start == at else step(start, bucket, tz)


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _moment(raw: str, name: str, tz: ZoneInfo, errors: dict[str, list[str]]) -> datetime | None:
    if "\x00" in raw or len(raw) > 40:
        errors[name] = ["must be an ISO 8601 date or time"]
        return None
    try:
        moment = parse_datetime(raw)
        if moment is None and (day := parse_date(raw)) is not None:
            moment = datetime.combine(day, time(), tz)
    except ValueError:
        moment = None
    if moment is None:
        errors[name] = ["must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00Z"]
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=tz)
    if (
        not datetime(1970, 1, 2, tzinfo=ZoneInfo("UTC"))
        <= moment
        <= datetime(2200, 1, 1, tzinfo=ZoneInfo("UTC"))
    ):
        errors[name] = ["must be between 1970 and 2200"]
        return None
    return moment


def parse(params: Mapping[str, str], *, now: datetime | None = None) -> Question:
    """A ``Question`` from query parameters, or ``BadQuery`` naming every bad one."""
    errors: dict[str, list[str]] = {}
    raw_tz = params.get("tz") or settings.TIME_ZONE
    try:
        if "\x00" in raw_tz or ".." in raw_tz or len(raw_tz) > 64:
            raise ZoneInfoNotFoundError(raw_tz)
        tz = ZoneInfo(raw_tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors["tz"] = [f"{raw_tz[:64]!r} is not an IANA time zone (e.g. Europe/Berlin)"]
        tz = ZoneInfo("UTC")
    bucket = params.get("bucket") or "day"
    if bucket not in BUCKETS:
        errors["bucket"] = [f"must be one of {', '.join(BUCKETS)}"]
        bucket = "day"
    now = now or timezone.now()
    until = _moment(params["until"], "until", tz, errors) if params.get("until") else None
    since = _moment(params["since"], "since", tz, errors) if params.get("since") else None
    if until is None:
        until = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(), tz)
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS)
    since, until = floor(since, bucket, tz), ceil(until, bucket, tz)
    if since >= until and "since" not in errors and "until" not in errors:
        errors["until"] = ["must be after since"]
    question = Question(since=since, until=until, bucket=bucket, tz=tz)
    if not errors and (
        until - since > MAX_BUCKETS[bucket] * _LONGEST[bucket]
        or len(question.buckets()) > MAX_BUCKETS[bucket]
    ):
        errors["since"] = [
            f"the period has more than {MAX_BUCKETS[bucket]} {bucket}s; choose a larger "
            "bucket or a shorter period"
        ]
    _filters(question, params, errors)
    if errors:
        raise BadQuery(errors)
    return question


def _filters(question: Question, params: Mapping[str, str], errors: dict[str, list[str]]) -> None:
    if raw := params.get("type"):
        names = _names(raw)
        ids = dict(EventType.objects.filter(name__in=names[:MAX_NAMES]).values_list("name", "id"))
        unknown = [name for name in names if name not in ids]
        if unknown or len(names) > MAX_NAMES:
            errors["type"] = [f"unknown event type(s): {', '.join(unknown[:5])[:200]}"]
        question.type_names, question.types = names, list(ids.values())
    if raw := params.get("level"):
        levels = _names(raw)
        bad = [level for level in levels if level not in LEVELS]
        if bad:
            errors["level"] = [f"must be among {', '.join(LEVELS)}"]
        question.levels = levels
    users: set[int] | None = None
    if raw := params.get("user"):
        names = _names(raw)[:MAX_NAMES]
        found = {}
        for name in names:
            user_id = audit.whole_number(name) if name.isascii() and name.isdigit() else None
            lookup: dict[str, Any] = {"pk": user_id} if user_id is not None else {"username": name}
            pk = get_user_model()._default_manager.filter(**lookup).values_list("pk", flat=True)
            if pk:
                found[name] = pk[0]
        unknown = [name for name in names if name not in found]
        if unknown:
            errors["user"] = [f"no such user: {', '.join(unknown[:5])[:200]}"]
        users = set(found.values())
        question.user_names = names
    if raw := params.get("group"):
        names = _names(raw)[:MAX_NAMES]
        groups = {g.name: g for g in Group.objects.filter(name__in=names)}
        unknown = [name for name in names if name not in groups]
        if unknown:
            errors["group"] = [f"no such group: {', '.join(unknown[:5])[:200]}"]
        members = set(
            get_user_model()
            ._default_manager.filter(groups__in=groups.values())
            .values_list("pk", flat=True)
        )
        users = members if users is None else users & members
        question.groups = names
    question.users = sorted(users) if users is not None else None


def day_span(question: Question) -> tuple[date, date]:
    """The first and last day of the period, in the time zone (inclusive)."""
    first = question.since.astimezone(question.tz).date()
    last = (question.until - timedelta(microseconds=1)).astimezone(question.tz).date()
    return first, last
