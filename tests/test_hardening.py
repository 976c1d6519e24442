"""Attacks and bad input of an ordinary signed-in user, each reproduced: poisoned times,
forged history, names of entities the poster cannot see, renamed types, one user
spending a shared budget."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import connection as db
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import audit
from audit import throttling
from audit.models import AuditRecord, EntityLink, EventType, RenameRefused
from catalog.models import Query
from tests.catalog_helpers import (  # noqa: F401 (fixtures are used by name)
    connection,
    owner,
    project,
    query,
    stranger,
)
from tests.live_servers import database_url

from .conftest import logged_in, post_events

POISON = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def token_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


# --- 1. poisoned times ---------------------------------------------------------------


def test_client_times_outside_the_window_are_refused_and_the_rest_kept(user: User) -> None:
    now = timezone.now()
    events = [
        {"type": "usage", "timestamp": POISON[0]},
        {"type": "usage", "timestamp": POISON[1]},
        {"type": "log", "timestamp": (now - timedelta(days=400)).isoformat()},
        {"type": "log", "timestamp": (now + timedelta(days=2)).isoformat()},
        {"type": "log", "message": "kept", "timestamp": (now - timedelta(days=3)).isoformat()},
        {
            "type": "log",
            "message": "slow clock",
            "timestamp": (now + timedelta(hours=2)).isoformat(),
        },
    ]
    answer = post_events(logged_in(user), events)
    assert answer.status_code == 202
    body = answer.json()
    assert [r["index"] for r in body["rejected"]] == [0, 1, 2, 3]
    assert "AUDIT_CLIENT_TIME_MAX_AGE_DAYS" in body["rejected"][0]["errors"]["timestamp"][0]
    assert "AUDIT_CLIENT_TIME_MAX_AHEAD_SECONDS" in body["rejected"][1]["errors"]["timestamp"][0]
    assert len(body["accepted"]) == 2
    assert set(AuditRecord.objects.values_list("message", flat=True)) == {"kept", "slow clock"}


def test_the_window_is_configurable(user: User, settings: Any) -> None:
    settings.AUDIT_CLIENT_TIME_MAX_AGE_DAYS = 800
    old = (timezone.now() - timedelta(days=400)).isoformat()
    assert post_events(logged_in(user), {"timestamp": old}).json()["rejected"] == []


def _poisoned_record(user: User, entity: Any, value: str) -> int:
    """A record as an older version stored it: a client time Python cannot load. Made
    by copying a real record in SQL (records cannot be updated, only inserted)."""
    source = audit.log("log", "poisoned", entities=[entity], user=user)
    with db.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditrecord (uuid, type_id, level, message, params, changes,
                stack_trace, fingerprint, user_id, session_id, created_at, client_time,
                source, request_id)
            SELECT %s, type_id, level, 'poisoned', params, changes, stack_trace,
                fingerprint, user_id, session_id, created_at, %s::timestamptz, 'client',
                request_id
            FROM audit_auditrecord WHERE id = %s RETURNING id
            """,
            [uuid.uuid4(), value, source],
        )
        (record_id,) = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO audit_entitylink (record_id, content_type_id, object_id, role, name,
                created_at, type_id, user_id)
            SELECT %s, content_type_id, object_id, role, name, created_at, type_id, user_id
            FROM audit_entitylink WHERE record_id = %s
            """,
            [record_id, source],
        )
    return record_id


@pytest.mark.postgres
@pytest.mark.parametrize("value", POISON)
def test_an_unreadable_stored_time_breaks_no_reader(
    user: User, staff: User, group: Group, value: str
) -> None:
    from .cloudwatch_helpers import configure

    configure({"log": "poison_log"})  # the poisoned record waits in the outbox too
    record_id = _poisoned_record(user, group, value)
    assert AuditRecord.objects.get(pk=record_id).client_time is not None  # loads, no crash
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    own, admin = logged_in(user), logged_in(root)
    pages = {
        own: [
            f"/api/audit/entities/group/{group.pk}/activity/",
            f"/activity/group/{group.pk}/",
            "/api/audit/events/",
            "/",
            "/activity/users/alice/",
        ],
        admin: [
            "/api/audit/events/",
            "/admin/audit/auditrecord/",
            f"/admin/audit/auditrecord/{record_id}/change/",
        ],
    }
    for client, urls in pages.items():
        for url in urls:
            answer = client.get(url)
            assert answer.status_code == 200, url
    assert "poisoned" in own.get(f"/activity/group/{group.pk}/").content.decode()
    # The entity's page writes its times in the database; it shows the stand-in that
    # every reader in Python shows (``audit.time_loader``), as the events list does.
    page = own.get(f"/api/audit/entities/group/{group.pk}/activity/").json()["results"]
    listed = own.get("/api/audit/events/").json()["results"]
    shown = {row["id"]: row["client_timestamp"] for row in (*page, *listed)}
    assert next(r for r in page if r["id"] == record_id) == next(
        r for r in listed if r["id"] == record_id
    )
    assert shown[record_id] in ("0001-01-02T00:00:00Z", "9999-12-30T00:00:00Z")
    out = io.StringIO()
    call_command("cloudwatch_export", "--once", stdout=out)  # raises (exit 1) on an error
    assert "poison_log: sent" in out.getvalue()


@pytest.mark.postgres
def test_the_migration_repairs_stored_unreadable_times(user: User, group: Group) -> None:
    from audit import db_roles

    if not db_roles.connected_role().can_bypass_guard:  # type: ignore[union-attr]
        pytest.skip("a migration runs as the tables' owner; this suite runs as the app role")
    bad = [_poisoned_record(user, group, value) for value in POISON]
    good = audit.log("log", "fine", user=user)
    repair = importlib.import_module("audit.migrations.0011_readable_times").repair

    class Editor:
        connection = db

    assert repair(apps, Editor()) == 2
    for record_id, value in zip(bad, POISON, strict=True):
        record = AuditRecord.objects.get(pk=record_id)
        assert record.client_time is None
        with db.cursor() as cursor:
            cursor.execute("SELECT %s::timestamptz::text", [value])
            assert record.params["unreadable_client_timestamp"] == cursor.fetchone()[0]
    assert AuditRecord.objects.get(pk=good).params == {}
    with pytest.raises(Exception, match="append-only"):  # the guard is back on
        AuditRecord.objects.filter(pk=good).update(message="changed")


# --- 2. forged history -----------------------------------------------------------------


FORGED = ["query-deleted", "query-published", "entity-shared", "event-type-edited"]


@pytest.mark.parametrize("type_name", [*FORGED, "user-signed-in", "token-created"])
def test_clients_cannot_post_what_only_the_server_records(
    user: User, token_client: APIClient, type_name: str
) -> None:
    for client in (logged_in(user), token_client):
        body = post_events(client, [{"type": type_name}, {"message": "kept"}]).json()
        assert body["rejected"][0]["index"] == 0
        assert "recorded by the server itself" in body["rejected"][0]["errors"]["type"][0]
        assert len(body["accepted"]) == 1
    assert not AuditRecord.objects.filter(type__name=type_name).exists()


def test_forged_history_never_reaches_someone_elses_panel(
    query: Query,
    stranger: User,
) -> None:
    """bob cannot make alice's panel say "bob deleted the query"."""
    bob = logged_in(stranger)
    forged = [
        {"type": name, "entities": [{"type": "query", "id": str(query.pk)}]} for name in FORGED
    ]
    body = post_events(bob, forged).json()
    assert body["accepted"] == [] and len(body["rejected"]) == len(FORGED)
    alice = logged_in(query.owner)
    page = alice.get(f"/activity/query/{query.pk}/").content.decode()
    assert "bob" not in page
    types = {
        r["type"]
        for r in alice.get(f"/api/audit/entities/query/{query.pk}/activity/").json()["results"]
    }
    assert types == {"query-created"}


