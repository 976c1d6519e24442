"""The apps' settings: one table each, read through functions, checked by name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from audit import config as audit_config
from audit.appsettings import SettingError
from cloudwatch_export import config as export_config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
TABLES = [audit_config.SETTINGS, export_config.SETTINGS]


def _messages(tag: str | None = None, **kwargs: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in checks.run_checks(tags=[tag] if tag else None, **kwargs):
        found.setdefault(message.id, []).append(message.msg)
    return found


@pytest.mark.parametrize("table", TABLES, ids=["audit", "cloudwatch_export"])
def test_the_readme_lists_every_setting_with_its_default(table) -> None:
    """The README's tables are the config tables', not a third copy that can drift."""
    for name, setting in table.table.items():
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", README, re.MULTILINE)
        assert row is not None, f"{name} is missing from the README"
        if setting.default not in (None, ""):
            assert row.group(1).strip() == f"`{setting.shown_default}`", name


def test_the_audit_readers_read_each_setting_as_its_kind() -> None:
    """``audit.config``'s functions use the typed reader of their setting's kind."""
    table = audit_config.SETTINGS
    typed = {"int": table.integer, "float": table.number, "rate": table.text, "text": table.text}
    for name, setting in table.table.items():
        typed[setting.kind](name)
    readers = [
        function
        for function in vars(audit_config).values()
        if inspect.isfunction(function) and function.__module__ == audit_config.__name__
    ]
    assert len(readers) > len(table.table)  # every setting's, and limits()
    for reader in readers:
        reader()
    with override_settings(AUDIT_SWITCHES_LOCAL_SECONDS="2"):  # as the environment gives it
        assert audit_config.switches_local_seconds() == 2.0
    with pytest.raises(TypeError, match="AUDIT_INGEST_THROTTLE is not an integer setting"):
        table.integer("AUDIT_INGEST_THROTTLE")


def test_a_changed_setting_is_read_at_once() -> None:
    assert audit_config.max_batch() == 1000
    with override_settings(AUDIT_MAX_BATCH=7):
        assert audit_config.max_batch() == 7
        with override_settings(AUDIT_MAX_BATCH="12"):  # as the environment gives it
            assert audit_config.max_batch() == 12
        assert audit_config.max_batch() == 7
    assert audit_config.max_batch() == 1000


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("AUDIT_MAX_BATCH", "lots", "AUDIT_MAX_BATCH must be an integer, not 'lots'"),
        ("AUDIT_MAX_BATCH", 0, "AUDIT_MAX_BATCH must be at least 1, not 0"),
        ("AUDIT_MAX_PARAMS_DEPTH", 10**6, "must be at most 10000"),
        ("AUDIT_SWITCHES_LOCAL_SECONDS", "nan", "must be a finite number"),
        ("AUDIT_INGEST_THROTTLE", "fast", "must look like 6000/min"),
        ("AUDIT_INGEST_EVENT_THROTTLE", "0/min", "must look like 6000/min"),
        ("AUDIT_RETENTION_DAYS", True, "must be an integer, not True"),
        ("CLOUDWATCH_EXPORT_BATCH_EVENTS", 20_000, "must be at most 10000"),
        ("CLOUDWATCH_EXPORT_READ_TIMEOUT", "-1", "must be at least 0.1"),
    ],
)
def test_a_bad_value_is_named_by_the_check_and_the_reader(name, value, words) -> None:
    table = audit_config.SETTINGS if name in audit_config.SETTINGS.table else export_config.SETTINGS
    with override_settings(**{name: value}):
        found = _messages()
        app = "audit" if table is audit_config.SETTINGS else "cloudwatch_export"
        assert any(words in message for message in found.get(f"{app}.E001", [])), found
        with pytest.raises(SettingError, match=re.escape(words)):
            table(name)


def test_the_environment_sets_only_what_it_names() -> None:
    environ = {"AUDIT_MAX_BATCH": "50", "AUDIT_UNRELATED": "x", "CLOUDWATCH_EXPORT_CLAIM_SIZE": ""}
    assert audit_config.SETTINGS.from_environment(environ) == {"AUDIT_MAX_BATCH": "50"}
    assert export_config.SETTINGS.from_environment(environ) == {}


def test_no_audit_warning_of_the_projects_secret_key(settings) -> None:
    """A development SECRET_KEY is the project's business: Django's own deploy check
    reports it (security.W009), the audit app does not repeat it."""
    settings.SECRET_KEY = settings.AUDIT_DEVELOPMENT_SECRET_KEY
    found = _messages(include_deployment_checks=True)
    assert "security.W009" in found
    assert not [key for key in found if key.startswith("audit.W001")]


def test_append_only_outside_postgresql_is_a_deploy_warning(on_postgres: bool) -> None:
    found = _messages(include_deployment_checks=True)
    if on_postgres:
        assert "audit.W002" not in found
    else:
        assert "append-only is enforced only on PostgreSQL" in found["audit.W002"][0]
    assert "audit.W002" not in _messages()  # not on every command


def test_a_records_stored_receiver_on_postgresql_is_an_error(on_postgres: bool) -> None:
    from audit.signals import records_stored

    def slow_listener(**kwargs: Any) -> None:
        pass

    before = "audit.E003" in _messages()
    records_stored.connect(slow_listener, dispatch_uid="test-slow-listener")
    try:
        found = _messages()
    finally:
        records_stored.disconnect(dispatch_uid="test-slow-listener")
    if on_postgres:
        assert not before
        assert "slow_listener" in found["audit.E003"][0]
    else:
        assert "audit.E003" not in found  # elsewhere the outbox itself listens
