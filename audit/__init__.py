"""The audit system's public API.

``audit.log(...)`` and ``audit.Logger`` write records; ``audit.register(Model, kind=...)``
makes a model an entity kind. The names are resolved lazily so that importing
``audit`` never touches models before Django's app registry is ready.
"""

from __future__ import annotations

from typing import Any

from .appsettings import AppSettings, Setting, SettingError

__all__ = ["AppSettings", "Logger", "Setting", "SettingError", "log", "register"]


def log(*args: Any, **kwargs: Any) -> int | None:
    """Record one event: ``audit.log(type, message="", params=None, *, entities=(), ...)``."""
    from .logger import log as _log

    return _log(*args, **kwargs)


def register(*args: Any, **kwargs: Any) -> Any:
    """Register a model as an entity kind (see ``audit.registry.register``)."""
    from .registry import register as _register

    return _register(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "Logger":
        from .logger import Logger

        return Logger
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
