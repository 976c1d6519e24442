"""Records in plain words (``activity.describe``) and edits as compact diffs
(``activity.diff``)."""

from __future__ import annotations

import pytest

import audit
from activity.describe import describe, describe_parts, entity_url, link_refs
from activity.diff import MASK_DISPLAY, render_changes, text_diff
from audit import logger, registry
from audit.builtin_types import BUILTIN_NAMES
from audit.models import AuditRecord
from audit.selectors import with_related

pytestmark = pytest.mark.django_db


def _record(type_name: str, message: str = "", params=None, **kwargs) -> AuditRecord:
    pk = logger.log(type_name, message, params, **kwargs)
    return with_related(AuditRecord.objects.filter(pk=pk)).get()


# Each built-in type with the params a client typically sends, and the sentence.
EXPECTED: dict[str, tuple[str, dict, str]] = {
    "query-created": ("", {"query": "Sales by region"}, "alice created the query Sales by region"),
    "query-edited": ("", {"query": "Sales by region"}, "alice edited the query Sales by region"),
    "query-deleted": ("", {"query": "Old"}, "alice deleted the query Old"),
    "query-start": ("", {"query": "Sales"}, "alice ran the query Sales"),
    "query-published": ("", {"query": "Sales"}, "alice published the query Sales"),
    "query-transformations-edited": (
        "",
        {"query": "Sales"},
        "alice edited the transformations of the query Sales",
    ),
    "connection-created": (
        "",
        {"connection": "Warehouse"},
        "alice created the connection Warehouse",
    ),
    "connection-edited": ("", {"connection": "Warehouse"}, "alice edited the connection Warehouse"),
    "connection-deleted": (
        "",
        {"connection": "Warehouse"},
        "alice deleted the connection Warehouse",
    ),
    "connection-published": ("", {}, "alice published a connection"),
    "job-created": ("", {"job": "Nightly load"}, "alice created the job Nightly load"),
    "job-edited": ("", {"job": "Nightly load"}, "alice edited the job Nightly load"),
    "job-deleted": ("", {"job": "Nightly load"}, "alice deleted the job Nightly load"),
    "job-transformations-edited": (
        "",
        {"job": "Nightly load"},
        "alice edited the transformations of the job Nightly load",
    ),
    "job-start": ("", {"job": "Nightly load"}, "alice ran the job Nightly load"),
    "script-created": ("", {"script": "Clean"}, "alice created the script Clean"),
    "script-edited": ("", {"script": "Clean"}, "alice edited the script Clean"),
    "script-deleted": ("", {"script": "Clean"}, "alice deleted the script Clean"),
    "script-start": ("", {"script": "Clean"}, "alice ran the script Clean"),
    "script-published": ("", {"script": "Clean"}, "alice published the script Clean"),
    "predictive-model-created": (
        "",
        {"model": "Churn"},
        "alice created the predictive model Churn",
    ),
    "predictive-model-edited": ("", {"name": "Churn"}, "alice edited the predictive model Churn"),
    "predictive-model-deleted": ("", {}, "alice deleted a predictive model"),
    "predictive-model-start": ("", {"model": "Churn"}, "alice ran the predictive model Churn"),
    "predictive-model-published": (
        "",
        {"model": "Churn"},
        "alice published the predictive model Churn",
    ),
    "action-start": ("", {"action": "Export to CSV"}, "alice ran the action Export to CSV"),
    "notebook-created": ("", {"notebook": "EDA"}, "alice created the notebook EDA"),
    "notebook-edited": ("", {"notebook": "EDA"}, "alice edited the notebook EDA"),
    "notebook-deleted": ("", {"notebook": "EDA"}, "alice deleted the notebook EDA"),
    "notebook-start": ("", {"notebook": "EDA"}, "alice ran the notebook EDA"),
    "notebook-published": ("", {"notebook": "EDA"}, "alice published the notebook EDA"),
    "project-created": ("", {"project": "Sales"}, "alice created the project Sales"),
    "project-edited": ("", {"project": "Sales"}, "alice edited the project Sales"),
    "project-deleted": ("", {"project": "Sales"}, "alice deleted the project Sales"),
    "project-opened": ("", {"project": "Sales"}, "alice opened the project Sales"),
    "entity-shared": ("", {"project": "X", "with": ["bob"]}, "alice shared the project X with bob"),
    "entity-shared-silent": (
        "",
        {"project": "X", "with": "bob"},
        "alice shared the project X with bob without notifying anyone",
    ),
    "table-produced": (
        "",
        {"table": "sales_2024", "rows": 1200, "query": "Sales"},
        "alice produced the table sales_2024 of 1,200 rows from the query Sales",
    ),
    "user-invited": ("", {"email": "eve@example.com"}, "alice invited eve@example.com"),
    "comment-posted": ("Looks good", {}, "alice posted a comment"),
    "dialog-ok": ("", {"dialog": "Share"}, "alice confirmed the dialog Share"),
    "main-menu-item-click": (
        "",
        {"item": "Data | Queries"},
        "alice clicked Data | Queries in the main menu",
    ),
    "error": ("TypeError: x is undefined", {}, "error: TypeError: x is undefined"),
    "tutorial-completed": ("", {"tutorial": "Basics"}, "alice completed the tutorial Basics"),
    "viewer-rendered": ("", {"viewer": "Scatter plot"}, "alice rendered the viewer Scatter plot"),
    "log": ("HELLO WORLD", {}, "alice logged: HELLO WORLD"),
    "package-tested": (
        "",
        {"package": "Chem", "passed": 12, "failed": 1},
        "alice tested the package Chem: 12 passed, 1 failed",
    ),
}


