"""Outside witnesses of the seals: places the database's owner cannot rewrite, holding
every seal's digest (the CloudWatch export is one, ``cloudwatch_export.witness``).

An app registers a check under a name; ``manage.py audit_verify --witness NAME`` runs it.
A check gets the stored seals and answers the problems it finds: a seal whose witnessed
digest differs, a seal the witness never received, a witnessed seal missing here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .models import Seal

Check = Callable[[Iterable[Seal]], list[str]]

_checks: dict[str, Check] = {}


def register_witness(name: str, check: Check) -> None:
    _checks[name] = check


def witness_names() -> list[str]:
    return sorted(_checks)


def check_witness(name: str, seals: Iterable[Seal]) -> list[str]:
    if name not in _checks:
        known = ", ".join(witness_names()) or "none is installed"
        raise KeyError(f"no witness called {name!r} ({known})")
    return _checks[name](seals)
