"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL and Redis
when DATABASE_URL and REDIS_URL point at them; tests that need one are marked."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit import event_types, sessions, shared_cache, switch_rules
from tests.pg_roles import OWNER_URL

if OWNER_URL:  # the suite as the application's role (tests/pg_roles.py)
    from tests.pg_roles import django_db_setup  # noqa: F401

# Not the development SECRET_KEY: with DEBUG off (as under pytest) cloudwatch_export
# refuses to encrypt a secret under it. Tests of that refusal switch back to it. In the
# environment too, so that the workers tests start decrypt what the tests stored.
TEST_SECRET_KEY = "tests-only-secret-key-0123456789abcdef-not-the-dev-default"
django_settings.SECRET_KEY = os.environ["SECRET_KEY"] = TEST_SECRET_KEY


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    on_redis = bool(getattr(settings, "REDIS_URL", ""))
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis" in item.keywords and not on_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """PBKDF2 at production strength costs half a second per user created."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _seeded_event_types(request: Any) -> None:
    """A transactional test empties every table when it ends, the event types that the
    data migrations seed included; put them back for the tests that come after."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (
        marker.kwargs.get("transaction") or "live_server" in request.fixturenames
    ):
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    from audit import disabled
    from audit.models import EventType

    if EventType.objects.filter(name="log", built_in=True).exists():
        return
    with disabled():  # restoring fixtures is not a change anyone made
        for module in (
            "0002_builtin_event_types",
            "0006_rule_change_types",
            "0010_server_only_types",
            "0016_integrity",
        ):
            importlib.import_module(f"audit.migrations.{module}").seed(apps, None)


@pytest.fixture(autouse=True)
def _set_up_logins_are_no_sign_ins(monkeypatch: Any) -> None:
    """``client.force_login`` is a test's shortcut past the sign-in page: it opens the
    audit session as a sign-in does, but records no ``user-signed-in`` (nor a sign-out
    on ``logout``), so that tests count only what they did. The sign-in tests sign in
    through the real pages."""
    from django.test import Client

    from audit.receivers import credentials_unrecorded

    force_login, logout = Client.force_login, Client.logout

    def quiet_login(self: Any, user: Any, backend: Any = None) -> None:
        with credentials_unrecorded():
            force_login(self, user, backend)

    def quiet_logout(self: Any) -> None:
        with credentials_unrecorded():
            logout(self)

    monkeypatch.setattr(Client, "force_login", quiet_login)
    monkeypatch.setattr(Client, "logout", quiet_logout)


@pytest.fixture(autouse=True)
def _no_dropped_count_timer(monkeypatch: Any) -> None:
    """The timer thread would commit one test's dropped counts for the next to find."""
    from audit import dropped

    monkeypatch.setattr(dropped, "TIMER_ENABLED", False)
    dropped.reset()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Caches must not carry rows of a rolled-back test into the next one."""
    shared_cache.reset()
    cache.clear()
    event_types.clear_cache()
    sessions.clear_local()
    switch_rules.clear_local()
    yield
    cache.clear()
    event_types.clear_cache()
    sessions.clear_local()
    switch_rules.clear_local()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def user(db: Any) -> User:
    return User.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def other_user(db: Any) -> User:
    return User.objects.create_user("bob", "bob@example.com", "bob-password")


@pytest.fixture
def staff(db: Any) -> User:
    return User.objects.create_user("admin", "admin@example.com", "admin-password", is_staff=True)


@pytest.fixture
def group(db: Any, user: User) -> Group:
    analysts = Group.objects.create(name="analysts")
    user.groups.add(analysts)
    return analysts


@pytest.fixture
def token(user: User) -> Token:
    return make_token(user)


def make_token(user: User) -> Token:
    """An API token made as test set-up: no ``token-created`` record to count."""
    from audit.receivers import credentials_unrecorded

    with credentials_unrecorded():
        return Token.objects.create(user=user)


@pytest.fixture
def token_client(token: Token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def service(db: Any) -> User:
    """A trusted service: a user holding ``audit.trusted_service``, posting by token."""
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("etl-service", "etl@example.com", "service-password")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="trusted_service")
    )
    return user


@pytest.fixture
def service_client(service: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(service).key}")
    return client


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    """Staff who run the switches: changing one takes ``audit.change_eventtype``."""
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="change_eventtype")
    )
    client = APIClient()
    client.force_login(staff)
    return client


def post_events(client: APIClient, payload: Any, **extra: Any) -> Any:
    """POST raw JSON to the ingest endpoint (payload may be bytes to send as they are)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    return client.post("/api/audit/events/", data=body, content_type="application/json", **extra)


# The keys of a record as the read API shows it (the contract, v2).
RECORD_KEYS = frozenset(
    {
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
    }
)


def logged_in(user: User) -> APIClient:
    """An API client with ``user``'s browser session."""
    client = APIClient()
    client.force_login(user)
    return client
