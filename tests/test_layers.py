"""The rooms of the tree and what may import what (docs/HACKING.md, "Layout"): an AST scan of
every module under shopflow/, including imports inside functions."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import get_args

import pytest

ROOT = Path(__file__).resolve().parent.parent / "shopflow"

# room -> packages its modules must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "api": ("shopflow.activities", "shopflow.worker"),
    "ui": ("shopflow.activities", "shopflow.api.routers", "shopflow.worker"),
    "services": ("shopflow.api", "shopflow.ui", "shopflow.activities", "shopflow.worker"),
    "activities": ("shopflow.api", "shopflow.ui", "shopflow.worker"),
    "workflows": ("shopflow.services", "shopflow.activities", "shopflow.api", "shopflow.ui",
                  "shopflow.db", "shopflow.models", "shopflow.notifications",
                  "shopflow.providers", "shopflow.settings", "shopflow.worker", "sqlalchemy",
                  "sqlmodel", "fastapi"),
    "models": ("shopflow.services", "shopflow.activities", "shopflow.api", "shopflow.ui",
               "shopflow.workflows.base", "shopflow.worker"),
    "notifications": ("shopflow.services", "shopflow.activities", "shopflow.api", "shopflow.ui"),
    "providers": ("shopflow.services", "shopflow.activities", "shopflow.api", "shopflow.ui"),
    "migrations": ("shopflow.services", "shopflow.activities", "shopflow.api", "shopflow.ui"),
}
# Imported inside the workflow sandbox for every cached case: the standard library only.
STDLIB_ONLY = ("workflows/shared.py", "workflows/vocab.py")


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            # "from shopflow.api.routers import orders" imports a router too
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def modules(room: str) -> list[Path]:
    return sorted((ROOT / room).rglob("*.py"))


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_only_what_its_layer_may(room: str) -> None:
    bad = violations(room)
    assert not bad, "\n".join(bad)


def violations(room: str) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path in modules(room) for name in imports_of(path)
            if any(_under(name, p) for p in FORBIDDEN[room])]


def router_violations() -> list[str]:
    bad = []
    for path in modules("api/routers"):
        own = f"shopflow.api.routers.{path.stem}"
        bad += [f"{path.name} imports {name}" for name in imports_of(path)
                if _under(name, "shopflow.api.routers") and name not in (
                    "shopflow.api.routers", own) and not own.startswith(name + ".")]
    return bad


def test_no_router_imports_another_router() -> None:
    bad = router_violations()
    assert not bad, "\n".join(bad)


def test_sandbox_modules_import_only_the_standard_library() -> None:
    for rel in STDLIB_ONLY:
        outside = [name for name in imports_of(ROOT / rel)
                   if name.split(".")[0] not in sys.stdlib_module_names
                   and name.split(".")[0] != "__future__"]
        assert not outside, f"{rel} imports {outside}"


def test_the_scan_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The rule test would notice: a router importing another router and an activity."""
    module = tmp_path / "r.py"
    module.write_text("def f():\n    from shopflow.api.routers import orders\n"
                      "    from shopflow.activities.cases import CaseActivities\n")
    names = imports_of(module)
    assert "shopflow.api.routers.orders" in names
    assert any(_under(n, "shopflow.activities") for n in names)


def test_the_vocabulary_is_the_one_the_api_accepts() -> None:
    """The API's Literal types for complaints list the vocabulary's words, no other."""
    from shopflow.models.complaint_schemas import Category, Status
    from shopflow.workflows.vocab import COMPLAINT_CATEGORIES, ComplaintStatus

    assert set(get_args(Category)) == set(COMPLAINT_CATEGORIES)
    assert set(get_args(Status)) == {s.value for s in ComplaintStatus}
