"""Rollups of the trail: the figures of usage analysis, kept from what is stored.

Analysis never reads the records table for an answer: it reads these small tables, whose
size grows with days x users x types, not with records. They are kept exact and current
in two steps:

1. **Deltas.** In the transaction that stores records, their counts are added to
   ``Delta`` and ``EntityDelta`` as new rows, grouped per statement (on PostgreSQL by
   triggers on the records and links tables, ``analysis.sql``; elsewhere by a receiver
   of ``records_stored``). Nothing is updated in place on that path, so concurrent
   writers never wait for each other, and a rolled-back batch leaves no delta. A
   tracked save's one record leaves only its id (``analysis_pending``, PostgreSQL).
2. **Fold.** ``analysis.rollups.fold`` turns the pending ids into deltas from their
   records, then moves the deltas into the rollups: it deletes a set of delta rows and
   adds their sums to the rollups in one transaction, so each delta is counted once. It
   runs every couple of seconds (Celery beat) and before each analysis answer, so an
   answer includes every record committed before it.

Days are days in the analysis time zone (``TIME_ZONE``, kept in ``RollupState``); hours
are UTC hours, for other time zones and hourly buckets. ``manage.py analysis_rebuild``
recomputes everything from the records.
"""

from __future__ import annotations

from django.db import models

from .fields import UserSetField


class RollupState(models.Model):
    """One row: the time zone the day rollups were made in, and when they were last
    folded and rebuilt (shown on the analysis pages)."""

    time_zone = models.CharField(max_length=64)
    user_bits = models.IntegerField(
        default=4096, help_text="Length of every users bitmap: above the largest user id."
    )
    folded_at = models.DateTimeField(null=True, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollups in {self.time_zone}"


class Delta(models.Model):
    """Counts of stored records not folded yet, per statement and key."""

    hour = models.DateTimeField()
    day = models.DateField()
    type_id = models.BigIntegerField()
    level = models.CharField(max_length=8)
    user_id = models.BigIntegerField(null=True)
    session_id = models.BigIntegerField()
    fingerprint = models.CharField(max_length=40, blank=True)
    events = models.IntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"+{self.events} type #{self.type_id} at {self.hour:%Y-%m-%d %H}:00"


class EntityDelta(models.Model):
    """Counts of entity links not folded yet: how often an entity was used or changed."""

    day = models.DateField()
    content_type_id = models.IntegerField()
    object_id = models.CharField(max_length=64)
    changed = models.BooleanField()
    events = models.IntegerField()

    def __str__(self) -> str:
        return f"+{self.events} {self.content_type_id}:{self.object_id} on {self.day}"


class TypeHour(models.Model):
    """Events per UTC hour, type and level: the series and the types of every answer."""

    hour = models.DateTimeField()
    type_id = models.BigIntegerField()
    level = models.CharField(max_length=8)
    events = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "type_id", "level"], name="analysis_th_key")
        ]

    def __str__(self) -> str:
        return f"{self.events} of type #{self.type_id} at {self.hour:%Y-%m-%d %H}:00"


class UserDay(models.Model):
    """A user's events on a day: active users, new users, the most active users."""

    day = models.DateField()
    user_id = models.BigIntegerField()
    events = models.BigIntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user_id"], name="analysis_ud_key")]
        indexes = [models.Index(fields=["user_id", "day"], name="analysis_ud_user")]

    def __str__(self) -> str:
        return f"user #{self.user_id}: {self.events} on {self.day}"


class UsersDay(models.Model):
    """The events of a type and level on a day, and which users had them, as a bitmap of
    user ids: distinct users over any days are the bits of their OR, so the answer reads
    one row per day and type, however many records and users there are. The count makes
    the same row answer events per day and type, where ``TypeHour`` would read 24 rows
    (the answers of whole days in the rollups' zone: the overview's, by day or week)."""

    day = models.DateField()
    type_id = models.BigIntegerField()
    level = models.CharField(max_length=8)
    events = models.BigIntegerField(default=0, help_text="Records without a user included.")
    users = UserSetField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "type_id", "level"], name="analysis_usd_key")
        ]

    def __str__(self) -> str:
        return f"users of type #{self.type_id} on {self.day}"


class UsersHour(models.Model):
    """The same by UTC hour: hourly buckets, and the days of another time zone."""

    hour = models.DateTimeField()
    type_id = models.BigIntegerField()
    level = models.CharField(max_length=8)
    users = UserSetField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "type_id", "level"], name="analysis_ush_key")
        ]

    def __str__(self) -> str:
        return f"users of type #{self.type_id} at {self.hour:%Y-%m-%d %H}:00"


class UserTypeDay(models.Model):
    """A user's events of a type and level on a day: the most active users under a
    type or level filter."""

    day = models.DateField()
    type_id = models.BigIntegerField()
    level = models.CharField(max_length=8)
    user_id = models.BigIntegerField()
    events = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["type_id", "day", "level", "user_id"], name="analysis_utd_key"
            )
        ]

    def __str__(self) -> str:
        return f"user #{self.user_id}: {self.events} of type #{self.type_id} on {self.day}"


