"""``audit.selectors.models_of``: the instances a page's statement gives are the ones
``raw()`` gives, field by field, with the fields left out deferred, and a model that a
``pre_init`` or ``post_init`` receiver watches still gets its signals."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.db.models.signals import post_init

from audit import logger
from audit.models import AuditRecord, EntityLink, UserSession
from audit.selectors import models_of, page_of_records

pytestmark = pytest.mark.django_db

RECORDS = (
    "SELECT id, message, params, changes, created_at, type_id, user_id, session_id, "
    "'extra ' || id AS _note FROM audit_auditrecord ORDER BY id"
)


def _state(instance):
    return {
        "dict": {k: v for k, v in instance.__dict__.items() if k != "_state"},
        "db": instance._state.db,
        "adding": instance._state.adding,
        "deferred": instance.get_deferred_fields(),
    }


def _records(user, group) -> list[int]:
    return [
        logger.log("query-edited", "", {"n": 1, "nested": {"a": [1, 2]}}, user=user),
        logger.log(
            "comment-posted", "hi", {"text": "é ✓"}, entities=[group], user=user, level="warn"
        ),
    ]


def test_records_read_as_raw_reads_them(user, group) -> None:
    ids = _records(user, group)
    by_raw = list(AuditRecord.objects.raw(RECORDS))
    ours = models_of(AuditRecord, "default", RECORDS, None)
    assert [r.pk for r in ours] == ids
    assert [_state(r) for r in ours] == [_state(r) for r in by_raw]
    first = ours[0]
    assert first.params == {"n": 1, "nested": {"a": [1, 2]}}  # JSON through its converter
    assert isinstance(first.created_at, dt.datetime) and first._note == f"extra {first.pk}"
    assert "level" in first.get_deferred_fields()
    assert ours[1].level == "warn"  # a deferred field loads when read, as raw() leaves it
    assert ours[1].type.name == "comment-posted"


def test_columns_in_any_order_land_on_their_fields(user, group) -> None:
    _records(user, group)
    sql = "SELECT message, 7 AS _seven, user_id, id FROM audit_auditrecord ORDER BY id DESC"
    ours = models_of(AuditRecord, "default", sql, None)
    assert [(r.pk, r.message, r.user_id, r._seven) for r in ours] == [
        (r.pk, r.message, r.user_id, 7) for r in AuditRecord.objects.order_by("-id")
    ]


def test_links_with_parameters(user, group) -> None:
    ids = _records(user, group)
    placeholder = "%s"
    sql = (
        "SELECT id, record_id, content_type_id, object_id, role, name FROM audit_entitylink "
        f"WHERE record_id = {placeholder} ORDER BY id"
    )
    ours = models_of(EntityLink, "default", sql, [ids[1]])
    assert [_state(link) for link in ours] == [
        _state(link) for link in EntityLink.objects.raw(sql, [ids[1]])
    ]
    assert [link.object_id for link in ours] == [str(group.pk)]


def test_a_watched_model_gets_its_signals(user, group) -> None:
    _records(user, group)
    seen: list[int] = []

    def receiver(sender, instance, **kwargs) -> None:
        seen.append(instance.pk)

    post_init.connect(receiver, sender=AuditRecord, weak=False)
    try:
        ours = models_of(AuditRecord, "default", RECORDS, None)
    finally:
        post_init.disconnect(receiver, sender=AuditRecord)
    assert seen == [r.pk for r in ours] and len(seen) == 2
    assert [_state(r) for r in ours] == [_state(r) for r in AuditRecord.objects.raw(RECORDS)]


def test_no_rows_no_instances() -> None:
    assert models_of(AuditRecord, "default", RECORDS, None) == []


def test_other_columns_go_through_the_fields_named_for_them(user, group) -> None:
    _records(user, group)
    sql = (
        "SELECT r.id, s.uuid AS _session_uuid FROM audit_auditrecord r "
        "JOIN audit_usersession s ON s.id = r.session_id ORDER BY r.id"
    )
    uuid_field = UserSession._meta.get_field("uuid")
    ours = models_of(AuditRecord, "default", sql, None, {"_session_uuid": uuid_field})
    expected = [r.session.uuid for r in AuditRecord.objects.order_by("id")]
    assert [r._session_uuid for r in ours] == expected  # a UUID, as a queryset reads it
    assert all(isinstance(r._session_uuid, uuid.UUID) for r in ours)


def test_a_page_that_can_match_nothing_is_empty_without_a_query(
    user, group, django_assert_num_queries
) -> None:
    _records(user, group)
    with django_assert_num_queries(0):
        assert page_of_records(AuditRecord.objects.none()) == []
        assert page_of_records(AuditRecord.objects.filter(pk__in=[]), 5) == []
    assert [r.pk for r in page_of_records(AuditRecord.objects.order_by("-id"), 1)] == [
        AuditRecord.objects.order_by("-id").first().pk
    ]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="elsewhere the panel reads records_page's models"
)
def test_the_panel_reads_the_same_from_its_records_as_from_models(
    user, other_user, staff, group
) -> None:
    """``panel_page`` (the panel's own records, PostgreSQL) against ``records_page``
    (models): every entry of a varied history is written the same, for a reader who may
    open every link and one who may open few."""
    import audit
    from activity.entry_html import entries_html
    from activity.selectors import build_entries
    from audit.selectors import ActivityQuery, panel_page, records_page
    from tests.test_hardening import POISON, _poisoned_record

    for _ in range(2):  # the same edit twice: one entry, "2 times"
        logger.log(
            "query-edited",
            "",
            {"query": "Sales"},
            entities=[group],
            user=user,
            changes={
                "sql": {"old": "SELECT 1", "new": "SELECT 2"},
                "token": {"old": "", "new": "***"},
            },
        )
    logger.log(
        "error",
        "TypeError: x is undefined",
        {"n": 10**30, "f": 0.5},
        entities=[group],
        user=other_user,
        stack_trace="at f (a.js:1)\nat g (b.js:2)",
    )
    logger.log(
        "entity-shared",
        "",
        {"project": "Q3"},
        user=user,
        entities=[group, ("user", other_user.pk, "shared-with"), ("user", staff.pk, "")],
    )
    logger.log("log", "system at work", entities=[group])
    logger.log("comment-posted", "", {"text": "<b>Ship</b> it\nnow"}, entities=[group], user=staff)
    _poisoned_record(user, group, POISON[0])
    logger.log("log", "by a user deleted later", entities=[group], user=other_user)
    other_user.delete()
    kind = audit.kind("group")
    query = ActivityQuery.parse({}, default_limit=25, max_limit=200)

    def panel(load, viewer) -> str:
        page = audit.entity_activity_query(kind, str(group.pk), query, load=load)
        return str(
            entries_html(build_entries(page.records, about=("group", str(group.pk))), viewer=viewer)
        )

    for viewer in (staff, user):
        ours, models = panel(panel_page, viewer), panel(records_page, viewer)
        assert ours == models
        # Nine records; the two edits are one entry, and so are the poisoned record and
        # the one it was copied from (the same type, user, message and links).
        assert ours.count('<li class="act-entry') == 7
    assert "2 times" in ours and "deleted user #" in ours and "poisoned" in ours


def test_a_statement_naming_a_column_twice_is_refused(user, group) -> None:
    _records(user, group)
    sql = (
        "SELECT r.id, r.message, s.id FROM audit_auditrecord r "
        "JOIN audit_usersession s ON s.id = r.session_id"
    )
    with pytest.raises(ValueError, match="names a column twice"):
        models_of(AuditRecord, "default", sql, None)


def test_a_page_of_a_queryset_with_related_rows_reads_its_own(user, group) -> None:
    """A caller's ``select_related`` and ``prefetch_related`` (the events API's
    ``with_related``) leave the page as it is: each record's own id, uuid and links."""
    from audit.selectors import with_related

    ids = _records(user, group)
    related = with_related(AuditRecord.objects.order_by("-id"))
    page = page_of_records(related, 5)
    assert [r.pk for r in page] == ids[::-1]
    expected = {r.pk: r.uuid for r in AuditRecord.objects.all()}
    assert all(r.uuid == expected[r.pk] for r in page)
    assert [link.object_id for link in page[0].links.all()] == [str(group.pk)]
    assert page_of_records(related.filter(id__lt=page[-1].pk), 5) == []


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="elsewhere the panel reads records_page's models"
)
def test_entity_names_read_back_whole_from_the_panels_arrays(staff, group) -> None:
    """The panel's links come as PostgreSQL arrays: names with the characters an array's
    text quotes (and the word NULL), as people name things, read back as stored."""
    from django.contrib.auth.models import Group

    import audit
    from audit.selectors import ActivityQuery, panel_page

    names = ["NULL", "a,b", "{x}", 'say "hi"', "back\\slash", " spaced ", "é ✓", "null"]
    for name in names:
        logger.log("log", "named", entities=[group, Group.objects.create(name=name)])
    query = ActivityQuery.parse({}, default_limit=25, max_limit=200)
    page = audit.entity_activity_query(audit.kind("group"), str(group.pk), query, load=panel_page)
    shown = [[link.name for link in r.links] for r in page.records[::-1]]
    assert [links[1] for links in shown] == names
