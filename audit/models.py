"""The audit data model: event types, user sessions, records and their entity links.

Records and links are append-only. On PostgreSQL a trigger (migration 0003) refuses
UPDATE and DELETE on them except inside ``audit.purge``; foreign keys from records to
users carry no database constraint, so deleting a user never has to touch the trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Now

from . import registry
from .levels import Level
from .signals import event_types_updated


class RenameRefused(ValidationError):
    """A type with records keeps its name: its records say what they are by it."""


class EventTypeQuerySet(models.QuerySet["EventType"]):
    def update(self, **kwargs: object) -> int:
        """Bulk updates send no ``post_save``: ``event_types_updated`` tells the switches'
        cache instead."""
        if "name" in kwargs and AuditRecord.objects.filter(type__in=self).exists():
            raise RenameRefused("Event types that have records cannot be renamed.")
        count = super().update(**kwargs)
        event_types_updated.send(sender=EventType)
        return count

    def bulk_create(
        self,
        objs: Iterable[EventType],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[EventType]:
        """An upsert is an update too: it may not rename a type that has records, and
        it tells the switches' cache, as ``update`` does."""
        objs = list(objs)
        if update_conflicts and "name" in (update_fields or ()):
            names = {obj.pk: obj.name for obj in objs if obj.pk is not None}
            stored = EventType.objects.filter(pk__in=list(names)).values_list("pk", "name")
            renamed = [pk for pk, name in stored if names.get(pk, name) != name]
            if renamed and AuditRecord.objects.filter(type_id__in=renamed).exists():
                raise RenameRefused("Event types that have records cannot be renamed.")
        created = super().bulk_create(
            objs,
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_conflicts=update_conflicts,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )
        if update_conflicts:
            event_types_updated.send(sender=EventType)
        return created


class EventType(models.Model):
    """A kind of audit event: one of the 47 built-in types or a custom one."""

    name = models.CharField(max_length=64, unique=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    description = models.CharField(max_length=200, blank=True)
    built_in = models.BooleanField(default=False, editable=False)
    enabled = models.BooleanField(
        default=True, help_text="Off: events of this type are dropped for everyone."
    )
    disabled_for = models.ManyToManyField(
        Group,
        blank=True,
        related_name="disabled_event_types",
        help_text="Events of this type are dropped for members of these groups.",
    )
    server_only = models.BooleanField(
        default=False,
        help_text=(
            "Only the server records it (changes of entities, sharing, switches, sessions): "
            "clients other than trusted service tokens cannot post it."
        ),
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The user whose client registered this custom type (counted in their cap).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Declared: tracking (audit.apps registers this model with track=True) swaps the
    # manager's class for a subclass built at run time, which django-stubs' plugin cannot
    # look up by name to infer it. A Manager of event types is what it is.
    objects: ClassVar[models.Manager[EventType]] = EventTypeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refuse a rename once records exist (one query, only when the type exists)."""
        if self.pk is not None and (
            kwargs.get("update_fields") is None or "name" in kwargs["update_fields"]
        ):
            renamed = EventType.objects.filter(pk=self.pk).exclude(name=self.name).exists()
            if renamed and AuditRecord.objects.filter(type_id=self.pk).exists():
                raise RenameRefused(
                    f"Event type #{self.pk} has records: it cannot be renamed to {self.name!r}."
                )
        super().save(*args, **kwargs)


class SessionKind(models.TextChoices):
    BROWSER = "browser", "Browser"
    API = "api", "API token"
    SERVER = "server", "Server process"
    ANONYMOUS = "anonymous", "Anonymous"


class UserSession(models.Model):
    """One sitting of a user (or of a server process): every record belongs to one."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_sessions",
    )
    kind = models.CharField(max_length=10, choices=SessionKind.choices)
    started_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())
    ended_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    client = models.CharField(
        max_length=128,
        blank=True,
        help_text="What opened it: host and process for servers, token for API clients.",
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "-started_at"], name="audit_sess_user_started"),
            models.Index(fields=["-started_at"], name="audit_sess_started"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} session {self.uuid}"


class Source(models.TextChoices):
    CLIENT = "client", "Client"
    SERVER = "server", "Server"


# Run before each read of records or links through the ORM: ``audit.staged`` puts its
# ``settle`` here when it is imported (the app's ``ready`` imports it), since it reads
# and writes these models and this module cannot import it.
BEFORE_READ: list[Callable[[], object]] = []


def _settle() -> None:
    for hook in BEFORE_READ:
        hook()


