"""After-sales follow-up (seeds 001/003: revisit after delivery, satisfaction survey), one
workflow ``followup-<order_no>`` per order (``followup-<order_no>-<reason>`` for other reasons,
say a resolved quality return). Started by other processes through the ``followups.start``
activity; starting it twice is a no-op.

Waits the feedback delay, sends the survey link, reminds once, closes unanswered. A low score
(<= 2) or a reported problem opens a ``followup.problem`` task for customer service, who resolve
it or, when the customer asks for it, open a complaint. A customer who ticks "I want to file a
complaint" on the survey gets the complaint opened at once (category ``other``, their text as
the description), without the cs task. A customer tagged ``no_contact`` gets no survey, reminder
or care message, and the case says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import HumanTask, rejection
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.feedback import FeedbackMixin
from shopflow.workflows.shared import (
    Act,
    ComplaintOpen,
    ComplaintOpened,
    CompleteTaskInput,
    ErrorType,
)
from shopflow.workflows.vocab import COMPLAINT_CATEGORIES, FollowupDecision, TaskKind

PROBLEM = TaskKind.FOLLOWUP_PROBLEM
DECISIONS = set(FollowupDecision)
LOW_SCORE = 2
# Histories from before the survey's complaint box take the path they took (patch marker).
COMPLAINT_ON_REQUEST = "followup-complaint-on-request"


@dataclass
class FollowupTimers:
    """Seconds, copied from the settings when the follow-up starts."""

    task_due: float
    feedback_delay: float
    feedback_reminder: float
    feedback_close: float
    notice_send: float = 60.0  # one notice attempt (absent from inputs of older cases)
    # business hours and per-kind due times (issue 17.5; absent from older cases' inputs)
    clock: TaskClock | None = None


@dataclass
class FollowupInput:
    case_id: str
    order_no: str
    customer_id: str
    reason: str
    timers: FollowupTimers
    ref: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ContactCheck:
    customer_id: str


@dataclass
class Contact:
    """Whether the customer may be contacted (``reason`` when not), and their profile."""

    contactable: bool
    reason: str = ""
    customer: dict[str, Any] = field(default_factory=dict)


@workflow.defn(name="FeedbackFollowUp")
class FeedbackFollowUp(FeedbackMixin):
    KIND = "followup"
    LOCAL = True

    def __init__(self) -> None:
        super().__init__()
        self.inp: FollowupInput | None = None

    @workflow.run
    async def run(self, inp: FollowupInput) -> dict[str, Any]:
        self.inp = inp
        self.start_case(inp.case_id, inp.customer_id, inp.timers.task_due,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        self.data = {
            "id": inp.case_id, "order_no": inp.order_no, "reason": inp.reason, "ref": inp.ref,
            "items": inp.items, "customer": {"id": inp.customer_id}, "feedback": None,
            "problem": None, "complaint": None, "no_contact": None,
        }
        await self.record("started", f"follow-up of order {inp.order_no} ({inp.reason})",
                          status="open", stage="scheduled")
        await workflow.sleep(timedelta(seconds=inp.timers.feedback_delay))
        contact = await self._contact()
        self.data["customer"] = contact.customer or self.data["customer"]
        if not contact.contactable:
            self.data["no_contact"] = contact.reason
            await self.record("not_contacted", f"no survey sent: {contact.reason}",
                              status="closed", stage="closed", closed=True,
                              reason=contact.reason)
            await self.archive()
            await self.finish()
            return {"status": "closed", "reason": contact.reason}
        await self.record(stage="awaiting_feedback")
        feedback = await self.collect_feedback(
            timedelta(seconds=inp.timers.feedback_reminder),
            timedelta(seconds=inp.timers.feedback_close),
            "followup",
        )
        # The answer's own bookkeeping (the submit_feedback Update) comes first in the timeline.
        await workflow.wait_condition(workflow.all_handlers_finished)
        outcome = "no_response"
        if feedback is not None:
            outcome = "answered"
            if feedback.get("complaint") and self.since(COMPLAINT_ON_REQUEST):
                outcome = await self._complaint_requested(feedback)
            elif feedback["satisfaction"] <= LOW_SCORE or feedback.get("problem"):
                outcome = await self._problem(feedback)
        await self.record("closed", f"follow-up closed ({outcome})", status="closed",
                          stage="closed", closed=True, outcome=outcome)
        await self.archive()
        await self.finish()
        return {"status": "closed", "outcome": outcome}

    async def _problem(self, feedback: dict[str, Any]) -> str:
        assert self.inp is not None
        self.data["problem"] = {"satisfaction": feedback["satisfaction"],
                                "problem": feedback.get("problem"), "status": "open"}
        await self.record(stage="problem")
        task = await self.human_task(PROBLEM, "cs", {
            "order_no": self.inp.order_no, "customer": self.data["customer"],
            "reason": self.inp.reason, "items": self.inp.items, "feedback": feedback,
            "decisions": {"resolved": "{resolution}",
                          "open_complaint": "{category, description?} (the customer asks for "
                                            "a formal complaint)"},
        })
        if task.decision == "open_complaint":
            self.data["problem"]["status"] = "complaint"
            return "complaint_opened"
        self.data["problem"].update(status="resolved", resolution=task.data["resolution"])
        await self.notify("problem_resolved", "followup_problem_resolved",
                          order_no=self.inp.order_no, resolution=task.data["resolution"])
        return "problem_resolved"

    async def _complaint_requested(self, feedback: dict[str, Any]) -> str:
        """The customer ticked "I want to file a complaint": opened as cs would open it."""
        assert self.inp is not None
        description = str(feedback.get("complaint_text") or feedback.get("problem") or
                          f"asked for in the follow-up survey of order {self.inp.order_no}")
        await self._open_complaint("other", description, "customer")
        return "complaint_opened"

    async def _open_complaint(self, category: str, description: str,
                              actor: str) -> dict[str, Any]:
        assert self.inp is not None
        opened: ComplaintOpened = await self._act(Act.COMPLAINT_OPEN, ComplaintOpen(
            key=workflow.info().workflow_id, customer_id=self.inp.customer_id,
            category=category, description=description,
            order_no=self.inp.order_no, channel="followup", opened_by=actor,
        ), result_type=ComplaintOpened)
        self.data["complaint"] = asdict(opened)
        await self.record("complaint_opened", f"complaint {opened.id} opened",
                          actor=actor, complaint_id=opened.id)
        return asdict(opened)

    # --- decisions -----------------------------------------------------------------------

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        if inp.decision not in DECISIONS:
            raise rejection(ErrorType.INVALID, "invalid_decision",
                            f"{task.kind} takes one of: {', '.join(sorted(DECISIONS))}",
                            allowed=sorted(DECISIONS))
        if inp.decision == "resolved":
            _require_text(inp.data, "resolution")
        elif inp.data.get("category") not in COMPLAINT_CATEGORIES:
            raise rejection(ErrorType.INVALID, "invalid_field",
                            f"category is one of: {', '.join(COMPLAINT_CATEGORIES)}",
                            field="category")

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        if inp.decision != "open_complaint":
            return {}
        assert self.inp is not None
        problem = (self.feedback or {}).get("problem") or ""
        description = str(inp.data.get("description") or problem or
                          f"raised in the follow-up of order {self.inp.order_no}")
        opened = await self._open_complaint(inp.data["category"], description, inp.actor.name)
        return {"complaint": opened}

    # --- contact -------------------------------------------------------------------------

    async def _contact(self) -> Contact:
        assert self.inp is not None
        return await self._act(Act.FOLLOWUP_CONTACT, ContactCheck(self.inp.customer_id),
                               result_type=Contact)

    async def notify(self, step: str, kind: str, to_customer: bool = True, **data: Any) -> None:
        # The tag is read at every message: a customer who asks for no contact mid-way gets
        # no reminder either.
        if to_customer:
            contact = await self._contact()
            if not contact.contactable:
                await self.record("notice_suppressed", f"{kind} not sent: {contact.reason}",
                                  step=step, reason=contact.reason)
                return
        assert self.inp is not None
        data.setdefault("order_no", self.inp.order_no)
        await super().notify(step, kind, to_customer, **data)


def _require_text(data: dict[str, Any], key: str) -> None:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise rejection(ErrorType.INVALID, "missing_field", f"{key} is required", field=key)
