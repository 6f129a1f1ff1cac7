"""``backorders-<receipt>``: after a receipt, offer the stock to the cases waiting for it. A
small workflow rather than a loop inside the HTTP request, so a crash of the API (or the
worker) does not cut the wake-up off: the activity is retried until it has run. A crash
between booking the receipt and starting its wake-up is caught by the sweep (a schedule every
10 minutes), which starts the wake-up of receipts that lost theirs, by id: once."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from shopflow.workflows.shared import Act, BackordersWoken, BackorderWake, SweepRun, SweepStarted

WAKE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2),
                         maximum_interval=timedelta(minutes=1), maximum_attempts=20)


def wake_workflow_id(receipt_key: str) -> str:
    return f"backorders-{receipt_key}"


@workflow.defn(name="BackorderWake")
class BackorderWakeWorkflow:
    @workflow.run
    async def run(self, inp: BackorderWake) -> BackordersWoken:
        woken: BackordersWoken = await workflow.execute_activity(
            Act.BACKORDER_WAKE, inp, result_type=BackordersWoken,
            start_to_close_timeout=timedelta(minutes=5), retry_policy=WAKE_RETRY)
        return woken


@workflow.defn(name="BackorderSweep")
class BackorderSweepWorkflow:
    """For each SKU that cases wait for while stock of it is there: the newest receipt's
    wake-up, unless it was started already."""

    @workflow.run
    async def run(self, inp: SweepRun) -> SweepStarted:
        started: SweepStarted = await workflow.execute_activity(
            Act.BACKORDER_SWEEP, inp, result_type=SweepStarted,
            start_to_close_timeout=timedelta(minutes=5), retry_policy=WAKE_RETRY)
        return started