@pytest.mark.parametrize("type_name", [*FORGED, "user-signed-in", "log"])
def test_a_trailing_newline_does_not_make_a_server_type_a_clients_own(
    query: Query, stranger: User, type_name: str
) -> None:
    """A pattern's ``$`` also matches before a final newline: ``query-deleted\\n`` once
    passed the name rule, became a custom type of its own, and read in the owner's panel
    as "bob deleted the query" from a reader the query was shared with."""
    query.shared_with_users.add(stranger)
    bob = logged_in(stranger)
    link = {"type": "query", "id": str(query.pk)}
    body = post_events(
        bob,
        [
            {"type": f"{type_name}\n", "entities": [link]},
            {"message": "x", "entities": [{**link, "role": "owner\n"}]},
            {"message": "kept", "entities": [link]},
        ],
    ).json()
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert "letters, digits" in body["rejected"][0]["errors"]["type"][0]
    assert len(body["accepted"]) == 1
    assert not EventType.objects.filter(name__endswith="\n").exists()
    assert (
        "deleted the query"
        not in logged_in(query.owner).get(f"/activity/query/{query.pk}/").content.decode()
    )


def test_a_type_stored_with_a_trailing_newline_reads_as_a_custom_type(query: Query) -> None:
    """Such a type, registered before the name rule held, is not worded as the server's."""
    from activity.describe import LinkRef, describe_parts

    links = [LinkRef("query", str(query.pk), "", query.name)]

    def phrase(type_name: str) -> str:
        event_type = EventType.objects.get_or_create(name=type_name, defaults={"level": "info"})[0]
        record = AuditRecord(type=event_type, message="", params={}, user=query.owner)
        return describe_parts(record, links).phrase

    assert "deleted the query" in phrase("query-deleted")
    assert "deleted the query" not in phrase("query-deleted\n")