def test_every_builtin_type_has_a_sentence() -> None:
    assert set(EXPECTED) == BUILTIN_NAMES


@pytest.mark.parametrize("type_name", sorted(BUILTIN_NAMES))
def test_builtin_type_in_plain_words(user, type_name) -> None:
    message, params, sentence = EXPECTED[type_name]
    record = _record(type_name, message, params, user=user)
    assert describe(record) == sentence
    assert "recorded" not in sentence  # not the fallback for custom types


def test_builtin_types_read_sensibly_with_no_params_at_all(user) -> None:
    for name in sorted(BUILTIN_NAMES):
        text = describe(_record(name, "", {}, user=user))
        assert text and type(text) is str
        assert f"recorded {name}" not in text  # words of its own, not the fallback


def test_a_custom_type_and_a_record_without_user() -> None:
    assert describe(_record("my_log", "HELLO WORLD")) == "system recorded my_log: HELLO WORLD"
    assert describe(_record("my_log")) == "system recorded my_log"


def test_linked_entities_name_the_subject_and_the_audience(user, other_user, group) -> None:
    shared = _record(
        "entity-shared",
        "",
        {"project": "Sales"},
        entities=[("group", group.pk, "shared-with"), ("user", other_user.pk, "shared-with")],
        user=user,
    )
    assert describe(shared) == "alice shared the project Sales with analysts and bob"
    invited = _record("user-invited", "", {}, entities=[other_user], user=user)
    assert describe(invited) == "alice invited bob"
    html = describe_parts(invited).html()
    assert '<a class="act-mention" href="/activity/users/bob/">bob</a>' in html


def test_comment_text_is_the_detail_and_names_are_escaped(user, group) -> None:
    record = _record(
        "comment-posted", "", {"text": "<b>nice</b> work", "project": "P<1>"}, user=user
    )
    parts = describe_parts(record)
    assert parts.text == "alice posted a comment on the project P<1>"
    assert parts.detail == "<b>nice</b> work"
    assert "P&lt;1&gt;" in parts.html() and "<1>" not in parts.html()


def test_error_is_standalone_and_deleted_users_are_named(user) -> None:
    record = _record("error", "TypeError: boom", user=user)
    parts = describe_parts(record)
    assert parts.standalone and parts.text == "error: TypeError: boom"
    assert parts.actor == "alice"
    record._state.fields_cache["user"] = None  # as select_related finds a user gone
    assert describe_parts(record).actor == f"deleted user #{user.pk}"


def test_link_urls(group, other_user) -> None:
    record = _record("log", "x", entities=[group, other_user])
    assert [(r.kind, r.url) for r in link_refs(record)] == [
        ("group", None),
        ("user", "/activity/users/bob/"),
    ]
    url = entity_url("query", "3f2a0000-0000-4000-8000-000000000000")
    assert url == "/catalog/query/3f2a0000-0000-4000-8000-000000000000/"
    # A kind whose app names no page links nowhere (it used to get a catalog URL: a 404).
    assert entity_url("cloudwatch-settings", "3f2a0000-0000-4000-8000-000000000000") is None
    assert entity_url("spaceship", "1") is None


def test_a_catalog_entity_link_names_the_subject(user) -> None:
    """With the catalog installed, a query's edit names the query and links its page."""
    kind = registry.get("query")
    if kind is None:
        pytest.skip("the catalog app registers no 'query' kind")
    model = kind.model
    fields = {f.name for f in model._meta.get_fields()}
    if not {"name", "owner"} <= fields:
        pytest.skip("catalog query model has no name/owner")
    record = _record(
        "query-edited",
        "",
        {},
        entities=[("query", "3f2a0000-0000-4000-8000-000000000000")],
        user=user,
    )
    refs = link_refs(record)
    assert refs[0].url == "/catalog/query/3f2a0000-0000-4000-8000-000000000000/"


# --- diffs ----------------------------------------------------------------------------


def test_short_values_inline_and_unchanged_fields_left_out() -> None:
    changes = render_changes(
        {
            "name": {"old": "Sales", "new": "Sales by region"},
            "published": {"old": False, "new": True},
            "limit": {"old": None, "new": 10},
            "same": {"old": 1, "new": 1},
            "params": {"old": {"a": 1}, "new": {"a": 1, "b": [1, 2]}},
        }
    )
    assert [c.text for c in changes.fields] == [
        "name: Sales -> Sales by region",
        "published: false -> true",
        "limit: — -> 10",
        'params: {"a":1} -> {"a":1,"b":[1,2]}',
    ]


