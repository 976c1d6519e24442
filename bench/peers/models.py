"""One model per variant of ``bench/tracking_peers.py``, all with the fields of a
catalog entity that a save writes (``catalog.models.Entity`` without its sharing
many-to-many fields, which no save in the benchmark touches).

``PlainItem`` is tracked by nothing; ``OursItem`` by the audit app and
``AuditlogItem`` by django-auditlog, both registered in ``apps.py``;
``PghistoryItem`` by django-pghistory's triggers; ``SimpleHistoryItem`` by
django-simple-history's historical table.
"""

from __future__ import annotations

import uuid

import pghistory
from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords


class Item(models.Model):
    """What ``catalog.Project`` stores: a UUID key, two text fields, an owner, two
    times (``updated_at`` indexed, as the catalog's) and a flag."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="%(app_label)s_%(class)s_owned",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    published = models.BooleanField(default=False, editable=False)

    class Meta:
        abstract = True
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["-updated_at"], name="bp_%(class)s_updated")]

    def __str__(self) -> str:
        return self.name


class PlainItem(Item):
    """The baseline: no tracking at all."""


class OursItem(Item):
    """Tracked by the audit app (``audit.register(..., track=True)`` in ``apps.py``)."""


@pghistory.track()
class PghistoryItem(Item):
    """Tracked by django-pghistory: its default trackers (insert and update) are
    triggers that copy the row into ``PghistoryItemEvent``."""


class SimpleHistoryItem(Item):
    """Tracked by django-simple-history: ``post_save`` writes ``HistoricalSimpleHistoryItem``."""

    history = HistoricalRecords()


class AuditlogItem(Item):
    """Tracked by django-auditlog (``auditlog.register`` in ``apps.py``): a ``LogEntry``
    per create and per change."""
