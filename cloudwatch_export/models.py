"""Settings -> Log: the export's settings, the type -> stream map, the outbox and the
per-stream status.

The outbox is filled by the database itself on PostgreSQL (trigger of migration 0002,
which inserts ``record_id``, ``stream`` and ``record_time`` and relies on the database
defaults of the other columns), by a ``records_stored`` receiver elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models.functions import Now

from audit.models import AuditRecord, EventType

from . import crypto
from .validation import (
    validate_access_key,
    validate_aws_access_key,
    validate_endpoint_url,
    validate_log_group,
    validate_region,
    validate_stream,
)

SINGLETON_ID = 1


class MessageFormat(models.TextChoices):
    JSON = "json", "JSON (the record as the read API shows it)"
    TEXT = "text", "Text (one line: time, type, user, record id, level, message)"


class ExportSettings(models.Model):
    """The one row of export settings (a singleton: its id is always 1).

    The secret key is stored only as a Fernet token (``crypto``); nothing here prints
    it: not ``str``, not ``repr``, not the admin, not the commands.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    enabled = models.BooleanField(
        default=False, help_text="Off: mapped records are no longer queued for export."
    )
    log_group = models.CharField(
        max_length=512,
        blank=True,
        validators=[validate_log_group],
        help_text="CloudWatch Logs log group; created on the first export if missing.",
    )
    region = models.CharField(
        max_length=32, blank=True, validators=[validate_region], help_text="e.g. eu-west-1"
    )
    access_key = models.CharField(
        max_length=128,
        blank=True,
        validators=[validate_access_key],
        help_text="Empty: boto3's default credential chain (environment, instance role).",
    )
    secret_key_encrypted = models.TextField(blank=True, editable=False)
    endpoint_url = models.CharField(
        "endpoint URL",
        max_length=300,
        blank=True,
        validators=[validate_endpoint_url],
        help_text="Only for a CloudWatch-compatible endpoint (a VPC endpoint, a test "
        "server). Empty: AWS's endpoint for the region, or AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.",
    )
    message_format = models.CharField(
        max_length=4, choices=MessageFormat.choices, default=MessageFormat.JSON
    )
    seal_stream = models.CharField(
        max_length=512,
        blank=True,
        default="audit-seals",
        db_default="audit-seals",
        validators=[validate_stream],
        help_text="The stream that witnesses the trail's seals (each seal's digest, as its "
        "trail-sealed record): a copy the database's owner cannot rewrite, which "
        "manage.py audit_verify --witness cloudwatch compares. Empty: no witness.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CloudWatch Logs export settings"
        verbose_name_plural = "CloudWatch Logs export settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=SINGLETON_ID), name="cloudwatch_settings_singleton"
            )
        ]

    def __str__(self) -> str:
        return "CloudWatch Logs export"

    def __repr__(self) -> str:
        return (
            f"<ExportSettings enabled={self.enabled} log_group={self.log_group!r} "
            f"region={self.region!r} secret_key={'set' if self.has_secret_key else 'unset'}>"
        )

    @classmethod
    def load(cls) -> ExportSettings:
        """The settings row, created (disabled) on first use. Creating it is nobody's
        change (opening Settings -> Log is a GET): only later saves are recorded."""
        from audit import disabled

        found = cls.objects.filter(id=SINGLETON_ID).first()
        if found is None:
            with disabled():
                found, _ = cls.objects.get_or_create(id=SINGLETON_ID)
        return found

    @property
    def has_secret_key(self) -> bool:
        return bool(self.secret_key_encrypted)

    def secret_key(self) -> str:
        """The secret in clear, for boto3 only (a method, so no template shows it)."""
        return crypto.decrypt(self.secret_key_encrypted) if self.secret_key_encrypted else ""

    def set_secret_key(self, value: str) -> None:
        """Encrypt and keep ``value`` ("" forgets it). Raises ``ValidationError`` when
        the encryption key is the development one (``crypto.storing_refused``)."""
        try:
            self.secret_key_encrypted = crypto.encrypt(value) if value else ""
        except crypto.InsecureKeyError as exc:
            raise ValidationError(str(exc), code="insecure_key") from None

    def clean(self) -> None:
        errors: dict[str, Sequence[str | ValidationError]] = {}
        if bool(self.access_key) != self.has_secret_key:
            errors[NON_FIELD_ERRORS] = [
                ValidationError(
                    "Give both the access key and the secret key, or neither (to use "
                    "boto3's default credential chain, e.g. an instance role).",
                    code="key_pair",
                )
            ]
        if not self.endpoint_url:  # the key goes to AWS itself: IAM's shape
            try:
                validate_aws_access_key(self.access_key)
            except ValidationError as exc:
                errors["access_key"] = exc.messages
        if self.enabled:
            for name in ("log_group", "region"):
                if not getattr(self, name):
                    errors[name] = ["Required to enable the export."]
        if errors:
            raise ValidationError(errors)


