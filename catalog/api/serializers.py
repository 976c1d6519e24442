"""Serializers of the catalog API: one per kind on a shared base, plus the actions'.

Related entities (a query's project and connection, a job's queries) are accepted only
among those the requesting user may view, so an id cannot be used to attach to, or
probe for, someone else's private entity: an id the user may not see is "does not
exist", exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import kinds, permissions
from ..actions import COMMENT_MAX_LENGTH
from ..models import (
    Comment,
    Connection,
    Entity,
    Job,
    Notebook,
    PredictiveModel,
    Project,
    Query,
    Script,
)

if TYPE_CHECKING:
    # settings.AUTH_USER_MODEL's class, as django-stubs names it (type checker only).
    from django.contrib.auth.models import _User as User

ENTITY_FIELDS = [
    "id",
    "kind",
    "name",
    "description",
    "owner",
    "published",
    "shared_with",
    "created_at",
    "updated_at",
]


class SharedWithSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), help_text="Usernames.")
    groups = serializers.ListField(child=serializers.CharField(), help_text="Group names.")


class EntitySerializer(serializers.ModelSerializer[Entity]):
    """What every kind shows: identity, owner, publication and whom it is shared with.

    ``owner`` is the requesting user on create and never changes through the API;
    ``published`` changes only through the publish action, which records it.
    """

    kind = serializers.SerializerMethodField()
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    shared_with = serializers.SerializerMethodField()
    # Fields that reference other entities, narrowed to what the user may view.
    visible_relations: tuple[str, ...] = ()

    class Meta:
        model: type[Entity] = Project  # each kind's serializer names its own
        fields = ENTITY_FIELDS
        read_only_fields = ["published", "created_at", "updated_at"]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for name in self.visible_relations:
            field = fields[name]
            target = (
                field.child_relation if isinstance(field, serializers.ManyRelatedField) else field
            )
            assert isinstance(target, serializers.RelatedField), f"{name} is a relation"
            assert target.queryset is not None, f"{name} is writable"
            target.queryset = permissions.viewable(
                user, target.queryset.model._default_manager.all()
            )
        return fields

    def get_kind(self, obj: Any) -> str:
        return kinds.of(obj).kind

    @extend_schema_field(SharedWithSerializer)
    def get_shared_with(self, obj: Any) -> dict[str, list[str]]:
        return shared_with(obj)


def shared_with(obj: Any) -> dict[str, list[str]]:
    """Usernames and group names, read from the prefetch cache the views set up (no
    query per row)."""
    return {
        "users": sorted(user.get_username() for user in obj.shared_with_users.all()),
        "groups": sorted(group.name for group in obj.shared_with_groups.all()),
    }


class ProjectSerializer(EntitySerializer):
    class Meta(EntitySerializer.Meta):
        model = Project


class ConnectionSerializer(EntitySerializer):
    """``password`` is write-only: it is accepted on create and update, never returned;
    ``has_password`` says whether one is stored. Leave it out to keep the stored one."""

    visible_relations = ("project",)
    has_password = serializers.SerializerMethodField()

    class Meta(EntitySerializer.Meta):
        model = Connection
        fields = [
            *ENTITY_FIELDS,
            "project",
            "data_source",
            "server",
            "port",
            "database",
            "login",
            "password",
            "has_password",
        ]
        extra_kwargs = {
            "password": {
                "write_only": True,
                "required": False,
                "trim_whitespace": False,
                "style": {"input_type": "password"},
            },
        }

    def get_has_password(self, obj: Connection) -> bool:
        return bool(obj.password)


class QuerySerializer(EntitySerializer):
    visible_relations = ("project", "connection")

    class Meta(EntitySerializer.Meta):
        model = Query
        fields = [
            *ENTITY_FIELDS,
            "project",
            "connection",
            "text",
            "parameters",
            "transformations",
        ]


class JobSerializer(EntitySerializer):
    visible_relations = ("project", "queries")

    class Meta(EntitySerializer.Meta):
        model = Job
        fields = [
            *ENTITY_FIELDS,
            "project",
            "schedule",
            "queries",
            "transformations",
            "enabled",
        ]


class ScriptSerializer(EntitySerializer):
    visible_relations = ("project",)

    class Meta(EntitySerializer.Meta):
        model = Script
        fields = [*ENTITY_FIELDS, "project", "language", "body", "parameters"]


class PredictiveModelSerializer(EntitySerializer):
    visible_relations = ("project",)

    class Meta(EntitySerializer.Meta):
        model = PredictiveModel
        fields = [
            *ENTITY_FIELDS,
            "project",
            "method",
            "target",
            "features",
            "parameters",
            "metrics",
        ]


class NotebookSerializer(EntitySerializer):
    visible_relations = ("project",)

    class Meta(EntitySerializer.Meta):
        model = Notebook
        fields = [*ENTITY_FIELDS, "project", "content", "environment"]


SERIALIZERS: dict[str, type[EntitySerializer]] = {
    "project": ProjectSerializer,
    "connection": ConnectionSerializer,
    "query": QuerySerializer,
    "job": JobSerializer,
    "script": ScriptSerializer,
    "predictive-model": PredictiveModelSerializer,
    "notebook": NotebookSerializer,
}


# --- actions ------------------------------------------------------------------------


class ShareSerializer(serializers.Serializer):
    """Whom to share with, by username and group name; unknown names are a 400 that
    lists them all, so a typo is fixed in one round trip."""

    users = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list
    )
    notify = serializers.BooleanField(
        default=True, help_text="False records entity-shared-silent: nobody is notified."
    )

    def validate_users(self, names: list[str]) -> list[Any]:
        user_model = get_user_model()
        found = {
            user.get_username(): user
            for user in user_model._default_manager.filter(
                **{f"{user_model.USERNAME_FIELD}__in": names}
            )
        }
        return _all_found(names, found, "No such user")

    def validate_groups(self, names: list[str]) -> list[Group]:
        found = {group.name: group for group in Group.objects.filter(name__in=names)}
        return _all_found(names, found, "No such group")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["users"] and not attrs["groups"]:
            raise serializers.ValidationError("Name at least one user or group to share with.")
        return attrs


def _all_found(names: list[str], found: dict[str, Any], message: str) -> list[Any]:
    missing = sorted({name for name in names if name not in found})
    if missing:
        raise serializers.ValidationError([f"{message}: {name}." for name in missing])
    return [found[name] for name in dict.fromkeys(names)]


class ShareResultSerializer(serializers.Serializer):
    shared_with = SharedWithSerializer()
    record = serializers.IntegerField(
        allow_null=True, help_text="The audit record; null if the type is switched off."
    )


class RecordResultSerializer(serializers.Serializer):
    record = serializers.IntegerField(
        allow_null=True, help_text="The audit record; null if nothing was recorded."
    )


class PublishResultSerializer(RecordResultSerializer):
    published = serializers.BooleanField()


class TableSerializer(serializers.Serializer):
    name = serializers.CharField()
    rows = serializers.IntegerField()
    columns = serializers.IntegerField()
    duration_ms = serializers.IntegerField()


class RunResultSerializer(serializers.Serializer):
    start_record = serializers.IntegerField(allow_null=True)
    table_record = serializers.IntegerField(allow_null=True)
    table = TableSerializer(allow_null=True)


class CommentSerializer(serializers.ModelSerializer[Comment]):
    author: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    text = serializers.CharField(max_length=COMMENT_MAX_LENGTH)

    class Meta:
        model = Comment
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]