def test_new_names_shaped_like_server_records_are_refused(user: User) -> None:
    body = post_events(
        logged_in(user),
        [
            {"type": "cloudwatch-settings-edited"},
            {"type": "group-deleted"},
            {"type": "widget-created"},
        ],
    ).json()
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert "server records by itself" in body["rejected"][0]["errors"]["type"][0]
    assert len(body["accepted"]) == 1  # not an entity kind: a client's own custom type
    assert not EventType.objects.filter(name__in=["cloudwatch-settings-edited", "group-deleted"])


def test_a_trusted_service_token_may_post_them(
    service: User, service_client: APIClient, query: Query
) -> None:
    body = post_events(
        service_client,
        [{"type": "query-published", "entities": [{"type": "query", "id": str(query.pk)}]}],
    ).json()
    assert body["rejected"] == [] and len(body["accepted"]) == 1
    link = EntityLink.objects.get(record_id=body["accepted"][0])
    assert link.name == "Top customers"


def test_trust_is_a_tokens_never_a_browsers_nor_a_superusers(service: User, db: Any) -> None:
    assert post_events(logged_in(service), {"type": "query-deleted"}).json()["accepted"] == []
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    assert post_events(token_for(root), {"type": "query-deleted"}).json()["accepted"] == []
    staff_group = Group.objects.create(name="services")
    staff_group.permissions.add(Permission.objects.get(codename="trusted_service"))
    robot = User.objects.create_user("robot", "r@example.com", "pw")
    robot.groups.add(staff_group)
    assert len(post_events(token_for(robot), {"type": "query-deleted"}).json()["accepted"]) == 1


