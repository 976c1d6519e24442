"""The catalog's domain layer: permissions, actions and their audit records, and the
change tracking the catalog registers for."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.exceptions import ValidationError
from django.db import transaction

from audit import MASK, registry
from audit.logger import run_as
from audit.models import AuditRecord
from catalog import actions, permissions
from catalog.kinds import KINDS
from catalog.models import Comment, Connection, Job, Project, Query
from tests.catalog_helpers import (  # noqa: F401 (fixtures are used by name)
    SECRET,
    connection,
    links_of,
    make,
    owner,
    project,
    query,
    reader,
    records,
    staff,
    stranger,
    team,
)

pytestmark = pytest.mark.django_db


# --- permissions --------------------------------------------------------------------


def test_view_and_edit_rules(
    owner: User, reader: User, stranger: User, staff: User, team: Group, query: Query
) -> None:
    assert permissions.may_view(owner, query) and permissions.may_edit(owner, query)
    assert permissions.may_view(staff, query) and permissions.may_edit(staff, query)
    for user in (reader, stranger):
        assert not permissions.may_view(user, query)
        assert not permissions.may_edit(user, query)

    query.shared_with_groups.add(team)
    assert permissions.may_view(reader, query)
    assert not permissions.may_edit(reader, query)  # sharing grants read access only
    assert not permissions.may_view(stranger, query)

    query.shared_with_users.add(stranger)
    assert permissions.may_view(stranger, query)

    other = make("query", owner)
    other.published = True
    other.save()
    assert permissions.may_view(stranger, other) and not permissions.may_edit(stranger, other)


def test_anonymous_and_inactive_users_see_nothing(owner: User, query: Query) -> None:
    query.published = True
    query.save()
    assert not permissions.may_view(AnonymousUser(), query)
    assert not permissions.viewable(AnonymousUser(), Query.objects.all()).exists()
    owner.is_active = False
    owner.save()
    assert not permissions.may_view(owner, query)
    assert not permissions.may_edit(owner, query)


def test_viewable_gives_each_entity_once(
    owner: User, reader: User, team: Group, query: Query
) -> None:
    second = Group.objects.create(name="engineers")
    reader.groups.add(second)
    query.shared_with_groups.add(team, second)
    query.shared_with_users.add(reader)
    query.published = True
    query.save()
    assert list(permissions.viewable(reader, Query.objects.all())) == [query]


def test_every_kind_is_registered_with_tracking_and_visibility(
    owner: User, reader: User, team: Group
) -> None:
    for spec in KINDS.values():
        entry = registry.get(spec.kind)
        assert entry is not None and entry.model is spec.model and entry.track
        assert entry.name_field == "name"
        assert set(entry.exclude) >= {"created_at", "updated_at", "published"}
        mine = make(spec.kind, owner)
        assert list(entry.visible_to(reader)) == []
        mine.shared_with_groups.add(team)
        assert list(entry.visible_to(reader)) == [mine]
    assert registry.get("connection").mask == ("password",)
    assert registry.get("query").links == ("project", "connection")
    assert registry.get("job").field_types == {"transformations": "job-transformations-edited"}


# --- change tracking as the catalog registers it ------------------------------------


def test_saves_are_recorded_with_links_and_masked_secrets(
    owner: User, project: Project, connection: Connection, query: Query
) -> None:
    with run_as(owner):
        query.text = "SELECT 2"
        query.transformations = [*query.transformations, {"op": "sort", "column": "revenue"}]
        query.save()
        connection.password = "another-secret"
        connection.save()

    (created,) = records("query-created", query)
    assert links_of(created) >= {
        ("query", str(query.pk), ""),
        ("project", str(project.pk), "project"),
        ("connection", str(connection.pk), "connection"),
    }
    (edited,) = records("query-edited", query)
    assert set(edited.changes) == {"text"} and edited.user == owner
    (steps,) = records("query-transformations-edited", query)
    assert steps.changes["transformations"]["new"][-1] == {"op": "sort", "column": "revenue"}

    (rotated,) = records("connection-edited", connection)
    assert rotated.changes == {"password": {"old": MASK, "new": MASK}}
    everything = str(list(AuditRecord.objects.values_list("changes", "params", "message")))
    assert SECRET not in everything and "another-secret" not in everything


def test_publishing_is_not_an_edit(owner: User, query: Query) -> None:
    actions.publish(query)
    assert records("query-edited", query) == []
    assert len(records("query-published", query)) == 1


# --- actions ------------------------------------------------------------------------


def test_publish_records_once_and_refuses_kinds_without_the_type(
    owner: User, project: Project, query: Query
) -> None:
    with run_as(owner):
        first = actions.publish(query)
        again = actions.publish(query)
    assert first is not None and again is None
    query.refresh_from_db()
    assert query.published
    (record,) = records("query-published", query)
    assert record.user == owner
    assert links_of(record) >= {
        ("query", str(query.pk), ""),
        ("project", str(project.pk), "project"),
    }

    for kind in ("project", "job"):
        with pytest.raises(actions.ActionError, match="cannot be published"):
            actions.publish(make(kind, owner))


def test_share_links_the_entity_and_whom_it_was_shared_with(
    owner: User, reader: User, stranger: User, team: Group, query: Query
) -> None:
    with run_as(owner):
        actions.share(query, [stranger, stranger], [team])
        actions.share(query, [reader], notify=False)
    assert set(query.shared_with_users.all()) == {stranger, reader}
    assert list(query.shared_with_groups.all()) == [team]

    (shared,) = records("entity-shared", query)
    assert shared.user == owner
    assert shared.params["users"] == ["bob"] and shared.params["groups"] == ["analysts"]
    assert shared.params["notify"] is True
    assert links_of(shared) >= {
        ("query", str(query.pk), ""),
        ("user", str(stranger.pk), "shared-with"),
        ("group", str(team.pk), "shared-with"),
    }
    assert "bob and analysts" in shared.message
    (silent,) = records("entity-shared-silent", query)
    assert ("user", str(reader.pk), "shared-with") in links_of(silent)
    # The record shows in the activity of whom it was shared with, too.
    assert records("entity-shared", stranger) == [shared]


def test_share_refuses_nobody_and_too_many(owner: User, query: Query, settings: Any) -> None:
    with pytest.raises(actions.ActionError, match="at least one"):
        actions.share(query, [], [])
    settings.AUDIT_MAX_ENTITIES_PER_EVENT = 5
    users = [User.objects.create_user(f"u{i}") for i in range(4)]
    with pytest.raises(actions.ActionError, match="at most 2"):
        actions.share(query, users)
    assert not query.shared_with_users.exists()
    assert records("entity-shared") == []


def test_run_records_start_and_the_table_a_query_produced(owner: User, query: Query) -> None:
    table = actions.Table(name="result", rows=1234, columns=5, duration_ms=87)
    with run_as(owner):
        result = actions.run(query, produce=lambda obj: table)
    (start,) = records("query-start", query)
    (produced,) = records("table-produced", query)
    assert result.start_record == start.pk and result.table_record == produced.pk
    assert start.params["parameters"] == {"top": 10}
    assert produced.params == {
        "kind": "query",
        "name": "Top customers",
        "table": "result",
        "rows": 1234,
        "columns": 5,
        "durationMs": 87,
    }
    assert produced.user == owner and "1,234 rows" in produced.message


def test_run_of_kinds_without_a_table_and_of_kinds_that_do_not_run(owner: User) -> None:
    script = make("script", owner)
    result = actions.run(script)
    assert result.table is None and len(records("script-start", script)) == 1
    assert records("table-produced") == []
    job = make("job", owner)
    assert actions.run(job).table is not None
    assert records("job-start", job)[0].params["trigger"] == "manual"
    for kind in ("project", "connection"):
        with pytest.raises(actions.ActionError, match="cannot be run"):
            actions.run(make(kind, owner))


def test_simulated_tables_are_stable_per_entity(owner: User) -> None:
    first, second = make("query", owner), make("query", owner)
    assert actions.simulated_table(first) == actions.simulated_table(first)
    assert actions.simulated_table(first) != actions.simulated_table(second)


def test_open_project(owner: User, project: Project) -> None:
    with run_as(owner):
        record_id = actions.open_project(project)
    (record,) = records("project-opened", project)
    assert record.pk == record_id and record.user == owner


def test_comment_posts_and_records_for_its_author(owner: User, reader: User, query: Query) -> None:
    posted = actions.comment(query, reader, "  Should revenue be net?  ")
    assert posted.text == "Should revenue be net?" and posted.author == reader
    assert Comment.objects.get().object_id == query.pk
    (record,) = records("comment-posted", query)
    assert record.user == reader and record.params["commentId"] == posted.pk
    assert record.params["text"] == "Should revenue be net?"
    assert "Should revenue be net?" in record.message
    long = actions.comment(query, reader, "word " * 500)
    (_, long_record) = records("comment-posted", query)
    assert len(long_record.params["text"]) == actions.COMMENT_EXCERPT
    assert long_record.params["length"] == len(long.text)

    for text in ("", "   ", "x" * (actions.COMMENT_MAX_LENGTH + 1)):
        with pytest.raises(actions.ActionError):
            actions.comment(query, reader, text)
    assert Comment.objects.count() == 2


def test_invite_user_creates_an_inactive_account(owner: User, staff: User) -> None:
    User.objects.create_user("dave", "someone-else@example.com")
    invited = actions.invite_user(" Dave@Example.com ", staff)
    assert invited.email == "dave@example.com" and invited.username == "dave2"
    assert not invited.is_active and not invited.has_usable_password()
    (record,) = records("user-invited", invited)
    assert record.user == staff
    assert ("user", str(invited.pk), "invitee") in links_of(record)

    with pytest.raises(actions.ActionError, match="already has an account"):
        actions.invite_user("DAVE@example.com", staff)
    with pytest.raises(actions.ActionError, match="not an email"):
        actions.invite_user("not-an-address", staff)


def test_a_rolled_back_action_leaves_no_record(owner: User, team: Group, query: Query) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.share(query, [], [team])
        actions.publish(query)
        raise RuntimeError("the request failed later")
    assert not query.shared_with_groups.exists()
    assert records("entity-shared") == [] and records("query-published") == []


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Query, "transformations", {"op": "filter"}),
        (Query, "transformations", [{"column": "x"}]),
        (Query, "parameters", ["a"]),
        (Job, "schedule", "every day"),
        (Connection, "port", 70000),
    ],
)
def test_field_validation(model: type, field: str, value: Any, owner: User) -> None:
    kind = next(spec.kind for spec in KINDS.values() if spec.model is model)
    obj = make(kind, owner)
    setattr(obj, field, value)
    with pytest.raises(ValidationError) as caught:
        obj.full_clean()
    assert field in caught.value.message_dict


def test_cron_shortcuts_and_ranges_are_valid(owner: User) -> None:
    job = make("job", owner)
    for schedule in ("@daily", "*/15 * * * *", "30 6 * * 1-5", "0 0 1 jan mon", ""):
        job.schedule = schedule
        job.full_clean()
