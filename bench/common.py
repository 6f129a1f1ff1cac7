"""Shared set-up for benchmarks: a throw-away dev server and database, and a bare Temporal
workflow of a given shape to compare against on the same server in the same run."""

from __future__ import annotations

import resource
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from shopflow.temporal import SEARCH_ATTRIBUTES


async def dev_server() -> WorkflowEnvironment:
    db = Path(tempfile.mkdtemp(prefix="shopflow-bench-")) / "temporal.db"
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        dev_server_database_filename=str(db),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
    )


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class BareShape:
    activities_before_each_update: list[int]


@activity.defn(name="bare.noop")
def noop(_: int) -> int:
    return 0


@workflow.defn(name="BareCase")
class BareCase:
    """The same shape as a case: N activities, then wait for an Update, repeated."""

    def __init__(self) -> None:
        self.decisions = 0

    @workflow.run
    async def run(self, shape: BareShape) -> int:
        for i, n in enumerate(shape.activities_before_each_update):
            for _ in range(n):
                await workflow.execute_activity(noop, 0,
                                                start_to_close_timeout=timedelta(seconds=30))
            await workflow.wait_condition(lambda i=i: self.decisions > i)
        return self.decisions

    @workflow.update
    async def decide(self, _: str) -> int:
        await workflow.execute_activity(noop, 0, start_to_close_timeout=timedelta(seconds=30))
        self.decisions += 1
        return self.decisions