class SettledQuerySet(models.QuerySet[Any]):
    """Records and links read through the ORM show every change committed before the
    read: with deferred tracking (``audit.staged``) a change committed a moment ago may
    still be staged, so each way of evaluating a queryset first has ``staged.settle``
    store it (one query when nothing is staged, none when tracking is not deferred).
    Building a queryset reads nothing; the pages' fixed statements (``audit.page_sql``)
    settle themselves."""

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            _settle()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None) -> Any:
        _settle()
        return super().iterator(chunk_size)

    def count(self) -> int:
        if self._result_cache is None:
            _settle()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            _settle()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        _settle()
        return super().aggregate(*args, **kwargs)


class AuditRecord(models.Model):
    """One audit event as stored. Written in bulk by ``audit.recording``, never edited."""

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(
        unique=True,
        editable=False,
        help_text="The client's idempotency key, or one the server made.",
    )
    # Foreign keys below get no index of their own: the composite indexes in Meta
    # lead with them, and every extra index is paid on each insert. Nor do they get a
    # database constraint: records are written only by ``audit.storage`` from ids it
    # resolved, and are never updated, while a constraint would check, and lock FOR KEY
    # SHARE, the event type's and the session's rows on every insert: a lookup per
    # record, and a row that every concurrent writer of that type locks. PROTECT still
    # holds where rows are deleted, in the ORM.
    type = models.ForeignKey(
        EventType,
        on_delete=models.PROTECT,
        related_name="records",
        db_index=False,
        db_constraint=False,
    )
    level = models.CharField(max_length=8, choices=Level.choices)
    message = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    changes = models.JSONField(null=True, blank=True)
    stack_trace = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=40, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    session = models.ForeignKey(
        UserSession,
        on_delete=models.PROTECT,
        related_name="records",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(help_text="Server time the record was stored.")
    client_time = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=6, choices=Source.choices)
    request_id = models.CharField(max_length=64, blank=True)

    objects: ClassVar[models.Manager[AuditRecord]] = SettledQuerySet.as_manager()

    class Meta:
        permissions = [
            (
                "trusted_service",
                "Can post server-only types and link any entity, with an API token",
            ),
            ("view_analysis", "Can view usage analysis (figures, errors, downloads)"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="audit_rec_created"),
            models.Index(fields=["user", "-id"], name="audit_rec_user"),
            models.Index(fields=["session", "-id"], name="audit_rec_session"),
            models.Index(fields=["type", "-id"], name="audit_rec_type"),
            models.Index(fields=["level", "-id"], name="audit_rec_level"),
            models.Index(
                fields=["fingerprint", "-id"],
                name="audit_rec_fingerprint",
                condition=~models.Q(fingerprint=""),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type.name} {self.message[:40]}"


class EntityLink(models.Model):
    """A record touches an entity. Carries the record's time so that an entity's history,
    newest first, is one index range scan without a join to sort on."""

    id = models.BigAutoField(primary_key=True)
    # No database constraints, as on AuditRecord: links are inserted with their record,
    # in the same statement, and never changed.
    record = models.ForeignKey(
        AuditRecord, on_delete=models.DO_NOTHING, related_name="links", db_constraint=False
    )
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    object_id = models.CharField(max_length=64)
    role = models.CharField(max_length=32, blank=True)
    name = models.CharField(
        max_length=200, blank=True, help_text="The entity's name when the record was written."
    )
    created_at = models.DateTimeField()
    # The record's type, copied: a panel filtered by type reads the entity's links of
    # that type from an index, in order, instead of a window of all its links and
    # their records by key (a type with a few records on an entity of a million read
    # 2,000 links and records a request, and showed a short page). Not sealed: the
    # record's own type is, and ``audit_verify`` checks the copy against it.
    type = models.ForeignKey(
        EventType,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The record's user, copied for the same reason: a panel filtered by a user who acted
    # on the entity a few times reads those links from an index. Not sealed either.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )

    objects: ClassVar[models.Manager[EntityLink]] = SettledQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["content_type", "object_id", "-record"], name="audit_link_entity"),
            models.Index(
                fields=["content_type", "object_id", "type", "-record"],
                name="audit_link_entity_type",
            ),
            models.Index(
                fields=["content_type", "object_id", "user", "-record"],
                name="audit_link_entity_user",
            ),
        ]

    def __str__(self) -> str:
        return f"record {self.record_id} -> {self.content_type_id}:{self.object_id}"

    @property
    def kind(self) -> str:
        """The registered entity kind of what the link points to (its model's name when
        the model is not registered or gone): how pages label it. Reads the content
        type: select it with the link."""
        model = self.content_type.model_class()
        entry = registry.for_model(model) if model is not None else None
        return entry.kind if entry is not None else self.content_type.model