def test_long_text_becomes_a_short_line_diff_with_more() -> None:
    old = "\n".join(f"SELECT col_{n}" for n in range(40))
    new = "\n".join(f"SELECT col_{n}" if n % 4 else f"SELECT new_{n}" for n in range(40))
    (change,) = render_changes({"sql": {"old": old, "new": new}}).fields
    assert change.style == "lines"
    assert len(change.lines) <= 6
    assert [(line.op, line.text) for line in change.lines[:2]] == [
        ("-", "SELECT col_0"),
        ("+", "SELECT new_0"),
    ]
    assert change.more == 20 - sum(1 for line in change.lines if line.op in "+-")
    assert change.text.endswith(f"+{change.more} more")


def test_a_small_sql_edit_shows_only_the_changed_lines_with_context() -> None:
    old = "SELECT region, sum(amount)\nFROM sales\nWHERE year = 2023\nGROUP BY region"
    new = "SELECT region, sum(amount)\nFROM sales\nWHERE year = 2024\nGROUP BY region"
    lines, more = text_diff(old, new)
    assert [(line.op, line.text) for line in lines] == [
        (" ", "FROM sales"),
        ("-", "WHERE year = 2023"),
        ("+", "WHERE year = 2024"),
    ]
    assert more == 0


def test_a_long_single_line_is_diffed_by_words_around_the_change() -> None:
    old = "This query computes the monthly revenue per region for the finance team " * 2
    new = old.replace("monthly", "weekly", 1)
    (change,) = render_changes({"description": {"old": old, "new": new}}).fields
    assert change.style == "lines"
    assert [line.op for line in change.lines] == ["-", "+"]
    assert "monthly" in change.lines[0].text and "weekly" in change.lines[1].text
    assert all(len(line.text) < 80 for line in change.lines)


def test_masked_values_stay_masked() -> None:
    import audit

    changes = render_changes(
        {
            "password": {"old": audit.MASK, "new": audit.MASK},
            "token": {"old": "***", "new": "***"},
            "key": {"masked": True},
        }
    )
    assert [c.style for c in changes.fields] == ["masked", "masked", "masked"]
    assert changes.fields[0].text == f"password: {MASK_DISPLAY} -> {MASK_DISPLAY} (secret)"


def test_a_foreign_key_reads_by_name_and_two_targets_of_one_name_by_id() -> None:
    """Change tracking records a foreign key by its targets' names, ids beside them."""
    changes = render_changes(
        {
            "event_type": {"old": "log", "new": "error", "old_id": 42, "new_id": 43},
            "project": {"old": "Sales", "new": "Sales", "old_id": 7, "new_id": 9},
            "owner": {"old": "alice", "new": "alice", "old_id": 3, "new_id": 3},
        }
    )
    assert [c.text for c in changes.fields] == [
        "event type: log -> error",
        "project: Sales #7 -> Sales #9",
    ]


def test_odd_changes_never_fail() -> None:
    assert not render_changes(None)
    assert not render_changes(["not", "a", "dict"])
    changes = render_changes({"note": "set by a client", "n": {"new": 3}})
    assert [c.text for c in changes.fields] == ["note: set by a client", "n: — -> 3"]


def test_many_fields_are_capped() -> None:
    changes = render_changes({f"f{n}": {"old": n, "new": n + 1} for n in range(12)})
    assert len(changes.fields) == 8 and changes.more == 4


def test_a_secret_set_or_changed_reads_in_words_without_either_value() -> None:
    """Settings -> Log's secret key: its column name is not shown, nor an empty side as a
    secret; a change shows neither value."""
    changes = render_changes(
        {
            "secret_key_encrypted": {"old": "", "new": audit.MASK},
            "access_key": {"old": audit.MASK, "new": audit.MASK},
        }
    )
    set_key, changed = changes.fields
    assert set_key.label == "secret key"
    assert set_key.text == f"secret key: (none) -> {MASK_DISPLAY} (secret)"
    assert changed.text == f"access key: {MASK_DISPLAY} -> {MASK_DISPLAY} (secret)"


def test_an_empty_masked_field_is_recorded_empty(db) -> None:
    from cloudwatch_export import export_settings
    from cloudwatch_export.models import ExportSettings

    from .cloudwatch_helpers import ACCESS_KEY, SECRET_KEY

    ExportSettings.load()
    export_settings.apply(
        export_settings.Changes(access_key=ACCESS_KEY, secret_key=SECRET_KEY, log_group="g")
    )
    edit = AuditRecord.objects.get(type__name="cloudwatch-settings-edited")
    assert edit.changes["access_key"] == {"old": "", "new": audit.MASK}
    assert edit.changes["secret_key_encrypted"] == {"old": "", "new": audit.MASK}
