"""Histories of real cases, committed under tests/histories/, must replay against today's
workflow code: a change that would break running cases fails here (use workflow.patched)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from shopflow.worker import PASSTHROUGH, WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)),
    )
    workflow_id = path.stem.split("__", 1)[1]
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    await replayer.replay_workflow(history)


def test_there_are_histories_to_replay() -> None:
    assert any(p.name.startswith("sample") for p in HISTORIES)
