"""Building the worker validates every workflow in the sandbox (an import that the sandbox
refuses fails here, not in production) and registers every activity a workflow calls."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from temporalio.client import Client

from shopflow.settings import Settings
from shopflow.worker import WORKFLOWS, build_activities, build_worker
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
