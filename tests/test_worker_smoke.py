"""Building the worker validates every workflow in the sandbox (an import that the sandbox
refuses fails here, not in production) and registers every activity a workflow calls."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from temporalio.client import Client

from shopflow.settings import Settings
from shopflow.worker import PASSTHROUGH, WORKFLOWS, build_activities, build_worker, workflow_runner
from shopflow.workflows.shared import Act


async def test_worker_builds_with_every_workflow_and_activity(
        client: Client, settings: Settings, engine: Any) -> None:
    worker = build_worker(client, settings, engine)
    assert worker is not None
    names = {fn.__temporal_activity_definition.name  # type: ignore[attr-defined]
             for fn in build_activities(engine, settings)}
    declared = {v for k, v in vars(Act).items() if k.isupper()}
    assert declared <= names, f"activities named in Act but not registered: {declared - names}"
    assert len(WORKFLOWS) >= 1


def test_workflow_modules_import_nothing_heavy() -> None:
    """Workflow modules are re-imported per cached case: they must not import the database,
    the web framework or the activities."""
    heavy = ("sqlalchemy", "sqlmodel", "fastapi", "shopflow.activities", "shopflow.api",
             "shopflow.models", "httpx", "jinja2")
    for path in Path("shopflow/workflows").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            for mod in mods:
                assert not mod.startswith(heavy), f"{path} imports {mod}"


async def test_worker_takes_its_tuning_from_settings(client: Client, settings: Settings,
                                               engine: Any) -> None:
    tuned = settings.model_copy(update={
        "worker_cache_size": 1234, "worker_workflow_tasks": 7, "worker_activities": 9,
        "worker_local_activities": 11, "worker_workflow_pollers": 3,
        "worker_activity_pollers": 2})
    config = build_worker(client, tuned, engine).config()
    assert config["max_cached_workflows"] == 1234
    assert config["max_concurrent_workflow_tasks"] == 7
    assert config["max_concurrent_activities"] == 9
    assert config["max_concurrent_local_activities"] == 11
    assert config["max_concurrent_workflow_task_polls"] == 3
    assert config["max_concurrent_activity_task_polls"] == 2
    assert config["activity_executor"]._max_workers == 9  # type: ignore[union-attr]


def test_shared_sandbox_passes_workflow_modules_through_strict_does_not() -> None:
    shared = workflow_runner("shared").restrictions.passthrough_modules
    strict = workflow_runner("strict").restrictions.passthrough_modules
    assert "shopflow.workflows" in shared
    assert "shopflow.workflows" not in strict
    assert {"shopflow.workflows.shared", "shopflow.workflows.base"} <= strict
    assert Settings.model_fields["worker_sandbox"].default == "shared"


_NONDETERMINISTIC_MODULES = {"random", "time", "os", "uuid", "threading", "secrets", "socket",
                             "subprocess", "asyncio"}
_NONDETERMINISTIC_CALLS = {"now", "utcnow", "today", "fromtimestamp"}


def _module_level_mutations(tree: ast.Module) -> list[str]:
    """Names bound at module level to mutable containers that a function then changes."""
    mutable = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(
                node.value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            mutable |= {t.id for t in targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            found.append(f"line {node.lineno}: {type(node).__name__.lower()}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in mutable
                and node.func.attr in {"append", "extend", "add", "update", "pop", "clear",
                                       "remove", "setdefault", "insert", "discard"}):
            found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}()")
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) \
                        and t.value.id in mutable:
                    found.append(f"line {node.lineno}: {t.value.id}[...] =")
    return found


def test_workflow_modules_are_safe_to_share_between_cases() -> None:
    """The shared sandbox imports each workflow module once for every case: a module must hold
    no state a case could change and make no call the strict sandbox would refuse."""
    for path in Path("shopflow/workflows").glob("*.py"):
        tree = ast.parse(path.read_text())
        problems = _module_level_mutations(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [f"line {node.lineno}: import {a.name}" for a in node.names
                             if a.name.split(".")[0] in _NONDETERMINISTIC_MODULES]
            elif isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.split(".")[0] in _NONDETERMINISTIC_MODULES:
                problems.append(f"line {node.lineno}: from {node.module} import ...")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _NONDETERMINISTIC_CALLS
                    and not (isinstance(node.func.value, ast.Name)
                             and node.func.value.id == "workflow")):
                problems.append(f"line {node.lineno}: .{node.func.attr}()")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in {"open", "print", "input"}:
                problems.append(f"line {node.lineno}: {node.func.id}()")
        assert not problems, f"{path}: {problems}"


def test_module_state_check_catches_a_mutation() -> None:
    tree = ast.parse("SEEN = {}\ndef f(k):\n    SEEN[k] = 1\n    SEEN.update(a=1)\n")
    assert len(_module_level_mutations(tree)) == 2


def test_strict_sandbox_shares_every_pure_module_of_the_workflows_package() -> None:
    """A module of shopflow/workflows that defines no workflow (dataclasses, vocabulary, base
    classes, rules) is imported once for all cases even in the strict sandbox: re-importing it
    per case costs memory and buys nothing."""
    for path in Path("shopflow/workflows").glob("*.py"):
        if path.name == "__init__.py" or "@workflow.defn" in path.read_text():
            continue
        assert f"shopflow.workflows.{path.stem}" in PASSTHROUGH, path
