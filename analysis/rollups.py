"""Keeping the rollups: folding the deltas in, rebuilding from the records, purging.

``fold()`` runs every couple of seconds (Celery beat) and before every analysis answer,
so an answer counts every record committed before it. On PostgreSQL it is set-based SQL
(``analysis.sql``); elsewhere the same arithmetic in Python, for the small databases of
a development machine. Folds and rebuilds take one lock, so they never overlap, and a
delta is deleted in the transaction that adds it to the rollups: each counted once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

import audit

from . import fields, sql
from .models import (
    WEEKDAYS,
    Delta,
    EntityDay,
    EntityDelta,
    EntityWeek,
    ErrorDay,
    ErrorGroup,
    ErrorWeek,
    RollupState,
    SessionDay,
    TypeHour,
    UserDay,
    UserFirstSeen,
    UsersDay,
    UsersHour,
    UserTypeDay,
)
from .spans import monday

ROLLUPS = (
    TypeHour,
    UserDay,
    UsersDay,
    UsersHour,
    UserTypeDay,
    SessionDay,
    ErrorDay,
    ErrorWeek,
    ErrorGroup,
    EntityDay,
    EntityWeek,
    UserFirstSeen,
)
CHANGE_TYPES = re.compile(sql.CHANGE_TYPES)


@dataclass
class Folded:
    deltas: int = 0
    events: int = 0


def state() -> RollupState:
    """The rollups' state row, made on first use with the server's time zone."""
    found = RollupState.objects.first()
    if found is None:
        found, _ = RollupState.objects.get_or_create(pk=1, defaults={"time_zone": zone_name()})
    return found


def zone_name() -> str:
    return str(settings.TIME_ZONE or "UTC")


def zone() -> ZoneInfo:
    """The time zone of the day rollups (fixed when they were made: ``RollupState``),
    kept by the process: only a rebuild changes it."""
    found = _zone_cache.get("zone")
    if found is None:
        found = _zone_cache["zone"] = ZoneInfo(state().time_zone)
    return found


def fold() -> Folded:
    """Add every delta visible now to the rollups, and delete it, in one transaction
    (on PostgreSQL the tracked saves' pending records become deltas first). The changes
    still staged (deferred tracking) are stored first, so that an answer counts every
    change committed before it; the fold itself reads the records as stored."""
    audit.settle_staged()
    with audit.as_stored():
        return _fold()


def _fold() -> Folded:
    if not _anything_to_fold():
        return Folded()
    with transaction.atomic(), audit.disabled():  # bookkeeping, not anyone's change
        current = state()
        if connection.vendor == "postgresql":
            result = _fold_postgresql(current)
        else:
            result = _fold_python(current)
        RollupState.objects.filter(pk=current.pk).update(folded_at=timezone.now())
    return result


def _anything_to_fold() -> bool:
    if connection.vendor != "postgresql":
        return Delta.objects.exists() or EntityDelta.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM analysis_delta) OR EXISTS (SELECT FROM "
            f"analysis_entitydelta) OR EXISTS (SELECT FROM {sql.PENDING_TABLE})"
        )
        return bool(cursor.fetchone()[0])


def _lock(cursor: Any) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [sql.FOLD_LOCK])


def _fold_postgresql(current: RollupState) -> Folded:
    with connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(sql.PENDING_TO_DELTAS, {"zone": current.time_zone})
        cursor.execute("SELECT max(user_id) FROM analysis_delta")
        _widen_postgresql(cursor, current, cursor.fetchone()[0])
        cursor.execute(sql.FOLD)
        deltas, events = cursor.fetchone()
        cursor.execute(sql.FOLD_ENTITIES)
        if deltas:
            cursor.execute(sql.NAME_ERRORS)
    return Folded(int(deltas), int(events))


def _widen_postgresql(cursor: Any, current: RollupState, largest: int | None) -> None:
    if largest is None or largest < current.user_bits:
        return
    bits = current.user_bits
    while bits <= largest:
        bits *= 2
    for statement in sql.widen(current.user_bits, bits):
        cursor.execute(statement)
    current.user_bits = bits


# --- the same on other databases, in Python ----------------------------------------------


@dataclass(frozen=True)
class Row:
    """One delta, as the receiver or a rebuild makes it."""

    hour: datetime
    day: date
    type_id: int
    level: str
    user_id: int | None
    session_id: int
    fingerprint: str
    events: int
    first_at: datetime
    last_at: datetime
    first_id: int
    last_id: int


def _fold_python(current: RollupState) -> Folded:
    """SQLite's transactions take the write lock when they begin (``IMMEDIATE``), so no
    delta can arrive while this reads and deletes them."""
    deltas = list(Delta.objects.order_by("id"))
    rows = [_row(d) for d in deltas]
    entity_deltas = list(EntityDelta.objects.order_by("id"))
    Delta.objects.filter(id__in=[d.id for d in deltas]).delete()
    EntityDelta.objects.filter(id__in=[d.id for d in entity_deltas]).delete()
    apply_python(
        rows,
        [(d.day, d.content_type_id, d.object_id, d.changed, d.events) for d in entity_deltas],
    )
    return Folded(len(rows), sum(row.events for row in rows))


def _row(d: Delta) -> Row:
    return Row(
        d.hour,
        d.day,
        d.type_id,
        d.level,
        d.user_id,
        d.session_id,
        d.fingerprint,
        d.events,
        d.first_at,
        d.last_at,
        d.first_id,
        d.last_id,
    )


def apply_python(rows: list[Row], entities: Iterable[tuple[date, int, str, bool, int]]) -> None:
    """Add delta-shaped rows to every rollup (the Python twin of ``sql.FOLD``)."""
    _add_sums(TypeHour, ("hour", "type_id", "level"), rows, lambda r: (r.hour, r.type_id, r.level))
    users = [row for row in rows if row.user_id is not None]
    _add_spans(UserDay, ("day", "user_id"), users, lambda r: (r.day, r.user_id))
    _add_sums(
        UserTypeDay,
        ("type_id", "day", "level", "user_id"),
        users,
        lambda r: (r.type_id, r.day, r.level, r.user_id),
    )
    _add_spans(SessionDay, ("day", "session_id"), rows, lambda r: (r.day, r.session_id))
    _add_bits(
        UsersDay, ("day", "type_id", "level"), rows, lambda r: (r.day, r.type_id, r.level), True
    )
    _add_bits(
        UsersHour, ("hour", "type_id", "level"), users, lambda r: (r.hour, r.type_id, r.level)
    )
    errors = [row for row in rows if row.fingerprint]
    for model in (ErrorDay, ErrorWeek):
        _add_errors(
            model,
            (
                (r.fingerprint, r.day, r.events, 0 if r.user_id is None else 1 << r.user_id)
                for r in errors
            ),
        )
    _add_error_groups(errors)
    _add_first_seen(users)
    _add_entities(entities)


def _existing(model: Any, names: tuple[str, ...], keys: Iterable[tuple[Any, ...]]) -> dict:
    keys = list(keys)
    found: dict[tuple[Any, ...], Any] = {}
    if not keys:
        return found
    first = names[0]
    for obj in model.objects.filter(**{f"{first}__in": {key[0] for key in keys}}):
        found[tuple(getattr(obj, name) for name in names)] = obj
    return found


def _add_sums(model: Any, names: tuple[str, ...], rows: list[Row], key: Callable) -> None:
    sums: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        sums[key(row)] += row.events
    existing = _existing(model, names, sums)
    changed, new = [], []
    for k, events in sums.items():
        obj = existing.get(k)
        if obj is None:
            new.append(model(**dict(zip(names, k, strict=True)), events=events))
        else:
            obj.events += events
            changed.append(obj)
    model.objects.bulk_create(new)
    model.objects.bulk_update(changed, ["events"])


def _add_spans(model: Any, names: tuple[str, ...], rows: list[Row], key: Callable) -> None:
    spans: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        found = spans.get(key(row))
        if found is None:
            spans[key(row)] = [row.events, row.first_at, row.last_at, row.user_id]
        else:
            found[0] += row.events
            found[1] = min(found[1], row.first_at)
            found[2] = max(found[2], row.last_at)
    existing = _existing(model, names, spans)
    changed, new = [], []
    for k, (events, first_at, last_at, user_id) in spans.items():
        obj = existing.get(k)
        if obj is None:
            extra = {"user_id": user_id} if model is SessionDay else {}
            values = dict(zip(names, k, strict=True)) | extra
            obj = model(**values, events=events, first_at=first_at, last_at=last_at)
            new.append(obj)
        else:
            obj.events += events
            obj.first_at = min(obj.first_at, first_at)
            obj.last_at = max(obj.last_at, last_at)
            changed.append(obj)
        if model is SessionDay:
            obj.length_us = (obj.last_at - obj.first_at) // timedelta(microseconds=1)
    model.objects.bulk_create(new)
    updated = ["events", "first_at", "last_at"] + (["length_us"] if model is SessionDay else [])
    model.objects.bulk_update(changed, updated)


def _add_bits(
    model: Any, names: tuple[str, ...], rows: list[Row], key: Callable, events: bool = False
) -> None:
    """Add the users of ``rows`` to each key's bitmap (rows without a user add none);
    with ``events``, their count too."""
    sets: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        found = sets[key(row)]
        if row.user_id is not None:
            found.add(row.user_id)
        counts[key(row)] += row.events
    existing = _existing(model, names, sets)
    changed, new = [], []
    for k, ids in sets.items():
        obj = existing.get(k)
        value = fields.from_bytes(obj.users) if obj is not None else 0
        raw = fields.pack(value | fields.from_bytes(fields.to_bytes(ids, 0)))
        if obj is None:
            obj = model(**dict(zip(names, k, strict=True)), users=raw)
            new.append(obj)
        else:
            obj.users = raw
            changed.append(obj)
        if events:
            obj.events += counts[k]
    model.objects.bulk_create(new)
    model.objects.bulk_update(changed, ["users", "events"] if events else ["users"])


def _add_errors(model: Any, items: Iterable[tuple[str, date, int, int]]) -> None:
    """Add (fingerprint, day, events, users as a bitmap int) to an error rollup: by day,
    or by week with each weekday's count."""
    weekly = model is ErrorWeek
    period = "week" if weekly else "day"
    sums: dict[tuple[str, date], list[Any]] = {}
    for fingerprint, day, events, users in items:
        found = sums.setdefault((fingerprint, monday(day) if weekly else day), [[0] * 7, 0])
        found[0][day.weekday()] += events
        found[1] |= users
    existing = _existing(model, ("fingerprint", period), sums)
    changed, new = [], []
    for (fingerprint, start), (days, users) in sums.items():
        obj = existing.get((fingerprint, start))
        if obj is None:
            obj = model(fingerprint=fingerprint, events=0, **{period: start})
            new.append(obj)
        else:
            users |= fields.from_bytes(obj.users)
            changed.append(obj)
        obj.users = fields.pack(users)
        obj.events += sum(days)
        for name, events in zip(WEEKDAYS, days, strict=True) if weekly else ():
            setattr(obj, name, getattr(obj, name) + events)
    model.objects.bulk_create(new)
    model.objects.bulk_update(changed, ["events", "users", *(WEEKDAYS if weekly else ())])


def _add_error_groups(rows: list[Row]) -> None:
    from audit.models import AuditRecord

    groups: dict[str, list[Any]] = {}
    for row in rows:
        found = groups.get(row.fingerprint)
        if found is None:
            groups[row.fingerprint] = [
                row.type_id, row.events, row.first_at, row.last_at, row.first_id, row.last_id
            ]  # fmt: skip
        else:
            found[1] += row.events
            found[2] = min(found[2], row.first_at)
            found[3] = max(found[3], row.last_at)
            found[4] = min(found[4], row.first_id)
            found[5] = max(found[5], row.last_id)
    existing = {g.fingerprint: g for g in ErrorGroup.objects.filter(fingerprint__in=list(groups))}
    for fingerprint, (type_id, events, first_at, last_at, first_id, last_id) in groups.items():
        group = existing.get(fingerprint)
        if group is None:
            message = (
                AuditRecord.objects.filter(pk=first_id).values_list("message", flat=True).first()
            )
            ErrorGroup.objects.create(
                fingerprint=fingerprint,
                type_id=type_id,
                message=message,
                events=events,
                first_seen=first_at,
                last_seen=last_at,
                first_record_id=first_id,
                last_record_id=last_id,
            )
            continue
        group.events += events
        group.first_seen = min(group.first_seen, first_at)
        group.last_seen = max(group.last_seen, last_at)
        group.first_record_id = min(group.first_record_id, first_id)
        group.last_record_id = max(group.last_record_id, last_id)
        if group.status == "resolved" and group.resolved_at and last_at > group.resolved_at:
            group.status = "regressed"
        group.save()


def _add_first_seen(rows: list[Row]) -> None:
    first: dict[int, tuple[datetime, date]] = {}
    for row in rows:
        assert row.user_id is not None
        seen = first.get(row.user_id)
        if seen is None or row.first_at < seen[0]:
            first[row.user_id] = (row.first_at, min(row.day, seen[1]) if seen else row.day)
    existing = {u.user_id: u for u in UserFirstSeen.objects.filter(user_id__in=list(first))}
    for user_id, (first_at, first_day) in first.items():
        found = existing.get(user_id)
        if found is None:
            UserFirstSeen.objects.create(user_id=user_id, first_at=first_at, first_day=first_day)
        elif first_at < found.first_at:
            found.first_at, found.first_day = first_at, min(found.first_day, first_day)
            found.save()


def _add_entities(entities: Iterable[tuple[date, int, str, bool, int]]) -> None:
    days: dict[tuple[date, int, str, bool], int] = defaultdict(int)
    weeks: dict[tuple[date, int, str, bool], int] = defaultdict(int)
    for day, content_type_id, object_id, changed, events in entities:
        days[(day, content_type_id, object_id, changed)] += events
        weeks[(monday(day), content_type_id, object_id, changed)] += events
    _add_entity_sums(EntityDay, "day", days)
    _add_entity_sums(EntityWeek, "week", weeks)


def _add_entity_sums(model: Any, period: str, sums: dict[tuple[Any, ...], int]) -> None:
    names = (period, "content_type_id", "object_id", "changed")
    existing = _existing(model, names, sums)
    updated, new = [], []
    for key, events in sums.items():
        obj = existing.get(key)
        if obj is None:
            new.append(model(**dict(zip(names, key, strict=True)), events=events))
        else:
            obj.events += events
            updated.append(obj)
    model.objects.bulk_create(new)
    model.objects.bulk_update(updated, ["events"])


def delta_rows(records: Iterable[Any], zone: ZoneInfo) -> list[Row]:
    """Delta rows of stored records (``audit.StoredRecord`` or record-like rows with
    ``id``, ``created_at``, ``type_id``, ``level``, ``user_id``, ``session_id`` and
    ``fingerprint``), grouped as the trigger groups them."""
    grouped: dict[tuple[Any, ...], list[Any]] = {}
    for record in records:
        at = record.created_at
        key = (
            hour_of(at),
            at.astimezone(zone).date(),
            record.type_id,
            record.level,
            record.user_id,
            record.session_id,
            record.fingerprint or "",
        )
        found = grouped.get(key)
        if found is None:
            grouped[key] = [1, at, at, record.id, record.id]
        else:
            found[0] += 1
            found[1], found[2] = min(found[1], at), max(found[2], at)
            found[3], found[4] = min(found[3], record.id), max(found[4], record.id)
    return [Row(*key, *value) for key, value in grouped.items()]


def entity_rows(
    links: Iterable[tuple[datetime, int, str, str, str]], zone: ZoneInfo
) -> list[tuple[date, int, str, bool, int]]:
    """Entity delta rows of links given as (time, content type id, object id, role,
    type name of the record)."""
    sums: dict[tuple[date, int, str, bool], int] = defaultdict(int)
    for at, content_type_id, object_id, role, type_name in links:
        changed = role == "" and CHANGE_TYPES.search(type_name) is not None
        sums[(at.astimezone(zone).date(), content_type_id, object_id, changed)] += 1
    return [(*key, events) for key, events in sums.items()]


def hour_of(at: datetime) -> datetime:
    return at.astimezone(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)


def days_between(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


# --- rebuilding and forgetting ------------------------------------------------------------

REBUILD_CHUNK = 200_000  # records per step of a rebuild
_NEUTRAL_GROUP = {"events": 0, "first_record_id": 2**62, "last_record_id": 0}


def rebuild(progress: Callable[[int, int], None] | None = None) -> int:
    """Recompute every rollup from the records (after a restore, or a change of
    ``TIME_ZONE`` or of the rollups' shape); returns how many records were counted.

    One transaction, which sees one snapshot of the records and of the deltas: the
    deltas and pending records it drops are exactly those of the records it counts, and
    records committed meanwhile keep theirs for the next fold. Error groups keep their status."""
    from audit.models import AuditRecord

    audit.settle_staged()  # every change committed so far is counted, as a record
    outermost = not connection.in_atomic_block
    with transaction.atomic(), audit.disabled(), audit.as_stored():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:  # inside a caller's transaction its snapshot rules
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                _lock(cursor)
        current = state()
        Delta.objects.all().delete()
        EntityDelta.objects.all().delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {sql.PENDING_TABLE}")
        for model in ROLLUPS:
            if model is not ErrorGroup:
                model.objects.all().delete()
        ErrorGroup.objects.update(
            **_NEUTRAL_GROUP,
            first_seen=timezone.now(),
            last_seen=datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")),
        )
        bounds = AuditRecord.objects.aggregate(low=Min("id"), high=Max("id"), n=Count("id"))
        largest_user = AuditRecord.objects.aggregate(n=Max("user_id"))["n"] or 0
        current.time_zone = zone_name()
        bits = 4096
        while bits <= largest_user:
            bits *= 2
        RollupState.objects.filter(pk=current.pk).update(
            time_zone=current.time_zone, user_bits=bits, rebuilt_at=timezone.now()
        )
        _zone_cache.clear()
        total, done = int(bounds["n"] or 0), 0
        low, high = bounds["low"], bounds["high"]
        step = low
        while low is not None and step <= high:
            last = step + REBUILD_CHUNK - 1
            _add_range(current.time_zone, {"low": step, "high": last})
            done = AuditRecord.objects.filter(id__lte=last).count() if progress else 0
            if progress is not None:
                progress(done, total)
            step = last + 1
        _settle_groups()
    return total


def _add_range(zone: str, bounds: dict[str, Any], where: tuple[str, str] = sql.BY_ID) -> None:
    """Add the records of a range (ids, or times) to every rollup."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in sql.add_statements(where):
                cursor.execute(statement, {"zone": zone, **bounds})
        return
    from audit.models import AuditRecord, EntityLink

    if where is sql.BY_ID:
        records = AuditRecord.objects.filter(id__gte=bounds["low"], id__lte=bounds["high"])
        links = EntityLink.objects.filter(
            record_id__gte=bounds["low"], record_id__lte=bounds["high"]
        )
    else:
        records = AuditRecord.objects.filter(
            created_at__gte=bounds["since"], created_at__lt=bounds["until"]
        )
        links = EntityLink.objects.filter(
            created_at__gte=bounds["since"], created_at__lt=bounds["until"]
        )
    tz = ZoneInfo(zone)
    rows = delta_rows(
        records.only(
            "id", "created_at", "type_id", "level", "user_id", "session_id", "fingerprint"
        ),
        tz,
    )
    entity = entity_rows(
        links.values_list(
            "created_at", "content_type_id", "object_id", "role", "record__type__name"
        ),
        tz,
    )
    apply_python(rows, entity)


def _settle_groups() -> None:
    """Groups with no records left go; new ones take their first occurrence's message."""
    ErrorGroup.objects.filter(events=0).delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql.NAME_ERRORS)


def forget_before(cutoff: datetime) -> None:
    """After the retention purge: drop the rollups' rows of the purged period, and
    recount the day that ``cutoff`` cuts in two from the records that remain."""
    fold()
    with transaction.atomic(), audit.disabled():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                _lock(cursor)
        tz = zone()
        first_day = cutoff.astimezone(tz).date()
        since = datetime.combine(first_day, datetime.min.time(), tz)
        until = datetime.combine(first_day + timedelta(days=1), datetime.min.time(), tz)
        for by_day in (UserDay, UsersDay, UserTypeDay, SessionDay, ErrorDay, EntityDay):
            by_day.objects.filter(day__lte=first_day).delete()
        for by_week in (ErrorWeek, EntityWeek):
            by_week.objects.filter(week__lte=first_day).delete()
        for by_hour in (TypeHour, UsersHour):
            by_hour.objects.filter(hour__lt=until).delete()
        # The hours of the cut day before its start in UTC were dropped above too;
        # recount from that day's start (and every hour rolled up at its UTC hour).
        start = min(since, hour_of(since))
        _add_range(str(tz.key), {"since": start, "until": until}, sql.BY_TIME)
        # The cut week's row now holds the cut day only: make it again from its days.
        week = monday(first_day)
        weeks_from_days(week, week + timedelta(days=6))
        _recount_groups()


def weeks_from_days(
    first: date | None = None, last: date | None = None, *, weeks: tuple[Any, ...] = ()
) -> None:
    """Make the week rollups (``weeks``: all by default) of the days ``first`` to
    ``last`` (whole weeks; every day kept by default) again from the day rollups, which
    hold everything a week sums: the purge's cut week, and the migrations that made the
    week rollups."""
    rollups: tuple[tuple[Any, Any, str], ...] = (
        (ErrorWeek, ErrorDay, sql.ERROR_WEEKS_FROM_DAYS),
        (EntityWeek, EntityDay, sql.ENTITY_WEEKS_FROM_DAYS),
    )
    for week_model, day_model, statement in rollups:
        if weeks and week_model not in weeks:
            continue
        low, high = first, last
        if low is None or high is None:
            span = day_model.objects.aggregate(first=Min("day"), last=Max("day"))
            low, high = low or span["first"], high or span["last"]
        if low is None or high is None:
            continue
        week_model.objects.filter(week__gte=monday(low), week__lte=high).delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(statement, {"first": monday(low), "last": high})
            continue
        days = day_model.objects.filter(day__gte=monday(low), day__lte=high)
        if week_model is ErrorWeek:
            rows = days.values_list("fingerprint", "day", "events", "users")
            _add_errors(ErrorWeek, ((f, d, n, fields.from_bytes(u)) for f, d, n, u in rows))
            continue
        sums: dict[tuple[Any, ...], int] = defaultdict(int)
        entity = ("content_type_id", "object_id", "changed")
        for day, *key, events in days.values_list("day", *entity, "events"):
            sums[(monday(day), *key)] += events
        _add_entity_sums(EntityWeek, "week", sums)


def _recount_groups() -> None:
    """Error groups' counts and first occurrence, from what remains."""
    from audit.models import AuditRecord

    sums = dict(
        ErrorDay.objects.values("fingerprint")
        .annotate(n=Sum("events"))
        .values_list("fingerprint", "n")
    )
    for group in ErrorGroup.objects.all():
        events = sums.get(group.fingerprint, 0)
        if not events:
            group.delete()
            continue
        first = (
            AuditRecord.objects.filter(fingerprint=group.fingerprint)
            .order_by("id")
            .values_list("id", "created_at")
            .first()
        )
        if first is None:
            group.delete()
            continue
        ErrorGroup.objects.filter(pk=group.pk).update(
            events=events, first_record_id=first[0], first_seen=first[1]
        )


_zone_cache: dict[str, ZoneInfo] = {}
