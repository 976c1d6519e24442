"""audit.log, the Python Logger and the logging handler."""

from __future__ import annotations

import logging

import pytest

import audit
from audit.handler import AuditLogHandler
from audit.logger import Logger
from audit.models import AuditRecord, EventType

pytestmark = pytest.mark.django_db


def test_audit_log_stores_one_record_with_entities(user, other_user) -> None:
    record_id = audit.log(
        "user-invited",
        "invited bob",
        {"via": "email"},
        entities=[(("user", other_user.pk, "invitee"))],
        user=user,
    )
    record = AuditRecord.objects.get(pk=record_id)
    assert (record.type.name, record.level, record.source) == ("user-invited", "audit", "server")
    link = record.links.get()
    assert (link.object_id, link.role, link.name) == (str(other_user.pk), "invitee", "bob")


def test_audit_log_accepts_model_instances_and_dicts(user, other_user) -> None:
    record_id = audit.log(
        "log", entities=[other_user, {"type": "user", "id": user.pk, "role": "actor"}]
    )
    links = AuditRecord.objects.get(pk=record_id).links.order_by("id")
    assert [(link.name, link.role) for link in links] == [("bob", ""), ("alice", "actor")]


def test_audit_log_refuses_unregistered_models(user) -> None:
    from django.contrib.contenttypes.models import ContentType

    with pytest.raises(ValueError, match="not registered"):
        audit.log("log", entities=[ContentType.objects.first()])


def test_audit_log_returns_none_for_a_disabled_type() -> None:
    EventType.objects.filter(name="log").update(enabled=False)
    assert audit.log("log", "dropped") is None
    assert not AuditRecord.objects.filter(type__name="log").exists()


def test_audit_log_cuts_text_over_the_limits_instead_of_failing(settings) -> None:
    settings.AUDIT_MAX_MESSAGE_LENGTH = 5
    record = AuditRecord.objects.get(pk=audit.log("log", "0123456789"))
    assert record.message == "01234"


def test_audit_log_stores_params_of_python_types() -> None:
    import datetime
    import decimal
    import uuid

    key = uuid.uuid4()
    record = AuditRecord.objects.get(
        pk=audit.log(
            "log",
            params={"when": datetime.date(2026, 1, 2), "n": decimal.Decimal("1.5"), "key": key},
        )
    )
    assert record.params == {"when": "2026-01-02", "n": "1.5", "key": str(key)}


def test_audit_log_records_non_finite_floats_as_text() -> None:
    """NaN and the infinities are no JSON: PostgreSQL refused the record and the call
    failed (a ``DataError`` in the caller's transaction). They are recorded as the text
    JavaScript writes, wherever they are in the params."""
    nan, inf = float("nan"), float("inf")
    params = {"ratio": nan, "limit": inf, "floor": -inf, "deep": [nan, {"x": inf}], "ok": 1.5}
    record = AuditRecord.objects.get(pk=audit.log("log", "scores", params))
    assert record.params == {
        "ratio": "NaN",
        "limit": "Infinity",
        "floor": "-Infinity",
        "deep": ["NaN", {"x": "Infinity"}],
        "ok": 1.5,
    }


def test_a_change_to_a_non_finite_float_is_recorded_as_text() -> None:
    from audit.recording import build_event, record_events

    event = build_event("log", "edited", changes={"score": {"old": 0.5, "new": float("-inf")}})
    record_events([event])
    assert AuditRecord.objects.get(message="edited").changes == {
        "score": {"old": 0.5, "new": "-Infinity"}
    }


def test_a_circular_value_still_fails_in_the_encoder_not_in_a_recursion() -> None:
    """A value that contains itself is refused by the encoder with a ``ValueError``, as
    before, with or without a NaN in it; the rewrite of non-finite floats stops at a
    container it has seen instead of recursing forever."""
    for first in (1.0, float("nan")):
        loop: list[object] = [first]
        loop.append(loop)
        with pytest.raises(ValueError, match=r"Circular reference|Out of range float"):
            audit.log("log", params={"loop": loop})


def test_logger_mirrors_the_javascript_api(user) -> None:
    logger = Logger(lambda m: m.params.__setitem__("persistent", "value"), user=user)
    first = logger.log("HELLO WORLD", {"test": "value", "foo": "bar"})
    second = logger.log("HELLO WORLD", {"test": "value", "foo": "bar"}, "my_log")
    a, b = AuditRecord.objects.get(pk=first), AuditRecord.objects.get(pk=second)
    assert a.type.name == "log" and b.type.name == "my_log"
    assert a.params == b.params == {"test": "value", "foo": "bar", "persistent": "value"}
    assert a.user_id == user.pk


def test_logger_callback_may_change_the_message_and_default_params_apply() -> None:
    def shout(m):
        m.message = m.message.upper()
        m.type = "package-tested"

    logger = Logger(shout, params={"package": "demo"})
    record = AuditRecord.objects.get(pk=logger.log("tests passed", {"count": 3}))
    assert record.message == "TESTS PASSED"
    assert record.type.name == "package-tested"
    assert record.params == {"package": "demo", "count": 3}