def test_a_deployment_marks_more_types_server_only(
    user: User, staff_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    url = "/api/audit/event-types/tutorial-completed/"
    client = logged_in(user)
    assert post_events(client, {"type": "tutorial-completed"}).json()["accepted"]
    with django_capture_on_commit_callbacks(execute=True):  # as the change commits
        assert staff_client.patch(url, {"server_only": True}, format="json").status_code == 200
    edit = AuditRecord.objects.get(type__name="event-type-edited")  # the change is recorded
    assert edit.changes == {"server_only": {"old": False, "new": True}}
    # At once: the types' table follows the switches' generation (it waited a minute).
    body = post_events(client, {"type": "tutorial-completed"}).json()
    assert "recorded by the server itself" in body["rejected"][0]["errors"]["type"][0]
    answer = staff_client.patch(
        "/api/audit/event-types/query-deleted/", {"server_only": False}, format="json"
    )
    assert answer.status_code == 400
    assert "stays server-only" in answer.json()["server_only"][0]


def test_links_only_to_entities_the_poster_may_view(
    query: Query,
    stranger: User,
) -> None:
    mine = Query.objects.create(name="Mine", owner=stranger, connection=query.connection)
    missing = uuid.uuid4()
    body = post_events(
        logged_in(stranger),
        [
            {"type": "query-start", "entities": [{"type": "query", "id": str(query.pk)}]},
            {"type": "query-start", "entities": [{"type": "query", "id": str(missing)}]},
            {"type": "query-start", "entities": [{"type": "query", "id": str(mine.pk)}]},
        ],
    ).json()
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    refusals = [r["errors"]["entities"][0] for r in body["rejected"]]
    # the same words whether the entity exists or not
    assert refusals == [
        f"[0] query:{query.pk} is not an entity you may view",
        f"[0] query:{missing} is not an entity you may view",
    ]
    assert len(body["accepted"]) == 1


def test_the_panel_says_which_entries_a_client_reported(query: Query) -> None:
    alice = logged_in(query.owner)
    post_events(
        alice, {"type": "query-start", "entities": [{"type": "query", "id": str(query.pk)}]}
    )
    html = alice.get(f"/activity/query/{query.pk}/").content.decode()
    entries = html.split('<li class="act-entry')[1:]
    by_type = {entry.split('data-type="')[1].split('"')[0]: entry for entry in entries}
    assert "reported by client" in by_type["query-start"]
    assert "reported by client" not in by_type["query-created"]


# --- 3. names of entities the poster cannot see ------------------------------------------


def test_names_of_entities_the_poster_cannot_see_are_never_resolved(
    query: Query,
    stranger: User,
) -> None:
    private_group = Group.objects.create(name="board-of-directors")
    targets = [
        {"type": "query", "id": str(query.pk)},
        {"type": "user", "id": query.owner.pk},
        {"type": "group", "id": private_group.pk},
        {"type": "user", "id": 999_999},
    ]
    bob = logged_in(stranger)
    body = post_events(bob, [{"type": "log", "entities": [target]} for target in targets]).json()
    assert body["accepted"] == [] and len(body["rejected"]) == 4
    text = str(body) + bob.get("/api/audit/events/").content.decode()
    for secret in ("Top customers", "alice", "board-of-directors"):
        assert secret not in text
    assert not EntityLink.objects.filter(record__source="client").exists()


# --- 5. renames ---------------------------------------------------------------------------


def test_a_type_with_records_keeps_its_name(staff: User, user: User) -> None:
    post_events(logged_in(user), {"type": "my_log", "message": "old record"})
    my_log = EventType.objects.get(name="my_log")
    admin = logged_in(staff)
    form = admin.get(f"/admin/audit/eventtype/{my_log.pk}/change/").content.decode()
    assert 'name="name"' not in form  # shown, not editable
    admin.post(
        f"/admin/audit/eventtype/{my_log.pk}/change/",
        {"name": "renamed", "level": "info", "description": "", "enabled": "on"},
    )
    my_log.refresh_from_db()
    assert my_log.name == "my_log"
    assert AuditRecord.objects.get(message="old record").type.name == "my_log"
    my_log.name = "renamed"
    with pytest.raises(RenameRefused):
        my_log.save()
    with pytest.raises(RenameRefused):
        EventType.objects.filter(pk=my_log.pk).update(name="renamed")
    upsert = {"update_conflicts": True, "unique_fields": ["id"], "update_fields": ["name"]}
    with pytest.raises(RenameRefused):
        EventType.objects.bulk_create([EventType(pk=my_log.pk, name="renamed")], **upsert)
    EventType.objects.bulk_create([EventType(pk=my_log.pk, name="my_log")], **upsert)
    unused = EventType.objects.create(name="typo_nmae")
    unused.name = "typo_name"
    unused.save()  # nothing says otherwise yet: a rename is fine
    assert EventType.objects.filter(name="typo_name").exists()


# --- 6. shared budgets -------------------------------------------------------------------


def test_custom_type_caps_are_per_user_and_say_whose(
    user: User, other_user: User, settings: Any
) -> None:
    settings.AUDIT_MAX_CUSTOM_TYPES_PER_USER = 3
    settings.AUDIT_MAX_CUSTOM_TYPES = 5
    alice = post_events(logged_in(user), [{"type": f"alice_{n}"} for n in range(5)]).json()
    assert len(alice["accepted"]) == 3
    assert "limit per user (AUDIT_MAX_CUSTOM_TYPES_PER_USER)" in str(alice["rejected"])
    bob = post_events(logged_in(other_user), [{"type": f"bob_{n}"} for n in range(3)]).json()
    assert len(bob["accepted"]) == 2
    assert "server's limit of 5 custom types" in bob["rejected"][0]["errors"]["type"][0]
    assert EventType.objects.filter(registered_by=user).count() == 3


def test_an_event_refused_for_its_links_registers_no_type(
    user: User, other_user: User, settings: Any
) -> None:
    """Its new name would otherwise stay behind and count against its user's cap."""
    settings.AUDIT_MAX_CUSTOM_TYPES_PER_USER = 2
    alice = logged_in(user)
    for n in range(3):
        body = post_events(
            alice, [{"type": f"ghost_{n}", "entities": [{"type": "user", "id": other_user.pk}]}]
        ).json()
        assert body["accepted"] == [] and "may view" in str(body["rejected"])
    assert not EventType.objects.filter(name__startswith="ghost_").exists()
    assert (
        len(post_events(alice, [{"type": "real_one"}, {"type": "real_two"}]).json()["accepted"])
        == 2
    )


def test_the_ingest_throttle_counts_events(user: User, other_user: User, settings: Any) -> None:
    settings.AUDIT_INGEST_EVENT_THROTTLE = "10/min"
    alice = logged_in(user)
    assert post_events(alice, [{"message": "a"}] * 6).status_code == 202
    refused = post_events(alice, [{"message": "b"}] * 6)
    assert refused.status_code == 429
    assert "Too many events" in refused.json()["detail"]
    assert "AUDIT_INGEST_EVENT_THROTTLE" in refused.json()["detail"]
    assert int(refused["Retry-After"]) >= 1
    assert post_events(alice, [{"message": "c"}] * 4).status_code == 202  # refused ones free
    assert post_events(logged_in(other_user), [{"message": "d"}] * 6).status_code == 202
    assert AuditRecord.objects.filter(message="b").count() == 0


def test_the_ingest_throttle_counts_requests(user: User, settings: Any) -> None:
    settings.AUDIT_INGEST_THROTTLE = "2/min"
    alice = logged_in(user)
    assert [post_events(alice, {}).status_code for _ in range(3)] == [202, 202, 429]


def test_a_bad_rate_setting_names_itself(settings: Any, user: User) -> None:
    settings.AUDIT_INGEST_EVENT_THROTTLE = "lots"
    with pytest.raises(ValueError, match="AUDIT_INGEST_EVENT_THROTTLE"):
        throttling.charge(user, 1)


def _spend_elsewhere(user: User, events: int, *, redis: bool) -> None:
    """Another server process spends ``events`` of the user's budget."""
    from .test_switches_remote import ROOT

    script = (
        "import django; django.setup()\n"
        "from types import SimpleNamespace\n"
        "from audit import throttling\n"
        f"throttling.charge(SimpleNamespace(pk={user.pk}, is_authenticated=True), {events})\n"
    )
    env = {
        **os.environ,
        "AUDIT_INGEST_EVENT_THROTTLE": "100/hour",
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "auditproj.settings",
    }
    if not redis:
        env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60, cwd=ROOT)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_ingest_throttle_holds_across_processes_with_redis(user: User, settings: Any) -> None:
    """Another process spends the user's budget; this one sees it spent."""
    settings.AUDIT_INGEST_EVENT_THROTTLE = "100/hour"
    _spend_elsewhere(user, 95, redis=True)
    throttling.charge(user, 5)
    with pytest.raises(Exception, match="Too many events"):
        throttling.charge(user, 1)


