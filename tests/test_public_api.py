"""``audit`` has one public face, and its house has no import circle.

Other apps of the project import ``audit`` (the names of ``audit.__all__``) and the
models (``audit.models``), nothing else of the package; inside ``audit`` no module
imports, at any depth, a module that imports it back; ``audit`` imports none of the
apps built on it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections import defaultdict
from pathlib import Path

import pytest

import audit

ROOT = Path(__file__).resolve().parent.parent
SIBLINGS = ("activity", "catalog", "cloudwatch_export", "demo", "auditproj", "analysis")
PUBLIC = {"audit", "audit.models"}


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules ``path`` imports, wherever in the file (functions included):
    ``from . import x`` names the submodule ``x`` when there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found |= subs if len(subs) == len(node.names) else {target, *subs}
    return found


def test_every_public_name_resolves_to_the_real_thing() -> None:
    for name in audit.__all__:
        value = getattr(audit, name)
        assert value is not None, name
    assert set(audit.__all__) == {"AppSettings", "Setting", "SettingError", *audit._LAZY}
    assert inspect.signature(audit.log) == inspect.signature(
        importlib.import_module("audit.logger").log
    )
    assert "user" in inspect.signature(audit.log).parameters
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        audit.nothing_here


@pytest.mark.parametrize("app", SIBLINGS)
def test_other_apps_use_only_the_public_face(app: str) -> None:
    if not (ROOT / app).is_dir():
        pytest.skip(f"{app} does not exist yet")
    modules = _modules(app)
    private = []
    for name, path in modules.items():
        if ".migrations." in name:
            continue
        for imported in _imports(name, path, set(_modules("audit"))):
            if (imported == "audit" or imported.startswith("audit.")) and imported not in PUBLIC:
                private.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert private == []


def test_audit_has_no_import_circle_and_imports_no_app_built_on_it() -> None:
    modules = _modules("audit")
    known = set(modules)
    edges: defaultdict[str, set[str]] = defaultdict(set)
    outside = []
    for name, path in modules.items():
        if ".migrations." in name:
            continue
        for imported in _imports(name, path, known):
            if imported.split(".")[0] in SIBLINGS:
                outside.append(f"{name} imports {imported}")
            if imported in known and imported != name and imported != "audit":
                edges[name].add(imported)
    assert outside == []

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            for nxt in edges[stack.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    circles = sorted(
        f"{a} -> {b} -> ... -> {a}" for a in list(edges) for b in edges[a] if reaches(b, a)
    )
    assert circles == []
