"""The audit system's public face: what other apps and their users may rely on.

``import audit`` and use the names below (``audit.log(...)``, ``audit.register(...)``),
or the models from ``audit.models``; every other module of the package is private and
may change. A test holds the project's other apps to that.

Names resolve when first used (PEP 562), so that importing ``audit`` touches no model
before Django's app registry is ready; type checkers and editors see the real
signatures through the imports under ``TYPE_CHECKING``.

Writing: ``log``, ``Logger``, ``ingest`` (a client's batch, as the ingest API posts it),
``register`` (make a model an entity kind, with change tracking), ``disabled`` (no
tracking inside a block), ``bind`` / ``AuditContext`` / ``current_context`` (who is
acting), ``backdated`` (replay a history in time order), ``open_session`` /
``close_session``, ``uuid7``, ``has_lone_surrogate`` (text PostgreSQL cannot store).
Reading: ``ActivityQuery`` and the page selectors, ``settle_staged`` (a reader of
records with SQL of its own calls it first: with deferred tracking, the changes
committed so far become readable; the ORM's reads of records do it themselves),
``as_stored`` (reads inside see the records as stored, nothing staged stored first:
for work on one snapshot of them), the ``can_view_*`` rules, the names a reader may not see
(``hidden_targets``, ``hidden_change_targets``, ``hidden_masked_changes``,
``sees_every_name``), the entity kinds (``kind``, ``kinds``, ``kind_for_model``,
``kind_for_content_type_id``).
Hooks: ``records_stored``. Settings: ``AppSettings``, ``Setting``, ``SETTINGS``,
``limits``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .appsettings import AppSettings, Setting, SettingError

if TYPE_CHECKING:
    # Not a public name: imported so that a type checker analyses tracking along with
    # the package. django-stubs' plugin types a tracked model's managers by looking up
    # the class they have at run time (``audit.tracking.TrackedManager``) and finds it
    # only once that module is analysed; every models module reaches ``audit`` through
    # the settings (``django.conf`` imports them, and they import ``audit``).
    from . import tracking  # noqa: F401
    from .admin_display import user_activity_link
    from .api.pagination import StrictCursorPagination
    from .changes import MASK
    from .clock import OutOfOrder, backdated, micros, now
    from .config import SETTINGS, limits
    from .context import AuditContext, SessionRef, bind, new_request_id
    from .context import current as current_context
    from .hidden_names import change_targets as hidden_change_targets
    from .hidden_names import hidden as hidden_targets
    from .hidden_names import masked_changes as hidden_masked_changes
    from .hidden_names import sees_every_name
    from .logger import Logger, Message, log
    from .recording import ingest
    from .registry import EntityKind, kinds, register
    from .registry import for_content_type_id as kind_for_content_type_id
    from .registry import for_model as kind_for_model
    from .registry import get as kind
    from .selectors import (
        ActivityQuery,
        BadActivityQuery,
        can_view_entity,
        can_view_session,
        can_view_user_activity,
        entity_activity_facets,
        entity_activity_query,
        page_of_records,
        panel_page,
        whole_number,
    )
    from .sessions import close_session, open_session
    from .signals import records_purged, records_stored
    from .sql import SINGLE_RECORD as SINGLE_RECORD_SETTING
    from .staged import as_stored
    from .staged import settle as settle_staged
    from .storable import has_surrogate as has_lone_surrogate
    from .storage import StoredRecord
    from .unavailable import unavailable_response
    from .untracked import disabled
    from .uuids import uuid7
    from .witnesses import register_witness

# public name -> (private module, its name there)
_LAZY: dict[str, tuple[str, str]] = {
    "ActivityQuery": ("selectors", "ActivityQuery"),
    "AuditContext": ("context", "AuditContext"),
    "BadActivityQuery": ("selectors", "BadActivityQuery"),
    "EntityKind": ("registry", "EntityKind"),
    "Logger": ("logger", "Logger"),
    "MASK": ("changes", "MASK"),
    "Message": ("logger", "Message"),
    "OutOfOrder": ("clock", "OutOfOrder"),
    "SETTINGS": ("config", "SETTINGS"),
    "SINGLE_RECORD_SETTING": ("sql", "SINGLE_RECORD"),
    "SessionRef": ("context", "SessionRef"),
    "StoredRecord": ("storage", "StoredRecord"),
    "StrictCursorPagination": ("api.pagination", "StrictCursorPagination"),
    "backdated": ("clock", "backdated"),
    "bind": ("context", "bind"),
    "can_view_entity": ("selectors", "can_view_entity"),
    "can_view_session": ("selectors", "can_view_session"),
    "can_view_user_activity": ("selectors", "can_view_user_activity"),
    "close_session": ("sessions", "close_session"),
    "current_context": ("context", "current"),
    "disabled": ("untracked", "disabled"),
    "entity_activity_facets": ("selectors", "entity_activity_facets"),
    "entity_activity_query": ("selectors", "entity_activity_query"),
    "hidden_change_targets": ("hidden_names", "change_targets"),
    "hidden_masked_changes": ("hidden_names", "masked_changes"),
    "hidden_targets": ("hidden_names", "hidden"),
    "sees_every_name": ("hidden_names", "sees_every_name"),
    "ingest": ("recording", "ingest"),
    "has_lone_surrogate": ("storable", "has_surrogate"),
    "kind": ("registry", "get"),
    "kind_for_content_type_id": ("registry", "for_content_type_id"),
    "kind_for_model": ("registry", "for_model"),
    "kinds": ("registry", "kinds"),
    "limits": ("config", "limits"),
    "log": ("logger", "log"),
    "micros": ("clock", "micros"),
    "new_request_id": ("context", "new_request_id"),
    "now": ("clock", "now"),
    "open_session": ("sessions", "open_session"),
    "page_of_records": ("selectors", "page_of_records"),
    "panel_page": ("selectors", "panel_page"),
    "records_purged": ("signals", "records_purged"),
    "records_stored": ("signals", "records_stored"),
    "register_witness": ("witnesses", "register_witness"),
    "register": ("registry", "register"),
    "settle_staged": ("staged", "settle"),
    "as_stored": ("staged", "as_stored"),
    "unavailable_response": ("unavailable", "unavailable_response"),
    "user_activity_link": ("admin_display", "user_activity_link"),
    "uuid7": ("uuids", "uuid7"),
    "whole_number": ("selectors", "whole_number"),
}

__all__ = [
    "MASK",
    "SETTINGS",
    "SINGLE_RECORD_SETTING",
    "ActivityQuery",
    "AppSettings",
    "AuditContext",
    "BadActivityQuery",
    "EntityKind",
    "Logger",
    "Message",
    "OutOfOrder",
    "SessionRef",
    "Setting",
    "SettingError",
    "StoredRecord",
    "StrictCursorPagination",
    "as_stored",
    "backdated",
    "bind",
    "can_view_entity",
    "can_view_session",
    "can_view_user_activity",
    "close_session",
    "current_context",
    "disabled",
    "entity_activity_facets",
    "entity_activity_query",
    "has_lone_surrogate",
    "hidden_change_targets",
    "hidden_masked_changes",
    "hidden_targets",
    "ingest",
    "kind",
    "kind_for_content_type_id",
    "kind_for_model",
    "kinds",
    "limits",
    "log",
    "micros",
    "new_request_id",
    "now",
    "open_session",
    "page_of_records",
    "panel_page",
    "records_purged",
    "records_stored",
    "register",
    "register_witness",
    "sees_every_name",
    "settle_staged",
    "unavailable_response",
    "user_activity_link",
    "uuid7",
    "whole_number",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'audit' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
