"""The answers of usage analysis, read from the rollups (never from the records table).

Which rollup answers what:

* events over time, per type: ``UsersDay`` for whole days of the rollups' zone by day or
  week, else ``TypeHour`` (UTC hours, so any bucket in any time zone with whole-hour
  offsets);
* distinct users: the bitmaps of ``UsersDay`` (days of the rollups' time zone, day and
  week buckets) or ``UsersHour`` (hour buckets, other time zones);
* per user (the most active users, a user or group filter): ``UserDay`` and
  ``UserTypeDay``; sessions: ``SessionDay``; new users: ``UserFirstSeen``; errors:
  ``ErrorGroup``, and ``ErrorWeek`` with the days at a period's ends from ``ErrorDay``
  (``analysis.error_periods``); entities: ``EntityDay``.

Per-user and per-session figures are kept by days of the rollups' time zone: asked in
another time zone, or by the hour, they count the days of that zone that the period
touches. Sessions are counted among the period's users; a type or level filter does
not narrow them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Aggregate,
    BigIntegerField,
    Count,
    DateField,
    F,
    Func,
    Max,
    QuerySet,
    Sum,
)
from django.db.models.functions import Trunc

import audit
from audit.models import EventType

from . import error_periods, fields, rollups, spans
from .fields import UserSetField
from .models import (
    ErrorGroup,
    SessionDay,
    TypeHour,
    UserDay,
    UserFirstSeen,
    UsersDay,
    UsersHour,
    UserTypeDay,
)
from .period import Question, day_span

TOP = 20


class _BitOr(Aggregate):
    function = "BIT_OR"
    output_field = UserSetField()


class _UpperMedian(Aggregate):
    """PostgreSQL's ``percentile_disc(0.5)`` over a descending order: of an even count,
    the upper of the two middle values, as ``sorted(values)[len // 2]`` picks."""

    template = "percentile_disc(0.5) WITHIN GROUP (ORDER BY %(expressions)s DESC)"
    output_field = BigIntegerField()


class _BitCount(Func):
    function = "BIT_COUNT"
    output_field = BigIntegerField()


def _day_grain(question: Question) -> bool:
    """Whether day rollups answer exactly: day or week buckets in their own time zone."""
    return question.bucket != "hour" and str(question.tz.key) == str(rollups.zone().key)


def _whole_days(question: Question) -> bool:
    """Whether the period is whole days of the rollups' zone asked by day or week: then
    ``UsersDay`` answers events as well as users, a row per day and type where
    ``TypeHour`` reads 24 (a previous period that a change of clocks shifts is not)."""
    return _day_grain(question) and all(
        at.astimezone(question.tz).time() == time.min for at in (question.since, question.until)
    )


def _type_level(queryset: QuerySet[Any], question: Question) -> QuerySet[Any]:
    if question.types or question.type_names:
        queryset = queryset.filter(type_id__in=question.types)
    if question.levels:
        queryset = queryset.filter(level__in=question.levels)
    return queryset


def _days(queryset: QuerySet[Any], question: Question) -> QuerySet[Any]:
    first, last = day_span(question)
    return queryset.filter(day__gte=first, day__lte=last)


def _hours(queryset: QuerySet[Any], question: Question) -> QuerySet[Any]:
    return queryset.filter(hour__gte=question.since, hour__lt=question.until)


def _bucket_of(field: str, question: Question) -> Trunc | F:
    """The bucket of a row: a time field truncated in the question's time zone, a day
    field (already a day of the rollups' zone) to its week, or as it is."""
    if field == "day":
        if question.bucket != "week":
            return F(field)  # already a day: truncating would cast every row
        return Trunc(field, "week", output_field=DateField())
    return Trunc(field, question.bucket, tzinfo=question.tz)


def _key(value: date | datetime, question: Question) -> datetime:
    """A bucket start as the answer shows it: an aware datetime in the time zone."""
    if isinstance(value, datetime):
        return value.astimezone(question.tz)
    from .period import floor

    return floor(
        datetime.combine(value, datetime.min.time(), question.tz), question.bucket, question.tz
    )


def _distinct(queryset: QuerySet[Any], group: str | None) -> dict[Any, int]:
    """Distinct users of bitmap rows, per value of ``group`` (None: one total)."""
    if connection.vendor == "postgresql":
        rows = (
            queryset.values(group).annotate(n=_BitCount(_BitOr("users")))
            if group
            else [queryset.aggregate(n=_BitCount(_BitOr("users")))]
        )
        return {(row[group] if group else None): int(row["n"] or 0) for row in rows}
    unions: dict[Any, int] = defaultdict(int)
    for row in queryset.values(*([group] if group else []), "users"):
        unions[row[group] if group else None] |= fields.from_bytes(row["users"])
    return {key: bin(value).count("1") for key, value in unions.items()}


# --- usage ------------------------------------------------------------------------------


def usage(question: Question) -> dict[str, Any]:
    """The contract's usage answer: totals, every bucket, the types, the users."""
    rollups.fold()
    return _usage(question, sessions_count(question))


def _usage(question: Question, sessions: int) -> dict[str, Any]:
    if _one_pass(question):
        series_events, series_users, totals, found = _days_in_one_pass(question)
        top_types = _named_types(found[:TOP])
    else:
        series_events, series_users, totals = _series(question)
        top_types = types(question)
    starts = question.buckets()
    return {
        "since": question.since,
        "until": question.until,
        "bucket": question.bucket,
        "tz": str(question.tz.key),
        "totals": {**totals, "sessions": sessions},
        "series": [
            {
                "start": start,
                "events": series_events.get(start, 0),
                "users": series_users.get(start, 0),
            }
            for start in starts
        ],
        "types": top_types,
        "users": top_users(question),
    }


def _one_pass(question: Question) -> bool:
    return (
        _whole_days(question)
        and not question.filtered_by_user
        and connection.vendor == "postgresql"
    )


# Events and distinct users per bucket, per type and in all, from one scan of the period's
# day rows (PostgreSQL): three statements read the same rows before.
_DAYS_IN_ONE_PASS = """
SELECT {bucket}, type_id, GROUPING({bucket}, type_id), sum(events), bit_count(bit_or(users))
FROM analysis_usersday WHERE day BETWEEN %(first)s AND %(last)s {filters}
GROUP BY GROUPING SETS (({bucket}), (type_id), ())
"""


def _days_in_one_pass(
    question: Question,
) -> tuple[dict[datetime, int], dict[datetime, int], dict[str, int], list[dict[str, Any]]]:
    """``_series`` and the types' events and users (most frequent first) in one pass."""
    first, last = day_span(question)
    params: dict[str, Any] = {"first": first, "last": last}
    filters = ""
    if question.types or question.type_names:
        filters += " AND type_id = ANY(%(types)s)"
        params["types"] = list(question.types)
    if question.levels:
        filters += " AND level = ANY(%(levels)s)"
        params["levels"] = list(question.levels)
    bucket = "date_trunc('week', day)::date" if question.bucket == "week" else "day"
    events: dict[datetime, int] = {}
    users: dict[datetime, int] = {}
    totals = {"events": 0, "users": 0}
    found: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        cursor.execute(_DAYS_IN_ONE_PASS.format(bucket=bucket, filters=filters), params)
        for start, type_id, grouping, n, distinct in cursor.fetchall():
            if grouping == 1:  # per bucket
                key = _key(start, question)
                events[key], users[key] = int(n), int(distinct or 0)
            elif grouping == 2:  # per type
                found.append({"type_id": type_id, "events": int(n), "users": int(distinct or 0)})
            else:
                totals = {"events": int(n or 0), "users": int(distinct or 0)}
    found.sort(key=lambda row: (-row["events"], row["type_id"]))
    return events, users, totals, found


def _series(question: Question) -> tuple[dict[datetime, int], dict[datetime, int], dict[str, int]]:
    if question.filtered_by_user:
        return _series_of_users(question)
    if _whole_days(question):
        return _series_of_days(question)
    events_rows = _type_level(_hours(TypeHour.objects.all(), question), question)
    events = {
        _key(row["b"], question): int(row["n"])
        for row in events_rows.annotate(b=_bucket_of("hour", question))
        .values("b")
        .annotate(n=Sum("events"))
    }
    bitmaps, field = _user_bitmaps(question)
    per_bucket = _distinct(bitmaps.annotate(b=_bucket_of(field, question)), "b")
    users = {_key(key, question): count for key, count in per_bucket.items()}
    total_users = _distinct(bitmaps, None).get(None, 0)
    return events, users, {"events": sum(events.values()), "users": total_users}


def _series_of_days(
    question: Question,
) -> tuple[dict[datetime, int], dict[datetime, int], dict[str, int]]:
    """Events and distinct users per bucket and in all, from the day rows alone (on
    PostgreSQL ``_days_in_one_pass`` answers this and the types in one statement)."""
    rows = _type_level(_days(UsersDay.objects.all(), question), question)
    per_bucket = rows.annotate(b=_bucket_of("day", question)).values("b")
    events = {
        _key(row["b"], question): int(row["n"]) for row in per_bucket.annotate(n=Sum("events"))
    }
    distinct = _distinct(rows.annotate(b=_bucket_of("day", question)), "b")
    users = {_key(key, question): count for key, count in distinct.items()}
    total_users = _distinct(rows, None).get(None, 0)
    return events, users, {"events": sum(events.values()), "users": total_users}


def _totals(question: Question) -> dict[str, int]:
    """The period's events and distinct users, without a series (the previous period)."""
    if question.filtered_by_user:
        return _series_of_users(question)[2]
    if _whole_days(question) and connection.vendor == "postgresql":
        rows = _type_level(_days(UsersDay.objects.all(), question), question)
        found = rows.aggregate(n=Sum("events"), u=_BitCount(_BitOr("users")))
        return {"events": int(found["n"] or 0), "users": int(found["u"] or 0)}
    events = _type_level(_hours(TypeHour.objects.all(), question), question).aggregate(
        n=Sum("events")
    )["n"]
    bitmaps, _ = _user_bitmaps(question)
    return {"events": int(events or 0), "users": _distinct(bitmaps, None).get(None, 0)}


def _user_bitmaps(question: Question) -> tuple[QuerySet[Any], str]:
    """The period's users bitmaps, by day where the day rollups answer exactly, else by
    hour; and the name of their time field."""
    if _day_grain(question):
        return _type_level(_days(UsersDay.objects.all(), question), question), "day"
    return _type_level(_hours(UsersHour.objects.all(), question), question), "hour"


def _series_of_users(
    question: Question,
) -> tuple[dict[datetime, int], dict[datetime, int], dict[str, int]]:
    """With a user or group filter: the users' own rows, by days of the rollups."""
    rows = _type_level(_days(UserTypeDay.objects.all(), question), question).filter(
        user_id__in=question.users or []
    )
    events: dict[datetime, int] = defaultdict(int)
    users: dict[datetime, set[int]] = defaultdict(set)
    everyone: set[int] = set()
    for row in (
        rows.annotate(b=_bucket_of("day", question))
        .values("b", "user_id")
        .annotate(n=Sum("events"))
    ):
        start = _key(row["b"], question)
        events[start] += int(row["n"])
        users[start].add(row["user_id"])
        everyone.add(row["user_id"])
    return (
        dict(events),
        {start: len(ids) for start, ids in users.items()},
        {"events": sum(events.values()), "users": len(everyone)},
    )


def types(question: Question, limit: int = TOP) -> list[dict[str, Any]]:
    """The most frequent types of the period, with their distinct users."""
    if question.filtered_by_user:
        rows = _type_level(_days(UserTypeDay.objects.all(), question), question).filter(
            user_id__in=question.users or []
        )
        found = list(
            rows.values("type_id")
            .annotate(events=Sum("events"), users=Count("user_id", distinct=True))
            .order_by("-events")[:limit]
        )
    elif _whole_days(question) and connection.vendor == "postgresql":  # one pass
        rows = _type_level(_days(UsersDay.objects.all(), question), question)
        found = list(
            rows.values("type_id")
            .annotate(events=Sum("events"), users=_BitCount(_BitOr("users")))
            .order_by("-events", "type_id")[:limit]
        )
    else:
        rows = _type_level(_hours(TypeHour.objects.all(), question), question)
        found = list(
            rows.values("type_id").annotate(events=Sum("events")).order_by("-events")[:limit]
        )
        ids = [row["type_id"] for row in found]
        if _day_grain(question):
            bitmaps = _days(UsersDay.objects.filter(type_id__in=ids), question)
        else:
            bitmaps = _hours(UsersHour.objects.filter(type_id__in=ids), question)
        users = _distinct(_type_level(bitmaps, question), "type_id")
        for row in found:
            row["users"] = users.get(row["type_id"], 0)
    return _named_types(found)


def _named_types(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = dict(
        EventType.objects.filter(pk__in=[r["type_id"] for r in found]).values_list("pk", "name")
    )
    return [
        {
            "type": names.get(row["type_id"], f"#{row['type_id']}"),
            "events": int(row["events"]),
            "users": int(row["users"]),
        }
        for row in found
    ]


def top_users(question: Question, limit: int = TOP) -> list[dict[str, Any]]:
    """The most active users of the period: events, sessions, when last seen."""
    if question.types or question.levels or question.type_names:
        rows = _type_level(_days(UserTypeDay.objects.all(), question), question)
    else:
        rows = _days(UserDay.objects.all(), question)
    if question.filtered_by_user:
        rows = rows.filter(user_id__in=question.users or [])
    found = list(
        rows.values("user_id").annotate(events=Sum("events")).order_by("-events", "user_id")[:limit]
    )
    ids = [row["user_id"] for row in found]
    last_seen = dict(
        _days(UserDay.objects.filter(user_id__in=ids), question)
        .values("user_id")
        .annotate(last=Max("last_at"))
        .values_list("user_id", "last")
    )
    sessions = dict(
        _days(SessionDay.objects.filter(user_id__in=ids), question)
        .values("user_id")
        .annotate(n=Count("session_id", distinct=True))
        .values_list("user_id", "n")
    )
    names = _usernames(ids)
    return [
        {
            "user": names.get(row["user_id"], f"#{row['user_id']}"),
            "events": int(row["events"]),
            "sessions": int(sessions.get(row["user_id"], 0)),
            "last_seen": last_seen.get(row["user_id"]),
        }
        for row in found
    ]


def _usernames(ids: Iterable[int]) -> dict[int, str]:
    model = get_user_model()
    return dict(
        model._default_manager.filter(pk__in=list(ids)).values_list("pk", model.USERNAME_FIELD)
    )


def _sessions(question: Question) -> QuerySet[SessionDay]:
    rows = _days(SessionDay.objects.all(), question)
    if question.filtered_by_user:
        rows = rows.filter(user_id__in=question.users or [])
    return rows


def sessions_count(question: Question) -> int:
    return int(_sessions(question).aggregate(n=Count("session_id", distinct=True))["n"] or 0)


# --- the overview page's other figures ---------------------------------------------------


def _first_seen(question: Question) -> QuerySet[UserFirstSeen]:
    rows = UserFirstSeen.objects.filter(first_at__gte=question.since, first_at__lt=question.until)
    if question.filtered_by_user:
        rows = rows.filter(user_id__in=question.users or [])
    return rows


def new_users_count(question: Question) -> int:
    return _first_seen(question).count()


def new_users(question: Question) -> dict[str, Any]:
    rows = _first_seen(question)
    per_bucket = {
        _key(row["b"], question): row["n"]
        for row in rows.annotate(b=_bucket_of("first_at", question))
        .values("b")
        .annotate(n=Count("user_id"))
    }
    ids = list(rows.order_by("-first_at").values_list("user_id", flat=True)[:TOP])
    names = _usernames(ids)
    return {
        "total": sum(per_bucket.values()),
        "series": [per_bucket.get(start, 0) for start in question.buckets()],
        "latest": [names.get(user_id, f"#{user_id}") for user_id in ids],
    }


def sessions_by_day(question: Question) -> dict[str, Any]:
    """Sessions per bucket, how many in all and how long they lasted (first to last
    record of the day): counted and the median taken by the database, never a row each
    into Python; the total and the median in one statement."""
    rows = _sessions(question)
    per_bucket = {
        _key(row["b"], question): int(row["n"])
        for row in rows.annotate(b=_bucket_of("day", question))
        .values("b")
        .annotate(n=Count("session_id"))  # in the (day, session) index: no row is read
    }
    total, median = _total_and_median(rows)
    return {
        "series": [per_bucket.get(start, 0) for start in question.buckets()],
        "median_minutes": round(median / 60, 1),
        "total": total,
    }


def _total_and_median(rows: QuerySet[SessionDay]) -> tuple[int, float]:
    """Distinct sessions, and the length in seconds of the session-day in the middle
    (the upper one of an even count)."""
    if connection.vendor == "postgresql":
        found = rows.aggregate(n=Count("session_id", distinct=True), m=_UpperMedian("length_us"))
        return int(found["n"] or 0), (found["m"] or 0) / 1e6
    lengths = sorted(length / 1e6 for length in rows.values_list("length_us", flat=True))
    total = int(rows.aggregate(n=Count("session_id", distinct=True))["n"] or 0)
    return total, lengths[len(lengths) // 2] if lengths else 0.0


# The entity panel from one pass over the period's entity-days (it was three: the
# kinds, the most used and the most changed each grouped the same rows again). The
# period's entities are summed once; the kinds and both top lists are read from that.
# The period's whole weeks come from the week rollup, the days at its ends from the day
# rollup (``analysis.spans``): a quarter of the rows for 30 days.
_ENTITIES = """
WITH d AS (
  SELECT content_type_id, object_id, changed, events FROM analysis_entityweek
  WHERE week BETWEEN %(w0)s AND %(w1)s
  UNION ALL
  SELECT content_type_id, object_id, changed, events FROM analysis_entityday
  WHERE day BETWEEN %(a0)s AND %(a1)s OR day BETWEEN %(b0)s AND %(b1)s
), e AS (
  SELECT content_type_id AS ct, object_id AS oid, SUM(events) AS used,
         SUM(CASE WHEN changed THEN events ELSE 0 END) AS changed
  FROM d GROUP BY content_type_id, object_id
)
SELECT 'kind', ct, '', SUM(used) - SUM(changed), SUM(changed) FROM e GROUP BY ct
UNION ALL
SELECT * FROM (
  SELECT 'used', ct, oid, used, 0 FROM e ORDER BY used DESC, ct, oid LIMIT %(limit)s
) u
UNION ALL
SELECT * FROM (
  SELECT 'changed', ct, oid, changed, 0 FROM e WHERE changed > 0
  ORDER BY changed DESC, ct, oid LIMIT %(limit)s
) c
"""


def entities(question: Question, limit: int = 10) -> dict[str, Any]:
    """The entity kinds and entities most used (linked by any record) and most changed."""
    span = spans.Span(*day_span(question))
    with connection.cursor() as cursor:
        cursor.execute(_ENTITIES, {**span.bounds(), "limit": limit})
        rows = cursor.fetchall()
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"used": 0, "changed": 0})
    tops: dict[str, list[tuple[int, str, int]]] = {"used": [], "changed": []}
    for part, content_type_id, object_id, events, changed in rows:
        if part == "kind":
            kind = audit.kind_for_content_type_id(content_type_id)
            name = kind.kind if kind else f"#{content_type_id}"
            kinds[name]["used"] += int(events or 0)
            kinds[name]["changed"] += int(changed or 0)
        else:
            tops[part].append((content_type_id, object_id, int(events)))
    for top in tops.values():  # UNION ALL keeps no order: each list by its count again
        top.sort(key=lambda row: (-row[2], row[0], row[1]))
    return {
        "kinds": sorted(
            ({"kind": k, **v} for k, v in kinds.items()),
            key=lambda item: -(item["used"] + item["changed"]),
        ),
        "used": _named_entities(tops["used"]),
        "changed": _named_entities(tops["changed"]),
    }


def _named_entities(found: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    by_type: dict[int, list[str]] = defaultdict(list)
    for content_type_id, object_id, _events in found:
        by_type[content_type_id].append(object_id)
    names: dict[tuple[int, str], tuple[str, str]] = {}
    for content_type_id, ids in by_type.items():
        kind = audit.kind_for_content_type_id(content_type_id)
        if kind is None:
            continue
        for object_id, name in kind.names(set(ids)).items():
            names[(content_type_id, object_id)] = (kind.kind, name)
    result = []
    for content_type_id, object_id, events in found:
        kind_name, name = names.get((content_type_id, object_id), ("", ""))
        result.append(
            {
                "kind": kind_name or f"#{content_type_id}",
                "id": object_id,
                "name": name or object_id,
                "events": events,
            }
        )
    return result


def change(now: int, before: int) -> float | None:
    """``now`` against ``before`` in percent (None when there was nothing before)."""
    if not before:
        return None
    return round((now - before) * 100 / before, 1)


def overview(question: Question) -> dict[str, Any]:
    """Everything the overview page shows, with each total against the previous period."""
    rollups.fold()
    sessions = sessions_by_day(question)
    answer = _usage(question, sessions["total"])
    previous = question.previous()
    before = _totals(previous)
    before["sessions"] = sessions_count(previous)
    fresh = new_users(question)
    before_new = new_users_count(previous)  # the previous period needs only its total
    answer["previous"] = {**before, "new_users": before_new}
    answer["change"] = {
        key: change(answer["totals"][key], before[key]) for key in ("events", "users", "sessions")
    }
    answer["change"]["new_users"] = change(fresh["total"], before_new)
    answer["new_users"] = fresh
    answer["sessions"] = sessions
    answer["entities"] = entities(question)
    return answer


# --- errors ---------------------------------------------------------------------------------

ERROR_SORTS = {
    "count": "-events",
    "users": "-users",
    "last_seen": "-last_seen",
    "first_seen": "-first_seen",
}
STATUSES = ("open", "resolved", "ignored", "regressed")


def errors(
    question: Question, *, status: list[str], sort: str, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], bool]:
    """Error groups that occurred in the period: count and users in the period, first and
    last seen ever, status, the newest occurrence as sample, a trend of the period."""
    rollups.fold()
    span = spans.Span(*day_span(question))
    # Occurrences per user are not kept by day: with a user filter, the users' own error
    # records name the groups.
    counts = error_periods.counts(
        span, _fingerprints_of_users(question) if question.filtered_by_user else None
    )
    groups = ErrorGroup.objects.filter(fingerprint__in=list(counts))
    if question.types:
        groups = groups.filter(type_id__in=question.types)
    if status:
        groups = groups.filter(status__in=status)
    # Plain rows, not models: a model instance costs a tracked model's snapshot each,
    # and a 90-day list may hold every group there is.
    found = groups.values(
        "fingerprint", "type_id", "message", "first_seen", "last_seen", "status", "last_record_id"
    )
    rows: list[dict[str, Any]] = [
        {
            "fingerprint": group["fingerprint"],
            "type": group["type_id"],
            "message": group["message"] or "",
            "count": counts.get(group["fingerprint"], 0),
            "users": 0,
            "first_seen": group["first_seen"],
            "last_seen": group["last_seen"],
            "status": group["status"],
            "sample": group["last_record_id"],
        }
        for group in found
    ]

    def count_users(of: list[dict[str, Any]]) -> None:
        users = error_periods.users(span, [row["fingerprint"] for row in of])
        for row in of:
            row["users"] = users.get(row["fingerprint"], 0)

    if sort == "users":  # every group's users are needed to sort; else the page's only
        count_users(rows)
    rows.sort(key=lambda row: (row[sort], row["fingerprint"]), reverse=True)
    page = rows[offset : offset + limit + 1]
    if sort != "users":
        count_users(page)
    lines = trends([row["fingerprint"] for row in page], question)
    names = dict(
        EventType.objects.filter(pk__in={r["type"] for r in page}).values_list("pk", "name")
    )
    for row in page:
        row["type"] = names.get(row["type"], row["type"])
        row["trend"] = lines[row["fingerprint"]]
    return page[:limit], len(page) > limit


def _fingerprints_of_users(question: Question) -> list[str]:
    from audit.models import AuditRecord

    return list(
        AuditRecord.objects.filter(
            user_id__in=question.users or [],
            created_at__gte=question.since,
            created_at__lt=question.until,
        )
        .exclude(fingerprint="")
        .values_list("fingerprint", flat=True)
        .distinct()[:1000]
    )


def trends(fingerprints: list[str], question: Question) -> dict[str, list[int]]:
    """Each error group's occurrences per bucket of the period."""
    span = spans.Span(*day_span(question))
    return _lines(error_periods.per_day(span, fingerprints), span, question)


def _lines(
    per_day: dict[str, dict[int, int]], span: spans.Span, question: Question
) -> dict[str, list[int]]:
    """Groups' counts per day of ``span`` as a line per bucket: each day of the period
    is mapped to its bucket once (``_key`` floors a day to its week or keeps it), then a
    group's days are added up by that map."""
    buckets = question.buckets()
    position = {start: index for index, start in enumerate(buckets)}
    bucket_of_day = [
        position.get(_key(span.first + timedelta(days=n), question))
        for n in range((span.last - span.first).days + 1)
    ]
    lines = {name: [0] * len(buckets) for name in per_day}
    for fingerprint, days in per_day.items():
        line = lines[fingerprint]
        for offset, count in days.items():
            if (index := bucket_of_day[offset]) is not None:
                line[index] += int(count)
    return lines


def error_detail(fingerprint: str, question: Question) -> dict[str, Any] | None:
    rollups.fold()
    group = ErrorGroup.objects.filter(fingerprint=fingerprint).first()
    if group is None:
        return None
    span = spans.Span(*day_span(question))
    days = error_periods.per_day(span, [fingerprint])  # the trend and the period's count
    line = _lines(days, span, question)[fingerprint]
    type_name = EventType.objects.filter(pk=group.type_id).values_list("name", flat=True).first()
    return {
        "fingerprint": group.fingerprint,
        "type": type_name or group.type_id,
        "message": group.message or "",
        "count": int(group.events),
        "count_in_period": sum(days[fingerprint].values()),
        "users": error_periods.users(span, [fingerprint]).get(fingerprint, 0),
        "first_seen": group.first_seen,
        "last_seen": group.last_seen,
        "status": group.status,
        "sample": group.last_record_id,
        "first_record": group.first_record_id,
        "resolved_at": group.resolved_at,
        "series": [
            {"start": start, "events": events}
            for start, events in zip(question.buckets(), line, strict=True)
        ],
    }


def users_hit(fingerprint: str, question: Question) -> list[str]:
    """The users an error hit in the period (from the bitmaps), by name."""
    ids = error_periods.user_ids(spans.Span(*day_span(question)), fingerprint)
    return sorted(_usernames(ids).values(), key=str.lower)