@pytest.mark.parametrize("method", ["audit", "usage", "info", "debug", "warning"])
def test_logger_level_methods(method: str) -> None:
    record = AuditRecord.objects.get(pk=getattr(Logger(), method)("msg"))
    assert record.level == method and record.type.name == "log"


def test_logger_error_from_an_exception_keeps_its_traceback() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        record_id = Logger().error(exc, {"where": "test"})
    record = AuditRecord.objects.get(pk=record_id)
    assert record.type.name == "error" and record.level == "error"
    assert record.message == "KeyError: 'missing'"
    assert "Traceback" in record.stack_trace and "test_python_api.py" in record.stack_trace
    assert len(record.fingerprint) == 40


def test_logger_error_with_an_explicit_stack_trace() -> None:
    record_id = Logger().log("Error!", {"stackTrace": "Error\n at f (a.js:1:2)"}, "error")
    record = AuditRecord.objects.get(pk=record_id)
    assert record.level == "error" and record.fingerprint == ""  # python API: explicit arg only
    record_id = Logger().error("Error!", stack_trace="Error\n at f (a.js:1:2)")
    assert AuditRecord.objects.get(pk=record_id).fingerprint


@pytest.fixture
def py_logger():
    handler = AuditLogHandler(level=logging.INFO)
    log = logging.getLogger("tests.audit-handler")
    log.addHandler(handler)
    log.propagate = False
    yield log
    log.removeHandler(handler)


def test_logging_handler_stores_errors_with_their_traceback(py_logger) -> None:
    try:
        1 / 0
    except ZeroDivisionError:
        py_logger.exception("division failed")
    record = AuditRecord.objects.get()
    assert (record.type.name, record.level, record.message) == ("error", "error", "division failed")
    assert "ZeroDivisionError" in record.stack_trace and record.fingerprint
    assert record.params["logger"] == "tests.audit-handler"


def test_logging_handler_stores_warnings_as_log_records(py_logger) -> None:
    py_logger.warning("disk at %d%%", 91)
    py_logger.debug("below the handler level")
    record = AuditRecord.objects.get()
    assert (record.type.name, record.level, record.message) == ("log", "warning", "disk at 91%")


def test_logging_handler_never_raises_or_recurses(py_logger, monkeypatch) -> None:
    import audit.logger as module

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        logging.getLogger("tests.audit-handler").error("inside the handler")
        raise RuntimeError("database down")

    monkeypatch.setattr(module, "log", broken)
    monkeypatch.setattr(logging, "raiseExceptions", False)
    py_logger.error("outer")  # must not raise, must not loop
    assert calls == [1]


def test_a_failing_record_leaves_the_callers_transaction_usable(py_logger, monkeypatch) -> None:
    """The handler stores in a savepoint: a statement that fails there (here a division
    by zero in the database) is rolled back alone, and the caller's work goes on."""
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    import audit.logger as module

    def failing(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    monkeypatch.setattr(module, "log", failing)
    monkeypatch.setattr(logging, "raiseExceptions", False)
    with transaction.atomic():
        Group.objects.create(name="before")
        py_logger.warning("the record fails")
        Group.objects.create(name="after")
    assert Group.objects.filter(name__in=["before", "after"]).count() == 2


# A file name that is not UTF-8, as ``os.fsdecode`` gives it: a lone surrogate.
NOT_UTF8 = "report-\udcff.csv"


def test_lone_surrogates_are_recorded_as_replacement_characters(py_logger) -> None:
    """PostgreSQL's text and JSON cannot hold them; the call must not fail on them."""
    first = audit.log("log", f"imported {NOT_UTF8}", {NOT_UTF8: [NOT_UTF8], "ok": "😀"})
    second = audit.Logger().error(f"cannot read {NOT_UTF8}", stack_trace=f"at {NOT_UTF8}:1")
    py_logger.warning("could not read %s", NOT_UTF8)
    stored = "report-\ufffd.csv"
    record = AuditRecord.objects.get(pk=first)
    assert record.message == f"imported {stored}"
    assert record.params == {stored: [stored], "ok": "😀"}
    error_record = AuditRecord.objects.get(pk=second)
    assert stored in error_record.message and stored in error_record.stack_trace
    assert AuditRecord.objects.get(message__startswith="could not read").message == (
        f"could not read {stored}"
    )


def test_audit_log_replaces_nul_characters_it_cannot_store() -> None:
    record = AuditRecord.objects.get(pk=audit.log("log", "a\x00b", {"k": "x\x00"}))
    assert record.message == "a\ufffdb" and record.params == {"k": "x\ufffd"}


def test_audit_log_keeps_the_text_backslash_u0000_and_replaces_only_nul() -> None:
    params = {"path": "C:\\u0000", "pair": "\\\\u0000", "nul after a backslash": "\\\x00"}
    record = AuditRecord.objects.get(pk=audit.log("log", params=params))
    assert record.params == {
        "path": "C:\\u0000",
        "pair": "\\\\u0000",
        "nul after a backslash": "\\\ufffd",
    }
