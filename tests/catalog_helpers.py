"""People, entities and record look-ups shared by the catalog tests.

Imported by the test modules (not a conftest) so the fixtures stay next to the tests
that need them. The cast: ``owner`` (alice) owns things; ``reader`` (carol) is in the
group things get shared with; ``stranger`` (bob) sees only what is published;
``staff`` (admin) sees everything.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import models
from rest_framework.test import APIClient

from audit.models import AuditRecord, EntityLink
from catalog.models import Connection, Job, Notebook, PredictiveModel, Project, Query, Script

SECRET = "s3cr3t-Pa55w0rd!"


@pytest.fixture
def owner(db: Any) -> User:
    return User.objects.create_user("alice", "alice@example.com", "pw", first_name="Alice")


@pytest.fixture
def team(db: Any) -> Group:
    return Group.objects.create(name="analysts")


@pytest.fixture
def reader(db: Any, team: Group) -> User:
    user = User.objects.create_user("carol", "carol@example.com", "pw")
    user.groups.add(team)
    return user


@pytest.fixture
def stranger(db: Any) -> User:
    return User.objects.create_user("bob", "bob@example.com", "pw")


@pytest.fixture
def staff(db: Any) -> User:
    return User.objects.create_user("admin", "admin@example.com", "pw", is_staff=True)


@pytest.fixture
def project(owner: User) -> Project:
    return Project.objects.create(name="Sales Q3", owner=owner, description="Quarter")


@pytest.fixture
def connection(owner: User, project: Project) -> Connection:
    return Connection.objects.create(
        name="Northwind",
        owner=owner,
        project=project,
        data_source="postgres",
        server="db.internal",
        port=5432,
        database="northwind",
        login="reader",
        password=SECRET,
    )


@pytest.fixture
def query(owner: User, project: Project, connection: Connection) -> Query:
    return Query.objects.create(
        name="Top customers",
        owner=owner,
        project=project,
        connection=connection,
        text="SELECT name, revenue FROM customers ORDER BY revenue DESC",
        parameters={"top": 10},
        transformations=[{"op": "filter", "column": "revenue", "condition": "> 0"}],
    )


def make(kind: str, owner: User, **extra: Any) -> models.Model:
    """One entity of ``kind`` with plausible fields."""
    fields: dict[str, dict[str, Any]] = {
        "project": {},
        "connection": {"data_source": "snowflake", "password": SECRET},
        "query": {"text": "SELECT 1"},
        "job": {"schedule": "0 2 * * *"},
        "script": {"language": "python", "body": "print(1)"},
        "predictive-model": {"method": "xgboost", "target": "y", "features": ["a", "b"]},
        "notebook": {"environment": "python-3.11", "content": [{"type": "code", "source": "1"}]},
    }
    model = {
        "project": Project,
        "connection": Connection,
        "query": Query,
        "job": Job,
        "script": Script,
        "predictive-model": PredictiveModel,
        "notebook": Notebook,
    }[kind]
    values = {"name": f"{kind} {model.objects.count() + 1}", **fields[kind], **extra}
    return model.objects.create(owner=owner, **values)


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def records(type_name: str, obj: models.Model | None = None) -> list[AuditRecord]:
    """Records of a type, those linking ``obj`` if given, oldest first."""
    queryset = AuditRecord.objects.filter(type__name=type_name)
    if obj is not None:
        links = EntityLink.objects.filter(
            content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
        )
        queryset = queryset.filter(pk__in=links.values("record_id"))
    return list(queryset.select_related("user", "session").order_by("id"))


def links_of(record: AuditRecord) -> set[tuple[str, str, str]]:
    """(model, object id, role) of each entity a record links."""
    return {
        (link.content_type.model, link.object_id, link.role)
        for link in record.links.select_related("content_type")
    }