class SessionDay(models.Model):
    """A session's events on a day: sessions per day, their length, a user's sessions."""

    day = models.DateField()
    session_id = models.BigIntegerField()
    user_id = models.BigIntegerField(null=True)
    events = models.BigIntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    # The median length sorts these: integers sort at half the cost of intervals.
    length_us = models.BigIntegerField(default=0, help_text="last_at - first_at, microseconds.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "session_id"], name="analysis_sd_key")
        ]
        indexes = [
            # The most active users' sessions: a few users' rows, from the index alone.
            models.Index(
                fields=["user_id", "day"], include=["session_id"], name="analysis_sd_user"
            ),
            # A period's sessions and the median of their lengths, from the index alone
            # (16 against 11 ms for 30 days of 81,000 session-days).
            models.Index(
                fields=["day"], include=["session_id", "length_us"], name="analysis_sd_day_lengths"
            ),
        ]

    def __str__(self) -> str:
        return f"session #{self.session_id}: {self.events} on {self.day}"


class ErrorStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"
    REGRESSED = "regressed", "Regressed"


class ErrorGroup(models.Model):
    """One error, all its occurrences: the records that share a fingerprint."""

    fingerprint = models.CharField(max_length=40, primary_key=True)
    type_id = models.BigIntegerField()
    # NULL until the fold names the group after its first occurrence ("" is a message).
    message = models.TextField(null=True, blank=True, help_text="The first occurrence's.")  # noqa: DJ001
    events = models.BigIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    first_record_id = models.BigIntegerField()
    last_record_id = models.BigIntegerField(help_text="The newest occurrence: the sample.")
    status = models.CharField(max_length=10, choices=ErrorStatus.choices, default=ErrorStatus.OPEN)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(
        null=True, blank=True, help_text="An occurrence after this makes it regressed."
    )

    class Meta:
        indexes = [
            models.Index(fields=["-last_seen"], name="analysis_eg_last"),
            models.Index(fields=["-events"], name="analysis_eg_events"),
        ]

    def __str__(self) -> str:
        return f"{(self.message or '')[:60]} ({self.events})"


class ErrorDay(models.Model):
    """An error's occurrences on a day, and the users they hit (a bitmap): its trend
    and its distinct users over any days."""

    day = models.DateField()
    fingerprint = models.CharField(max_length=40)
    events = models.BigIntegerField()
    users = UserSetField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "day"], name="analysis_ed_key")
        ]
        # The error list sums each group's events over the period's days: with the
        # count in the index it reads the index alone (PostgreSQL), not rows made wide
        # by the users bitmap (half a kilobyte for 2,000 users; 9 ms for 90 days of 300
        # groups against 5 ms).
        indexes = [
            models.Index(
                fields=["day", "fingerprint"], include=["events"], name="analysis_ed_day_events"
            )
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint[:8]}: {self.events} on {self.day}"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ErrorWeek(models.Model):
    """An error's occurrences in a week (Monday to Sunday, days of the rollups' zone): in
    all, per day, and the users they hit.

    Why beside ``ErrorDay``: once a group occurs every day, a period's counts, trends and
    users read a row a group and day, so the error list grew with the trail until every
    day was filled (26,000 day rows for 90 days at 10 million records against 4,000 at
    100,000). A week row carries its seven days' counts, so the counts and trends of any
    period read a row a group and week; the users of the period's whole weeks come from
    the week's bitmap, and only the days at its two ends from ``ErrorDay``."""

    week = models.DateField(help_text="Its Monday.")
    fingerprint = models.CharField(max_length=40)
    events = models.BigIntegerField()
    mon = models.BigIntegerField(default=0)
    tue = models.BigIntegerField(default=0)
    wed = models.BigIntegerField(default=0)
    thu = models.BigIntegerField(default=0)
    fri = models.BigIntegerField(default=0)
    sat = models.BigIntegerField(default=0)
    sun = models.BigIntegerField(default=0)
    users = UserSetField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "week"], name="analysis_ew_key")
        ]
        # Every group's counts over a period read this index alone (PostgreSQL), not
        # rows made wide by the users bitmap.
        indexes = [
            models.Index(
                fields=["week", "fingerprint"],
                include=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                name="analysis_ew_week_days",
            )
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint[:8]}: {self.events} in the week of {self.week}"


class _EntityCounts(models.Model):
    """How often an entity was used (linked by any record) or changed in a period."""

    content_type_id = models.IntegerField()
    object_id = models.CharField(max_length=64)
    changed = models.BooleanField()
    events = models.BigIntegerField()

    class Meta:
        abstract = True


class EntityDay(_EntityCounts):
    """How often an entity was used (linked by any record) or changed on a day."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "content_type_id", "object_id", "changed"],
                name="analysis_entd_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id}: {self.events} on {self.day}"


class EntityWeek(_EntityCounts):
    """The same by week (Monday to Sunday, days of the rollups' zone): the entities of a
    period sum its whole weeks here and only the days at its ends from ``EntityDay``, a
    quarter of the rows for 30 days once most entities are used every day."""

    week = models.DateField(help_text="Its Monday.")

    class Meta:
        constraints = [
            # The count in the key's index: a period's weeks are read from it alone.
            models.UniqueConstraint(
                fields=["week", "content_type_id", "object_id", "changed"],
                include=["events"],
                name="analysis_entw_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id}: {self.events} in the week of {self.week}"


class UserFirstSeen(models.Model):
    """When each user was first seen in the trail: new users per period."""

    user_id = models.BigIntegerField(primary_key=True)
    first_at = models.DateTimeField()
    first_day = models.DateField()

    def __str__(self) -> str:
        return f"user #{self.user_id} since {self.first_day}"
