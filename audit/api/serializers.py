"""Serializers of the read API (the ingest path validates with msgspec instead)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import registry
from ..levels import Level
from ..models import AuditRecord, EventType, UserSession
from ..server_types import PROTECTED, is_server_type


class EntityRefSerializer(serializers.Serializer[dict[str, Any]]):
    type = serializers.CharField()
    id = serializers.CharField()
    role = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)


def _kind_name(content_type_id: int) -> str:
    kind = registry.for_content_type_id(content_type_id)
    if kind is not None:
        return kind.kind
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_id(content_type_id).model


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (``params``), so that the schema does not say "any value"."""


@extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
class ChangesField(serializers.JSONField):
    """``{"field": {"old": ..., "new": ...}}`` of an edit, or null."""


class RecordSerializer(serializers.ModelSerializer[AuditRecord]):
    type = serializers.CharField(source="type.name")
    user = serializers.SerializerMethodField()
    session = serializers.UUIDField(source="session.uuid")
    timestamp = serializers.DateTimeField(source="created_at")
    client_timestamp = serializers.DateTimeField(source="client_time", allow_null=True)
    entities = serializers.SerializerMethodField()
    params = JSONObjectField()
    changes = ChangesField(allow_null=True)
    stack_trace = serializers.CharField(
        allow_blank=True, help_text="An error's stack trace as the client sent it."
    )
    fingerprint = serializers.CharField(
        allow_blank=True,
        help_text="What groups repeats of one error: a hash of its normalized stack trace.",
    )

    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "type",
            "level",
            "message",
            "params",
            "user",
            "session",
            "timestamp",
            "client_timestamp",
            "source",
            "entities",
            "changes",
            "stack_trace",
            "fingerprint",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_user(self, record: AuditRecord) -> str | None:
        if record.user_id is None:
            return None
        user = record.user
        return user.get_username() if user is not None else f"deleted user #{record.user_id}"

    @extend_schema_field(EntityRefSerializer(many=True))
    def get_entities(self, record: AuditRecord) -> list[dict[str, Any]]:
        return [
            {
                "type": _kind_name(link.content_type_id),
                "id": link.object_id,
                "role": link.role,
                "name": link.name,
            }
            for link in record.links.all()
        ]


class SessionSerializer(serializers.ModelSerializer[UserSession]):
    user = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = [
            "uuid",
            "user",
            "kind",
            "started_at",
            "last_seen_at",
            "ended_at",
            "ip",
            "user_agent",
            "client",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_user(self, session: UserSession) -> str | None:
        return session.user.get_username() if session.user is not None else None


class SessionDetailSerializer(SessionSerializer):
    records = serializers.IntegerField(source="record_count", read_only=True)

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "records"]


class ConfigSerializer(serializers.Serializer[dict[str, Any]]):
    user = serializers.CharField()
    session = serializers.UUIDField()
    disabled_types = serializers.ListField(child=serializers.CharField())
    limits = serializers.DictField(child=serializers.IntegerField())


# Documentation only: the ingest view validates with msgspec (audit.validation).
class EntityInSerializer(serializers.Serializer[dict[str, Any]]):
    type = serializers.CharField(help_text="An entity kind, e.g. query, project, user.")
    id = serializers.CharField()
    role = serializers.CharField(required=False)


class EventInSerializer(serializers.Serializer[dict[str, Any]]):
    type = serializers.CharField(default="log")
    message = serializers.CharField(default="", allow_blank=True)
    params = serializers.DictField(required=False)
    level = serializers.ChoiceField(choices=Level.choices, required=False)
    stackTrace = serializers.CharField(required=False)
    entities = EntityInSerializer(many=True, required=False)
    timestamp = serializers.DateTimeField(required=False, help_text="Client time, ISO 8601.")
    id = serializers.UUIDField(required=False, help_text="Idempotency key.")


class IngestResultSerializer(serializers.Serializer[dict[str, Any]]):
    accepted = serializers.ListField(child=serializers.IntegerField())
    duplicates = serializers.IntegerField()
    disabled = serializers.IntegerField()
    rejected = serializers.ListField(child=serializers.DictField())


class GroupNameField(serializers.SlugRelatedField[Group]):
    """A group, named. A name holding a NUL is refused before the lookup: PostgreSQL
    cannot compare such text, and the lookup would end in a 500 instead of a 400."""

    default_error_messages = {
        **serializers.SlugRelatedField.default_error_messages,
        "null_characters": "Group names never contain a NUL character.",
    }

    def to_internal_value(self, data: Any) -> Group:
        if isinstance(data, str) and "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)


# The most groups a type may be switched off for in one change.
MAX_SWITCH_GROUPS = 500


class EventTypeSerializer(serializers.ModelSerializer[EventType]):
    """A type's switches, as the staff API reads and changes them."""

    disabled_for_groups = GroupNameField(
        source="disabled_for",
        slug_field="name",
        many=True,
        queryset=Group.objects.all(),
        required=False,
        help_text="Names of the groups whose members' events of this type are dropped.",
    )
    dropped_last_24h = serializers.SerializerMethodField()

    class Meta:
        model = EventType
        fields = [
            "name",
            "level",
            "description",
            "built_in",
            "enabled",
            "server_only",
            "disabled_for_groups",
            "dropped_last_24h",
        ]
        read_only_fields = ["name", "built_in"]

    def to_internal_value(self, data: Any) -> Any:
        """The groups are a list of distinct names, at most ``MAX_SWITCH_GROUPS``: DRF
        reads a JSON object as the list of its keys (``{}`` cleared every group), and
        looks each name up on its own (5,000 names took 5,000 queries)."""
        names = data.get("disabled_for_groups") if isinstance(data, dict) else None
        if names is not None:
            if not isinstance(names, list):
                problem = "must be a list of group names"
            elif len(names) > MAX_SWITCH_GROUPS:
                problem = f"names {len(names)} groups; at most {MAX_SWITCH_GROUPS}"
            elif len({repr(name) for name in names}) < len(names):
                problem = "names a group more than once"
            else:
                problem = ""
            if problem:
                raise serializers.ValidationError({"disabled_for_groups": [problem]})
        return super().to_internal_value(data)

    def validate_enabled(self, value: bool) -> bool:
        if not value and self.instance is not None and self.instance.name in PROTECTED:
            raise serializers.ValidationError(
                f"{self.instance.name!r} records every change of the switches; it cannot be "
                "switched off (its records would still be written)."
            )
        return value

    def validate_disabled_for_groups(self, value: list[Group]) -> list[Group]:
        if value and self.instance is not None and self.instance.name in PROTECTED:
            raise serializers.ValidationError(
                f"{self.instance.name!r} records every change of the switches; it cannot be "
                "switched off for any group."
            )
        return value

    def validate_server_only(self, value: bool) -> bool:
        if not value and self.instance is not None and is_server_type(self.instance.name):
            raise serializers.ValidationError(
                f"{self.instance.name!r} is recorded by the server itself and stays server-only."
            )
        return value

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_dropped_last_24h(self, event_type: EventType) -> dict[str, int]:
        """Events dropped per group ("" is the global switch), flushed counts only."""
        # Given by EventTypeList for the whole page: dropped_last_day()'s result.
        counts: dict[str, dict[str, int]] | None = self.context.get("dropped_counts")
        if counts is not None:
            return counts.get(event_type.name, {})
        from ..stats import dropped_last_day

        return dropped_last_day([event_type.name]).get(event_type.name, {})
