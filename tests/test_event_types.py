"""The 47 types of the specification and the trail's own three are seeded; custom types
register on first use, bounded."""

from __future__ import annotations

import pytest
from django.test import override_settings

from audit import event_types
from audit.builtin_types import BUILTIN_TYPES
from audit.models import EventType
from audit.server_types import TRAIL_TYPES

SPEC_TYPES = """query-created query-edited query-deleted query-start query-published
query-transformations-edited connection-created connection-edited connection-deleted
connection-published job-created job-edited job-deleted job-transformations-edited job-start
script-created script-edited script-deleted script-start script-published
predictive-model-created predictive-model-edited predictive-model-deleted
predictive-model-start predictive-model-published action-start notebook-created
notebook-edited notebook-deleted notebook-start notebook-published project-created
project-edited project-deleted project-opened entity-shared entity-shared-silent
table-produced user-invited comment-posted dialog-ok main-menu-item-click error
tutorial-completed viewer-rendered log package-tested""".split()


@pytest.mark.django_db
def test_the_specification_types_are_seeded_with_level_and_description() -> None:
    rows = {t.name: t for t in EventType.objects.filter(built_in=True)}
    assert sorted(rows) == sorted([*SPEC_TYPES, *TRAIL_TYPES])
    assert len(SPEC_TYPES) == 47
    assert all(t.description for t in rows.values())
    assert rows["error"].level == "error"
    assert rows["query-edited"].level == "audit"
    assert rows["main-menu-item-click"].level == "usage"
    assert len(BUILTIN_TYPES) == 47
    assert all(rows[name].server_only and rows[name].level == "audit" for name in TRAIL_TYPES)


@pytest.mark.django_db
def test_unknown_type_is_registered_on_first_use_once() -> None:
    first = event_types.resolve("my_log")
    event_types.clear_cache()
    again = event_types.resolve("my_log")
    assert first.id == again.id
    row = EventType.objects.get(name="my_log")
    assert not row.built_in and row.level == "info"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "-starts-with-dash", "has space", "x" * 65, "émoji"])
def test_type_names_outside_the_pattern_are_refused(name: str) -> None:
    with pytest.raises(event_types.UnknownType, match="letters, digits"):
        event_types.resolve(name)
    assert not EventType.objects.filter(name=name).exists()


@pytest.mark.django_db
@override_settings(AUDIT_MAX_CUSTOM_TYPES=2)
def test_custom_types_are_capped_but_known_ones_still_resolve() -> None:
    event_types.resolve("custom-1")
    event_types.resolve("custom-2")
    with pytest.raises(event_types.UnknownType, match="limit of 2 custom types"):
        event_types.resolve("custom-3")
    assert event_types.resolve("custom-1").name == "custom-1"
    assert event_types.resolve("log").name == "log"


@pytest.mark.django_db
def test_type_ids_for_a_filter_come_from_the_table_and_create_nothing(
    django_assert_num_queries,
) -> None:
    known = EventType.objects.get(name="dialog-ok")
    event_types.resolve("dialog-ok")  # the process's table is loaded
    with django_assert_num_queries(0):
        assert event_types.ids_of(["dialog-ok"]) == [known.pk]
    with django_assert_num_queries(1):  # a name this process does not know is looked up
        assert event_types.ids_of(["dialog-ok", "never-seen"]) == [known.pk]
    assert not EventType.objects.filter(name="never-seen").exists()
