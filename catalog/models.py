"""The platform's entities: what people build, share, publish and run.

Every kind shares one abstract base (name, description, owner, sharing, published) so
that permissions, the REST API and the pages treat them alike; each adds the fields
that make it what it is (a query's SQL, a connection's credentials, a job's
schedule...). Primary keys are UUIDs: ids appear in URLs and in audit links, and must
not reveal how many entities exist or be guessable.

Change tracking is not here: ``CatalogConfig.ready`` registers each model with
``audit.register(..., track=True)`` and the audit app records every create, edit and
delete, whoever makes it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from . import validators


class Entity(models.Model):
    """What every kind has: identity, ownership, sharing and publication."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # PROTECT: deleting a person must not silently delete (or orphan) what others
    # rely on; ownership is handed over first.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="%(app_label)s_%(class)s_owned",
    )
    # A default rather than auto_now_add, so that imports and the demo can backdate.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    published = models.BooleanField(
        default=False,
        editable=False,
        help_text="Visible to every signed-in user. Set by the publish action, which "
        "records KIND-published.",
    )
    shared_with_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="%(app_label)s_%(class)s_shared"
    )
    shared_with_groups = models.ManyToManyField(
        Group, blank=True, related_name="%(app_label)s_%(class)s_shared"
    )

    class Meta:
        abstract = True
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name


class Project(Entity):
    """A workspace that groups the other entities."""

    class Meta(Entity.Meta):
        indexes = [models.Index(fields=["-updated_at"], name="catalog_project_updated")]


class DataSource(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL"
    MYSQL = "mysql", "MySQL"
    MSSQL = "mssql", "SQL Server"
    ORACLE = "oracle", "Oracle"
    SNOWFLAKE = "snowflake", "Snowflake"
    BIGQUERY = "bigquery", "BigQuery"
    REDSHIFT = "redshift", "Redshift"
    S3 = "s3", "Amazon S3"


class Connection(Entity):
    """Where data lives and how to reach it. ``password`` is a secret: the API never
    returns it and audit records show it masked."""

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="connections"
    )
    data_source = models.CharField(max_length=16, choices=DataSource.choices)
    server = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(65535)])
    database = models.CharField(max_length=255, blank=True)
    login = models.CharField(max_length=255, blank=True)
    password = models.CharField(max_length=255, blank=True)

    class Meta(Entity.Meta):
        indexes = [models.Index(fields=["-updated_at"], name="catalog_connection_updated")]


class Query(Entity):
    """A parameterized SQL query on a connection, with post-processing steps."""

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="queries"
    )
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="queries"
    )
    text = models.TextField(blank=True, help_text="The SQL.")
    parameters = models.JSONField(default=dict, blank=True, validators=[validators.json_object])
    transformations = models.JSONField(
        default=list, blank=True, validators=[validators.transformations]
    )

    class Meta(Entity.Meta):
        verbose_name_plural = "queries"
        indexes = [models.Index(fields=["-updated_at"], name="catalog_query_updated")]


class Job(Entity):
    """Runs queries on a schedule and applies transformations to their results."""

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    schedule = models.CharField(
        max_length=100, blank=True, validators=[validators.cron], help_text="cron, e.g. 0 2 * * *"
    )
    queries = models.ManyToManyField(Query, blank=True, related_name="jobs")
    transformations = models.JSONField(
        default=list, blank=True, validators=[validators.transformations]
    )
    enabled = models.BooleanField(default=True)

    class Meta(Entity.Meta):
        indexes = [models.Index(fields=["-updated_at"], name="catalog_job_updated")]


class Language(models.TextChoices):
    PYTHON = "python", "Python"
    R = "r", "R"
    JAVASCRIPT = "javascript", "JavaScript"
    JULIA = "julia", "Julia"


class Script(Entity):
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="scripts"
    )
    language = models.CharField(max_length=16, choices=Language.choices, default=Language.PYTHON)
    body = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True, validators=[validators.json_object])

    class Meta(Entity.Meta):
        indexes = [models.Index(fields=["-updated_at"], name="catalog_script_updated")]


class PredictiveModel(Entity):
    """A trained model: how it was trained (method, target, features) and how well."""

    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="predictive_models",
    )
    method = models.CharField(max_length=64, help_text="e.g. random-forest, xgboost, pls")
    target = models.CharField(max_length=200, blank=True, help_text="The predicted column.")
    features = models.JSONField(default=list, blank=True, validators=[validators.json_list])
    parameters = models.JSONField(default=dict, blank=True, validators=[validators.json_object])
    metrics = models.JSONField(default=dict, blank=True, validators=[validators.json_object])

    class Meta(Entity.Meta):
        verbose_name = "predictive model"
        indexes = [models.Index(fields=["-updated_at"], name="catalog_model_updated")]


class Notebook(Entity):
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="notebooks"
    )
    content = models.JSONField(
        default=list,
        blank=True,
        validators=[validators.json_list],
        help_text='Cells: [{"type": "markdown"|"code", "source": "..."}]',
    )
    environment = models.CharField(max_length=100, blank=True, help_text="e.g. python-3.11")

    class Meta(Entity.Meta):
        indexes = [models.Index(fields=["-updated_at"], name="catalog_notebook_updated")]


class Comment(models.Model):
    """A remark on an entity of any kind, addressed by (kind, object id) as audit links
    are: one table and one index serve every kind, and the conversation outlives the
    entity's deletion, like its audit trail does."""

    kind = models.CharField(max_length=40)
    object_id = models.UUIDField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="catalog_comments"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "object_id", "-created_at"], name="catalog_comment_entity")
        ]

    def __str__(self) -> str:
        return f"{self.author} on {self.kind} {self.object_id}: {self.text[:40]}"
