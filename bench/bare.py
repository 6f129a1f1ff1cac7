"""Bare Temporal workflows to compare Shopflow against: what a developer would write with the SDK
alone for the same business steps, in a small module (the sandbox re-imports a workflow's module
for every cached run, so the baseline must not carry the bench's own imports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class BareShape:
    """Activities to run before each Update the case waits for (one entry per decision), and
    activities after the last one."""

    activities_before_each_update: list[int]
    activities_at_end: int = 0


@activity.defn(name="bare.noop")
def noop(_: int) -> int:
    return 0


@workflow.defn(name="BareCase")
class BareCase:
    """The shape of a case: N activities, then wait for an Update, repeated."""

    def __init__(self) -> None:
        self.decisions = 0

    @workflow.run
    async def run(self, shape: BareShape) -> int:
        for i, n in enumerate(shape.activities_before_each_update):
            for _ in range(n):
                await workflow.execute_activity(noop, 0,
                                                start_to_close_timeout=timedelta(seconds=30))
            await workflow.wait_condition(lambda i=i: self.decisions > i)
        for _ in range(shape.activities_at_end):
            await workflow.execute_activity(noop, 0, start_to_close_timeout=timedelta(seconds=30))
        return self.decisions

    @workflow.update
    async def decide(self, _: str) -> int:
        self.decisions += 1
        return self.decisions