class DroppedCount(models.Model):
    """How many events the switches dropped, per hour, type and group.

    Names rather than keys: the count is history, and "" as the group stands for the
    global switch (a NULL would defeat the unique constraint the upsert relies on).
    Written by ``audit.dropped``, a flush every few seconds, never a write per event.
    """

    hour = models.DateTimeField()
    event_type = models.CharField(max_length=64)
    group = models.CharField(
        max_length=150, blank=True, help_text="Empty: switched off for everyone."
    )
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "event_type", "group"], name="audit_dropped_unique"
            )
        ]
        indexes = [models.Index(fields=["-hour"], name="audit_dropped_hour")]

    def __str__(self) -> str:
        return f"{self.event_type} for {self.group or 'everyone'} at {self.hour:%Y-%m-%d %H}:00"


class IngestCounter(models.Model):
    """Ingest counts of one user in one time window, when the shared cache cannot hold
    them (no Redis, or Redis away): the limit then still holds across every process.
    Written by ``audit.throttling`` with one upsert per limit and request."""

    ident = models.CharField(max_length=64)
    what = models.CharField(max_length=16)
    window_start = models.BigIntegerField(help_text="Seconds since 1970.")
    count = models.BigIntegerField(default=0)
    expires_at = models.BigIntegerField(help_text="Seconds since 1970; then it may go.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ident", "what", "window_start"], name="audit_ingest_counter_unique"
            )
        ]
        indexes = [models.Index(fields=["expires_at"], name="audit_ingest_counter_exp")]

    def __str__(self) -> str:
        return f"{self.ident} {self.what} at {self.window_start}: {self.count}"


class Seal(models.Model):
    """A hash over a block of records, chained to the previous seal's (``audit.seals``).

    Every stored column of every record of the block and of its links goes into it, in
    id order, in a documented canonical form; a record changed, removed or added behind
    the seal's back, or a seal changed or removed, breaks the chain. ``record_hashes``
    keeps the first 8 bytes of each record's own hash, so that verification can name the
    record that changed. Append-only on PostgreSQL, like the records.
    """

    id = models.BigAutoField(primary_key=True)
    first_record_id = models.BigIntegerField()
    last_record_id = models.BigIntegerField()
    records = models.IntegerField()
    links = models.IntegerField()
    record_ids = models.TextField(help_text="The ids sealed, as ranges: 1-500,502-900.")
    record_hashes = models.BinaryField(help_text="8 bytes of each record's hash, in order.")
    last_at = models.DateTimeField(help_text="When the newest record of the block was stored.")
    previous = models.CharField(max_length=64, blank=True, help_text="The chain's last digest.")
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    record = models.BigIntegerField(
        null=True, help_text="The trail-sealed record that carries the digest to the witness."
    )
    form = models.SmallIntegerField(
        default=1,
        help_text="How each record was written to be hashed: 1 JSON text, 2 PostgreSQL's "
        "row text, 3 PostgreSQL's binary row (audit.seals).",
    )

    class Meta:
        indexes = [models.Index(fields=["record"], name="audit_seal_record")]

    def __str__(self) -> str:
        return f"seal #{self.pk} of records #{self.first_record_id}-#{self.last_record_id}"


class IntegrityState(models.Model):
    """One row: where verification starts (the first seal, or the first kept after a
    purge), when the trail was last verified and what was found, when the latest seal
    was witnessed. Not evidence itself, so it may change."""

    anchor_seal = models.BigIntegerField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_ok = models.BooleanField(null=True, blank=True)
    verified_problem = models.TextField(blank=True)
    verified_seals = models.IntegerField(default=0)
    witnessed_seal = models.BigIntegerField(null=True, blank=True)
    witnessed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "the trail's integrity"


class StagedChange(models.Model):
    """A tracked save's record, waiting to be stored (``AUDIT_DEFERRED_TRACKING``).

    The save's own statement writes this narrow row, in the save's transaction, instead
    of the record: no other index than the key, and a trigger only on delete. ``events``
    holds what the save is about, described and masked as a record would say it; its
    events are built from it when its records are. ``audit.staged.drain`` turns rows
    into records in batches after commit and deletes them in the same transaction, so
    each becomes its records exactly once; the database lets a row go only once its
    first record is stored under the row's ``uuid`` (``sql.STAGED_GUARD``). A row that
    cannot be built keeps its ``error`` and waits for an operator: it is never dropped.
    """

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(
        help_text="The uuid the change's first record is stored under: the row "
        "may be deleted only once that record exists."
    )
    events = models.JSONField(
        help_text="What the save changed: the entity's kind and name, whether it was "
        "created, the fields' changes and the entities the records link."
    )
    # No constraint, no index, as on records: written by ``audit.staged`` from ids it
    # resolved, read only by key.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    session_id = models.BigIntegerField()
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(help_text="When the change was saved.")
    error = models.TextField(blank=True, help_text="Why the row could not become a record.")

    def __str__(self) -> str:
        return f"staged change #{self.pk}"
