"""Finance's reconciliation with the payment provider (issue 18, 财务对账).

``ProviderReconciliation`` (``reconciliation-<day>`` from the Temporal Schedule
``shopflow-provider-reconciliation``, daily for yesterday; ``reconciliation-check-<day>-<n>`` on
demand from ``POST /api/v1/reconciliation/check`` and the reconciliation page): one activity
fetches the provider's daily report, compares it with the books, keeps each difference once and
starts a ``ReconciliationDifference`` case for each (``recdiff-<id>``): so a run repeated for
the same day opens nothing twice.

``ReconciliationDifference``: one ``finance.reconciliation_difference`` task for finance with
the difference; ``accept_provider`` (an adjustment line in the books), ``fix_books`` or
``raise_with_provider`` (each with a note) closes it.

``BankDetailsNotice`` (``bank-details-<request id>``, issue 17.6): the one notice asking a cash-on
-delivery customer for the account a transfer refund goes to, started by ``POST
/api/v1/refunds/{id}/bank-details-request``; sent through the outbox (its dedup key is the
request's) and, like a scheduled run's notice, given up (failed, ops told) when it cannot go."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from shopflow.workflows.base import CaseWorkflow, HumanTask
from shopflow.workflows.care import _send_notice
from shopflow.workflows.finance_rules import (
    DIFFERENCE,
    DIFFERENCE_OPTIONS,
    WHAT,
    check_difference_decision,
    difference_case_id,
)
from shopflow.workflows.shared import CompleteTaskInput, NoticeRequest

RECONCILE = "reconciliation.check"
RESOLVE = "reconciliation.resolve"
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10),
                          maximum_interval=timedelta(minutes=5), maximum_attempts=10)


@dataclass
class ReconcileRun:
    """A day to compare (``as_of`` YYYY-MM-DD; None: yesterday in the schedule's time zone)."""

    as_of: str | None = None
    requested_by: str = "schedule"


@dataclass
class ReconcileResult:
    day: str = ""
    provider: str = "online"
    report_lines: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


@dataclass
class DifferenceInput:
    difference_id: int
    difference: dict[str, Any]
    task_due: timedelta


@dataclass
class DifferenceResolve:
    difference_id: int
    decision: str
    note: str
    actor: str
    at: datetime


@workflow.defn(name="ProviderReconciliation")
class ProviderReconciliation:
    @workflow.run
    async def run(self, run: ReconcileRun) -> ReconcileResult:
        result: ReconcileResult = await workflow.execute_activity(
            RECONCILE, run, result_type=ReconcileResult,
            start_to_close_timeout=timedelta(minutes=5), retry_policy=CHECK_RETRY)
        return result


@workflow.defn(name="ReconciliationDifference")
class ReconciliationDifference(CaseWorkflow):
    KIND = "reconciliation"
    LOCAL = True

    @workflow.run
    async def run(self, inp: DifferenceInput) -> dict[str, Any]:
        diff = inp.difference
        self.start_case(difference_case_id(inp.difference_id), None, inp.task_due)
        self.data = {**diff, "resolution": None}
        what = WHAT.get(diff["what"], diff["what"])
        await self.record("opened", f"{diff['day']} {diff['provider']} {diff['kind']} "
                          f"{diff['reference']}: {what}", status="open", stage="review")
        task = await self.human_task(DIFFERENCE, "finance", {
            **diff, "explained": what, "options": DIFFERENCE_OPTIONS})
        note = str(task.data.get("note") or "")
        self.data["resolution"] = {"decision": task.decision, "note": note, "by": task.actor}
        await self.record("resolved", f"{task.decision}: {note}".rstrip(": "),
                          actor=task.actor or "system", status="closed", stage="closed",
                          closed=True)
        await self.finish()
        return {"status": "closed", "decision": task.decision}

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_difference_decision(inp.decision, inp.data)

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        resolved: dict[str, Any] = await self.activity(RESOLVE, DifferenceResolve(
            int(self.data["id"]), inp.decision, str(inp.data.get("note") or ""), inp.actor.name,
            workflow.now()), result_type=dict)
        return resolved


@workflow.defn(name="BankDetailsNotice")
class BankDetailsNotice:
    """Send finance's request for bank details once; True when it went (or was logged)."""

    @workflow.run
    async def run(self, request: NoticeRequest) -> bool:
        return await _send_notice(request)


def bank_details_workflow_id(request_id: int) -> str:
    return f"bank-details-{request_id}"


FINANCE_WORKFLOWS = [ProviderReconciliation, ReconciliationDifference, BankDetailsNotice]