class StreamMapping(models.Model):
    """Records of ``event_type`` go to log stream ``stream`` (one stream per type)."""

    settings = models.ForeignKey(ExportSettings, on_delete=models.CASCADE, related_name="mappings")
    event_type = models.OneToOneField(
        EventType, on_delete=models.CASCADE, related_name="cloudwatch_mapping"
    )
    stream = models.CharField(max_length=512, validators=[validate_stream])

    class Meta:
        verbose_name = "event type to stream"
        verbose_name_plural = "event types to streams"

    def __str__(self) -> str:
        return f"{self.event_type} => {self.stream}"


class OutboxEntry(models.Model):
    """A record waiting to be shipped to ``stream``; deleted once CloudWatch accepted it.

    ``next_attempt_at`` serves both as the backoff after a failure and as the lease of
    a claiming worker (``claim``), which the worker renews while it is alive: a worker
    that dies leaves its rows to others once the lease passes. ``maybe_delivered``: the
    row was handed to PutLogEvents and no answer said whether CloudWatch stored it (a
    timeout, or the worker died), so sending it again may make a duplicate; such sends
    are counted as resent. ``set_aside_reason`` non-empty: CloudWatch would refuse the
    record (too old, too new); it waits for an admin to retry or discard it.
    """

    id = models.BigAutoField(primary_key=True)
    record = models.ForeignKey(
        AuditRecord,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # records may be purged; the exporter drops such rows
        db_index=False,
        related_name="+",
    )
    stream = models.CharField(max_length=512)
    record_time = models.DateTimeField(help_text="When the record was stored.")
    enqueued_at = models.DateTimeField(db_default=Now())
    attempts = models.PositiveIntegerField(db_default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    claim = models.UUIDField(null=True, blank=True)
    maybe_delivered = models.BooleanField(db_default=False)
    last_error = models.TextField(blank=True, db_default="")
    set_aside_reason = models.CharField(max_length=300, blank=True, db_default="")
    set_aside_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbox entry"
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(
                fields=["stream", "id"],
                name="cw_outbox_waiting",
                condition=models.Q(set_aside_reason=""),
            ),
            models.Index(
                fields=["stream", "id"],
                name="cw_outbox_set_aside",
                condition=~models.Q(set_aside_reason=""),
            ),
        ]

    def __str__(self) -> str:
        return f"record #{self.record_id} -> {self.stream}"


class StreamStatus(models.Model):
    """How shipping to one stream went last: shown on the admin's status page."""

    stream = models.CharField(max_length=512, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    sent_total = models.BigIntegerField(default=0)
    resent_total = models.BigIntegerField(
        db_default=0,  # also for an older exporter still running while this one deploys
        help_text="Records sent again after a send that may have delivered them (a "
        "timeout, a worker that died): at most this many duplicates in the stream.",
    )

    class Meta:
        verbose_name = "stream status"
        verbose_name_plural = "export status"
        ordering = ["stream"]

    def __str__(self) -> str:
        return self.stream
