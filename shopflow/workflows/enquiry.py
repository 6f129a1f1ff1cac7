"""Enquiries (咨询, seed 003: 第十条 客户咨询, case 3), one workflow ``enquiry-<id>``.

A customer's question gets an ``enquiry.answer`` task for customer service, due within the
first-response time (``SHOPFLOW_ENQUIRY_RESPONSE_SLA``; missed, it escalates to ops like every
task). Customer service answers it (the customer is told, the enquiry closes), or hands it over:
to a complaint (one opens, the enquiry closes pointing at it) or to an order (one of the
customer's orders, e.g. the purchase the answer led to).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import (
    CaseWorkflow,
    HumanTask,
    business_rejections,
    rejection,
    require_decision,
    require_text,
)
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.shared import (
    Act,
    ComplaintOpen,
    ComplaintOpened,
    CompleteTaskInput,
    CustomerData,
    EnquiryOrder,
    ErrorType,
)
from shopflow.workflows.vocab import COMPLAINT_CATEGORIES, EnquiryDecision, TaskKind

ANSWER = TaskKind.ENQUIRY_ANSWER
DECISIONS = frozenset(EnquiryDecision)
# The text each decision must carry.
REQUIRED = {EnquiryDecision.ANSWER: ("message",), EnquiryDecision.TO_COMPLAINT: ("category",),
            EnquiryDecision.TO_ORDER: ("order_no",)}
OUTCOMES = {EnquiryDecision.ANSWER: "answered", EnquiryDecision.TO_COMPLAINT: "complaint",
            EnquiryDecision.TO_ORDER: "order"}


@dataclass
class EnquiryTimers:
    """Copied from the settings when the enquiry comes in (services.timers)."""

    enquiry_response_sla: timedelta
    notice_send: timedelta = timedelta(seconds=60)
    # business hours and per-kind due times (issue 17.5; absent from older cases' inputs)
    clock: TaskClock | None = None


@dataclass
class EnquiryInput:
    enquiry_id: str
    customer: CustomerData
    channel: str
    question: str
    timers: EnquiryTimers
    subject: str = ""
    order_no: str | None = None
    submitted_by: str = "system"


def check_decision(kind: str, decision: str, data: dict[str, Any]) -> None:
    require_decision(kind, decision, DECISIONS)
    for key in REQUIRED[EnquiryDecision(decision)]:
        require_text(data, key)
    if decision == EnquiryDecision.TO_COMPLAINT and data["category"] not in COMPLAINT_CATEGORIES:
        raise rejection(ErrorType.INVALID, "invalid_field",
                        f"category is one of {', '.join(COMPLAINT_CATEGORIES)}", field="category")


@workflow.defn(name="Enquiry")
class EnquiryWorkflow(CaseWorkflow):
    KIND = "enquiry"
    LOCAL = True
    inp: EnquiryInput

    @workflow.run
    async def run(self, inp: EnquiryInput) -> dict[str, Any]:
        self.inp = inp
        self.start_case(inp.enquiry_id, inp.customer.id, inp.timers.enquiry_response_sla,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        due = self.deadline(inp.timers.enquiry_response_sla)  # business time, with hours
        self.data = {
            "id": inp.enquiry_id, "enquiry_no": inp.enquiry_id,
            "customer": {"id": inp.customer.id, "name": inp.customer.name,
                         "company": inp.customer.company},
            "channel": inp.channel, "subject": inp.subject, "question": inp.question,
            "order_no": inp.order_no, "outcome": None, "answer": None, "complaint": None,
            "order": None, "sla": {"response_due_at": due.isoformat(), "responded_at": None,
                                   "response_sla_met": None},
        }
        await self._act(Act.CUSTOMER_UPSERT, inp.customer)
        await self.record("submitted", f"enquiry via {inp.channel}", actor=inp.submitted_by,
                          status="open", stage="answering")
        await self.notify("received", "enquiry_received", enquiry_no=inp.enquiry_id,
                          question=inp.question)
        task = await self.human_task(ANSWER, "cs", {
            "enquiry_no": inp.enquiry_id, "customer": self.data["customer"],
            "channel": inp.channel, "subject": inp.subject, "question": inp.question,
            "order_no": inp.order_no, "response_due_at": due.isoformat(),
            "decisions": {"answer": "{message}",
                          "to_complaint": "{category, description?}: a complaint opens",
                          "to_order": "{order_no, message?}: one of the customer's orders"},
        }, due=inp.timers.enquiry_response_sla)  # the first-response SLA is the task's due
        outcome = OUTCOMES[EnquiryDecision(task.decision or EnquiryDecision.ANSWER)]
        self.data["outcome"] = outcome
        await self.record("closed", f"enquiry closed: {outcome}", actor=task.actor or "system",
                          status="closed", stage="closed", closed=True)
        await self.finish()
        return {"status": "closed", "outcome": outcome}

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_decision(task.kind, inp.decision, inp.data)

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        now = workflow.now()
        due = workflow.now() if task.due_at is None else task.due_at
        self.data["sla"].update(responded_at=now.isoformat(), response_sla_met=now <= due)
        wf_id = workflow.info().workflow_id
        if inp.decision == EnquiryDecision.TO_COMPLAINT:
            opened: ComplaintOpened = await self._act(Act.COMPLAINT_OPEN, ComplaintOpen(
                key=f"{wf_id}:complaint", customer_id=self.inp.customer.id,
                category=inp.data["category"],
                description=str(inp.data.get("description") or self.inp.question),
                order_no=self.inp.order_no, channel="enquiry", opened_by=inp.actor.name,
            ), result_type=ComplaintOpened)
            self.data["complaint"] = {"id": opened.id, "workflow_id": opened.workflow_id}
            return {"complaint": self.data["complaint"]}
        if inp.decision == EnquiryDecision.TO_ORDER:
            with business_rejections():
                order: dict[str, Any] = await self._act(Act.ENQUIRY_ORDER, EnquiryOrder(
                    inp.data["order_no"].strip(), self.inp.customer.id), result_type=dict)
            self.data["order"] = order
            if inp.data.get("message"):
                await self._answer(str(inp.data["message"]))
            return {"order": order}
        await self._answer(inp.data["message"])
        return {}

    async def _answer(self, message: str) -> None:
        self.data["answer"] = message
        await self.notify("answered", "enquiry_answered", enquiry_no=self.case_id,
                          question=self.inp.question, message=message)
