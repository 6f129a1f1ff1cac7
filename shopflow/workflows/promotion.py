"""Promotion plans (seed 003 第九条 商品促销: "促销活动方案应提前制定,并报相关部门审批") and
overstock (第八条: "及时处理库存积压"), issue 18.

``promotion-<id>``: a plan (products, discount, the customers it targets, start and end) is
drafted, reviewed by finance (``promotion.review``), approved by ops (``promotion.approve``),
then waits on a Temporal timer until its start (cancellable until then), tells its customers
(``promotion-announce-<id>``: each once through the outbox), waits until its end and reports
the sales of its products while it ran beside the same length before it (ops are mailed).

``overstock``: a Temporal Schedule runs ``OverstockReview`` daily; each SKU whose stock has not
moved for ``SHOPFLOW_OVERSTOCK_DAYS`` gets ``overstock-<sku>-<period>`` (once per SKU per
period): an ``inventory.overstock`` task for the warehouse with a proposal: promote (a plan for
the SKU starts the promotion flow above), return to the supplier (stock leaves, audited as a
stock movement), or keep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import (
    CaseCancelled,
    CaseWorkflow,
    HumanTask,
    business_rejections,
    history_too_long,
)
from shopflow.workflows.care import _act, _send_notice
from shopflow.workflows.care_payloads import DayQuery
from shopflow.workflows.promotion_rules import (
    APPROVE,
    APPROVE_HELP,
    APPROVE_ROLE,
    CANCELLABLE,
    OVERSTOCK,
    OVERSTOCK_DUE,
    OVERSTOCK_HELP,
    OVERSTOCK_PROMOTE,
    OVERSTOCK_ROLE,
    PROMO_AUDIENCE,
    PROMO_REPORT,
    PROMO_START,
    REVIEW,
    REVIEW_HELP,
    REVIEW_ROLE,
    SUPPLIER_RETURN,
    Announced,
    AnnounceRun,
    Audience,
    AudienceQuery,
    CaseStart,
    OverstockDue,
    OverstockInput,
    OverstockPromote,
    OverstockResult,
    OverstockRun,
    PromotionInput,
    PromotionOpened,
    PromotionStage,
    PromotionStatus,
    ReportQuery,
    SalesReport,
    SupplierReturn,
    announce_workflow_id,
    check_overstock,
    check_review,
    overstock_id,
)
from shopflow.workflows.shared import CompleteTaskInput, NoticeRequest


@workflow.defn(name="Promotion")
class PromotionWorkflow(CaseWorkflow):
    KIND = "promotion"
    LOCAL = True
    CANCELLABLE_STAGES = CANCELLABLE
    inp: PromotionInput

    @workflow.run
    async def run(self, inp: PromotionInput) -> dict[str, Any]:
        self.inp = inp
        self.start_case(inp.promotion_id, None, inp.timers.task_due, inp.timers.notice_send)
        plan = {"name": inp.name, "skus": inp.skus, "discount_percent": inp.discount_percent,
                "start_at": inp.start_at.isoformat(), "end_at": inp.end_at.isoformat(),
                "target_tag": inp.target_tag, "segment": inp.segment,
                "description": inp.description, "source": inp.source}
        self.data = {"id": inp.promotion_id, **plan, "created_by": inp.created_by,
                     "review": None, "approval": None, "outcome": None, "announce": None,
                     "report": None}
        await self.record("drafted", f"promotion plan by {inp.created_by}",
                          actor=inp.created_by, status=PromotionStatus.DRAFT,
                          stage=PromotionStage.REVIEW)
        try:
            review = await self.human_task(REVIEW, REVIEW_ROLE, {**plan, "decisions": REVIEW_HELP})
            self.data["review"] = self._verdict(review)
            if review.decision == "reject":
                return await self._rejected(review)
            await self.record("reviewed", f"reviewed by {review.actor}", actor=review.actor or "",
                              status=PromotionStatus.REVIEWED, stage=PromotionStage.APPROVAL)
            approval = await self.human_task(APPROVE, APPROVE_ROLE, {
                **plan, "review": self.data["review"], "decisions": APPROVE_HELP})
            self.data["approval"] = self._verdict(approval)
            if approval.decision == "reject":
                return await self._rejected(approval)
            await self.record("approved", f"approved by {approval.actor}: starts "
                              f"{inp.start_at.isoformat()}", actor=approval.actor or "",
                              status=PromotionStatus.APPROVED, stage=PromotionStage.SCHEDULED)
            await self._until(inp.start_at)
        except CaseCancelled:
            return await self._cancelled()
        await self.record("started", f"running until {inp.end_at.isoformat()}",
                          status=PromotionStatus.RUNNING, stage=PromotionStage.RUNNING)
        announce = announce_workflow_id(inp.promotion_id)
        await self.activity(PROMO_START, CaseStart(announce, announce=AnnounceRun(
            inp.promotion_id, inp.name, inp.description, inp.discount_percent, inp.start_at,
            inp.end_at, inp.skus, inp.target_tag, inp.segment)), result_type=bool)
        self.data["announce"] = {"workflow_id": announce}
        await workflow.sleep(max(inp.end_at - workflow.now(), timedelta(0)))
        report: SalesReport = await self.activity(PROMO_REPORT, ReportQuery(
            inp.promotion_id, inp.skus, inp.start_at, inp.end_at), result_type=SalesReport)
        self.data["report"] = asdict(report)
        self.data["outcome"] = "completed"
        await self.record("reported", f"ended: {report.orders} order(s), {report.units} unit(s)",
                          status=PromotionStatus.COMPLETED, stage=PromotionStage.CLOSED,
                          closed=True)
        await self.notify("report", "promotion_report", to_customer=False,
                          promotion_id=inp.promotion_id, name=inp.name,
                          start_at=inp.start_at.date().isoformat(),
                          end_at=inp.end_at.date().isoformat(), report=asdict(report))
        await self.finish()
        return {"status": "completed", "orders": report.orders}

    async def _until(self, at: datetime) -> None:
        """A timer until ``at``; a cancel request meanwhile ends the wait (CaseCancelled)."""
        wait = at - workflow.now()
        if wait > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self.cancel_request is not None,
                                              timeout=wait)
            except TimeoutError:
                return
        if self.cancel_request is not None:
            raise CaseCancelled()

    @staticmethod
    def _verdict(task: HumanTask) -> dict[str, Any]:
        return {"decision": task.decision, "by": task.actor,
                "note": task.data.get("note") or task.data.get("reason") or "",
                "at": workflow.now().isoformat()}

    async def _rejected(self, task: HumanTask) -> dict[str, Any]:
        self.data["outcome"] = "rejected"
        await self.record("rejected", f"{task.kind} rejected: {task.data.get('reason', '')}",
                          actor=task.actor or "", status=PromotionStatus.REJECTED,
                          stage=PromotionStage.CLOSED, closed=True)
        await self.finish()
        return {"status": "rejected"}

    async def _cancelled(self) -> dict[str, Any]:
        request = self.cancel_request or {}
        await self.cancel_open_tasks()
        self.data["outcome"] = "cancelled"
        await self.record("cancelled", f"cancelled before the start: {request.get('reason', '')}",
                          actor=request.get("actor", "system"), status=PromotionStatus.CANCELLED,
                          stage=PromotionStage.CLOSED, closed=True)
        await self.finish()
        return {"status": "cancelled"}

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_review(task.kind, inp.decision, inp.data)


@workflow.defn(name="PromotionAnnounce")
class PromotionAnnounce:
    """The promotion's customers (its tag or segment; never those tagged no_contact), each told
    once: a notice keyed by promotion and customer, through the give-up path of scheduled
    notices (a refused address is failed and ops told; the others go on). A long list continues
    as new with the customers still to do."""

    @workflow.run
    async def run(self, run: AnnounceRun) -> Announced:
        if run.carry is None:
            audience: Audience = await _act(PROMO_AUDIENCE, AudienceQuery(
                run.promotion_id, run.skus, run.target_tag, run.segment), result_type=Audience)
            todo, result = list(audience.customers), Announced(skipped=audience.no_contact)
        else:
            todo, result = list(run.carry["todo"]), Announced(**run.carry["result"])
        data = {"promotion_id": run.promotion_id, "name": run.name,
                "description": run.description, "discount_percent": run.discount_percent,
                "start_at": run.start_at.date().isoformat(),
                "end_at": run.end_at.date().isoformat(), "skus": run.skus}
        for n, customer_id in enumerate(todo):
            if history_too_long(run.history_limit):
                workflow.continue_as_new(dataclasses.replace(run, carry={
                    "todo": todo[n:], "result": asdict(result)}))
            sent = await _send_notice(NoticeRequest(
                dedup_key=f"promotion-{run.promotion_id}:announce:{customer_id}",
                kind="promotion_announced", case_id=run.promotion_id,
                data={"case_id": run.promotion_id, **data}, customer_id=customer_id))
            if sent:
                result.sent += 1
            else:
                result.failed += 1
        return result


@workflow.defn(name="OverstockReview")
class OverstockReview:
    """Daily: an overstock case for each SKU that has not moved for the period (once each)."""

    @workflow.run
    async def run(self, run: OverstockRun) -> OverstockResult:
        due: OverstockDue = await _act(OVERSTOCK_DUE, DayQuery(workflow.now(), run.as_of),
                                       result_type=OverstockDue)
        result = OverstockResult(day=due.day)
        for item in due.items:
            case_id = overstock_id(item["sku"], datetime.fromisoformat(due.period).date())
            started = await _act(PROMO_START, CaseStart(case_id, overstock=OverstockInput(
                case_id, item["sku"], due.period, item, due.task_due)), result_type=bool)
            (result.started if started else result.skipped).append(case_id)
        return result


@workflow.defn(name="Overstock")
class Overstock(CaseWorkflow):
    KIND = "overstock"
    LOCAL = True
    inp: OverstockInput

    @workflow.run
    async def run(self, inp: OverstockInput) -> dict[str, Any]:
        self.inp = inp
        self.start_case(inp.overstock_id, None, inp.task_due)
        self.data = {"id": inp.overstock_id, "sku": inp.sku, "period": inp.period,
                     "item": inp.item, "outcome": None}
        await self.record("opened", f"{inp.sku}: no movement for {inp.item.get('idle_days')} "
                          "days", status="open", stage="proposal")
        task = await self.human_task(OVERSTOCK, OVERSTOCK_ROLE, {
            **inp.item, "period": inp.period, "decisions": OVERSTOCK_HELP})
        self.data["outcome"] = {"decision": task.decision, "by": task.actor, **task.result,
                                "note": task.data.get("note", "")}
        await self.record("closed", f"overstock {inp.sku}: {task.decision}",
                          actor=task.actor or "", status="closed", stage="closed",
                          closed=True)
        await self.finish()
        return {"status": "closed", "decision": task.decision}

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_overstock(task.kind, inp.decision, inp.data,
                        int(self.inp.item.get("available", 0)), workflow.now())

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        key = workflow.info().workflow_id
        if inp.decision == "promote":
            d = inp.data
            with business_rejections():
                opened: PromotionOpened = await self.activity(OVERSTOCK_PROMOTE, OverstockPromote(
                    key, self.inp.sku, str(d.get("name") or f"{self.inp.sku} clearance"),
                    int(d["discount_percent"]), datetime.fromisoformat(d["start_at"]),
                    datetime.fromisoformat(d["end_at"]), d.get("target_tag") or None,
                    str(d.get("segment") or "all"), inp.actor.name),
                    result_type=PromotionOpened)
            return {"promotion": asdict(opened)}
        if inp.decision == "return_to_supplier":
            with business_rejections():
                moved: dict[str, Any] = await self.activity(SUPPLIER_RETURN, SupplierReturn(
                    key, self.inp.sku, int(inp.data["quantity"]),
                    str(inp.data.get("note") or ""), inp.actor.name), result_type=dict)
            return {"returned": moved}
        return {}


PROMOTION_WORKFLOWS = [PromotionWorkflow, PromotionAnnounce, OverstockReview, Overstock]
