"""A table of an app's settings: each name once, with its default, meaning and bounds.

An app lists its settings in one ``AppSettings`` (as DRF's ``APISettings`` and
django-waffle's ``defaults.py`` do) and reads them through functions that call it, so:

* every default is written once, in the app, and documented beside it;
* values are read when used, cached, and forgotten when ``setting_changed`` says a
  setting of the table changed (``override_settings`` and pytest-django's
  ``settings`` fixture work);
* a value of the wrong type or out of bounds is an error that names the setting, from
  the reader and from the app's system check (``problems()``), never a crash far away;
* the project's ``settings.py`` takes the values from the environment with
  ``from_environment()``, without repeating a default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")


class SettingError(ImproperlyConfigured, ValueError):
    """A setting's value cannot be used; the message names the setting and the bounds."""


@dataclass(frozen=True)
class Setting:
    """One setting: ``kind`` is ``int``, ``float``, ``rate`` (``N/sec|min|hour|day``) or
    ``text``; numbers are kept within ``minimum`` and ``maximum``."""

    name: str
    default: Any
    doc: str
    kind: str = "int"
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, raw: Any) -> Any:
        if self.kind == "text":
            return "" if raw is None else str(raw)
        if self.kind == "rate":
            text = str(raw)
            match = _RATE.match(text)
            if match is None or int(match.group(1)) < 1:
                raise SettingError(
                    f"{self.name} must look like 6000/min (N/sec, /min, /hour or /day), "
                    f"not {text!r}"
                )
            return text.strip()
        number = self._number(raw)
        if self.minimum is not None and number < self.minimum:
            raise SettingError(f"{self.name} must be at least {self.minimum:g}, not {number:g}")
        if self.maximum is not None and number > self.maximum:
            raise SettingError(f"{self.name} must be at most {self.maximum:g}, not {number:g}")
        return number

    def _number(self, raw: Any) -> int | float:
        wanted = "an integer" if self.kind == "int" else "a number"
        if isinstance(raw, bool):
            raise SettingError(f"{self.name} must be {wanted}, not {raw!r}")
        try:
            if self.kind == "int":
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
                return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
            number = float(raw)
        except (TypeError, ValueError):
            raise SettingError(f"{self.name} must be {wanted}, not {raw!r}") from None
        if not math.isfinite(number):
            raise SettingError(f"{self.name} must be a finite number, not {raw!r}")
        return number

    @property
    def shown_default(self) -> str:
        """The default as the README's tables write it."""
        if isinstance(self.default, int) and not isinstance(self.default, bool):
            return str(self.default)
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default) if self.default not in (None, "") else "none"


class AppSettings:
    """The settings of one app, read from Django's settings with their defaults."""

    def __init__(self, *table: Setting) -> None:
        self.table: dict[str, Setting] = {setting.name: setting for setting in table}
        self._values: dict[str, Any] = {}
        setting_changed.connect(self._forget, weak=False)

    def __call__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            pass
        setting = self.table[name]
        raw = getattr(django_settings, name, None)
        value = setting.default if raw is None else setting.parse(raw)
        self._values[name] = value
        return value

    # Typed readers: a value is the table's default or what ``Setting.parse`` made of
    # the raw one, so its type follows the setting's kind. Asking for another type is a
    # mistake in the caller, said by name.

    def integer(self, name: str) -> int:
        """The value of an ``int`` setting."""
        value = self(name)
        if not isinstance(value, int):
            raise TypeError(f"{name} is not an integer setting")
        return value

    def number(self, name: str) -> float:
        """The value of a ``float`` setting (an ``int`` one reads as well)."""
        value = self(name)
        if not isinstance(value, int | float):
            raise TypeError(f"{name} is not a number setting")
        return value

    def text(self, name: str) -> str:
        """The value of a ``rate`` or ``text`` setting."""
        value = self(name)
        if not isinstance(value, str):
            raise TypeError(f"{name} is not a text setting")
        return value

    def _forget(self, *, setting: str, **kwargs: Any) -> None:
        if setting in self.table:
            self._values.pop(setting, None)

    def problems(self) -> list[str]:
        """What is wrong with the values set, one message per setting."""
        found = []
        for name, setting in self.table.items():
            raw = getattr(django_settings, name, None)
            if raw is None:
                continue
            try:
                setting.parse(raw)
            except SettingError as exc:
                found.append(str(exc))
        return found

    def value_in(self, values: Mapping[str, Any], name: str) -> Any:
        """``name``'s value as ``values`` (a settings module's globals) would set it."""
        raw = values.get(name)
        return self.table[name].default if raw is None else self.table[name].parse(raw)

    def from_environment(self, read: Callable[[str], str] | Mapping[str, str]) -> dict[str, str]:
        """The settings of the table that the environment sets, as text (parsed on use):
        for the project's ``settings.py``, which then repeats no default."""
        get = read.get if isinstance(read, Mapping) else read
        found = {}
        for name in self.table:
            value = get(name)
            if value not in (None, ""):
                found[name] = str(value)
        return found