@pytest.mark.django_db(transaction=True)
def test_the_ingest_throttle_holds_across_processes_without_redis(
    user: User, settings: Any
) -> None:
    """No shared cache: the counts are kept in the database, shared all the same."""
    settings.AUDIT_INGEST_EVENT_THROTTLE = "100/hour"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _spend_elsewhere(user, 95, redis=False)
    throttling.charge(user, 5)
    with pytest.raises(Exception, match="Too many events"):
        throttling.charge(user, 1)


# --- 9. what is public -------------------------------------------------------------------


def test_the_api_schema_and_its_docs_are_public_and_hold_no_data(user: User) -> None:
    """A decision, documented in docs/contract.md: the schema describes the API, which the
    README describes too, and holds no record, name or setting."""
    audit.log("log", "a private message", {"secret": "s3cr3t"}, user=user)
    anonymous = APIClient()
    schema = anonymous.get("/api/schema/")
    assert schema.status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200
    text = schema.content.decode()
    assert "/api/audit/events/" in text
    for private in ("a private message", "s3cr3t", "alice"):
        assert private not in text
    assert anonymous.get("/api/audit/events/").status_code == 401


def test_a_trusted_service_has_limits_of_its_own(
    user: User, service_client: APIClient, settings: Any
) -> None:
    settings.AUDIT_INGEST_EVENT_THROTTLE = "5/min"
    settings.AUDIT_SERVICE_INGEST_EVENT_THROTTLE = "50/min"
    assert post_events(service_client, [{"message": "s"}] * 40).status_code == 202
    refused = post_events(service_client, [{"message": "s"}] * 20)
    assert refused.status_code == 429
    assert "per service token (AUDIT_SERVICE_INGEST_EVENT_THROTTLE)" in refused.json()["detail"]
    assert post_events(logged_in(user), [{"message": "u"}] * 6).status_code == 429
