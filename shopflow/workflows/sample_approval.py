"""Sample approval (seed 000): application, preliminary review, review, dispatch, feedback,
archive, as one workflow ``sample-<id>``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import CaseCancelled, HumanTask, rejection
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.feedback import FeedbackMixin
from shopflow.workflows.sample_rules import (
    DISPATCH,
    FEEDBACK_CALL,
    FEEDBACK_PROBLEM,
    PRELIMINARY,
    PRODUCT_QUESTION,
    REVIEW,
    approved_quantities,
    check_decision,
    feedback_problem,
)
from shopflow.workflows.shared import (
    Act,
    CompleteTaskInput,
    CustomerData,
    DocumentAdded,
    ErrorType,
    ReservationKey,
    ReserveRequest,
    ReviewContext,
    ReviewContextRequest,
    StockLine,
)
from shopflow.workflows.vocab import CASE_END_STATUSES, SAMPLE_CANCELLABLE_STAGES, SampleDecision


@dataclass
class SampleItem:
    sku: str
    quantity: int
    approved_quantity: int | None = None


@dataclass
class SampleTimers:
    """Seconds, copied from the settings when the case starts so later changes never move an
    open case's clocks."""

    task_due: float
    info_timeout: float
    feedback_delay: float
    feedback_reminder: float
    feedback_close: float
    notice_send: float = 60.0  # one notice attempt (absent from inputs of older cases)
    # A feedback score at or below it opens the problem task (0: older cases, a problem only).
    low_score: int = 0
    # business hours and per-kind due times (issue 17.5; absent from older cases' inputs)
    clock: TaskClock | None = None


@dataclass
class SampleInput:
    sample_id: str
    customer: CustomerData
    channel: str
    items: list[SampleItem]
    purpose: str
    qualification_docs: list[dict[str, str]]
    timers: SampleTimers
    submitted_by: str = "system"


@dataclass
class InfoInput:
    text: str
    actor: str = "customer"


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


@workflow.defn(name="SampleApproval")
class SampleApproval(FeedbackMixin):
    KIND = "sample"
    LOCAL = True
    CANCELLABLE_STAGES = SAMPLE_CANCELLABLE_STAGES

    def __init__(self) -> None:
        super().__init__()
        self.info_answers: list[dict[str, Any]] = []
        self.waiting_info = False
        self.stock: dict[str, int] = {}
        # Qualification documents as files (seed 000 1.2; patch sample-documents): the
        # review approves a request only with one at least. None: an older case.
        self.documents: list[dict[str, Any]] | None = None
        self.product_answers: list[dict[str, Any]] = []

    @workflow.run
    async def run(self, inp: SampleInput) -> dict[str, Any]:
        self.start_case(inp.sample_id, inp.customer.id, inp.timers.task_due,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        if workflow.patched("sample-documents"):
            self.documents = []
        self.stage = "preliminary_review"
        self.data = {
            "id": inp.sample_id,
            "customer": {"id": inp.customer.id, "name": inp.customer.name,
                         "company": inp.customer.company},
            "channel": inp.channel,
            "purpose": inp.purpose,
            "qualification_docs": inp.qualification_docs,
            "items": [{"sku": i.sku, "requested_quantity": i.quantity, "approved_quantity": None}
                      for i in inp.items],
            "shipment": None,
            "feedback": None,
        }
        if self.documents is not None:
            self.data["documents"] = self.documents
        await self._act(Act.CUSTOMER_UPSERT, inp.customer)
        await self.record("submitted", f"sample request via {inp.channel}", actor=inp.submitted_by,
                          status="open", stage="preliminary_review")
        await self.notify("received", "sample_received", items=self.data["items"])
        try:
            await self._preliminary_review(inp)
            await self._review(inp)
            await self._dispatch(inp)
        except _Rejected as rejected:
            await self.record("rejected", rejected.reason, status="rejected", closed=True)
            await self.archive()
            await self.finish()
            return {"status": "rejected", "reason": rejected.reason}
        except CaseCancelled:
            await self._cancel()
            await self.finish()
            return {"status": "cancelled"}
        await self._feedback(inp)
        await self.record("archived", "dossier stored", status="archived", stage="archived",
                          closed=True)
        await self.archive()
        await self.finish()
        return {"status": "archived"}

    # --- steps ---------------------------------------------------------------------------

    async def _preliminary_review(self, inp: SampleInput) -> None:
        while True:
            task = await self.human_task(PRELIMINARY, "cs", {
                "customer": self.data["customer"], "channel": inp.channel,
                "items": self.data["items"], "purpose": inp.purpose,
                "qualification_docs": inp.qualification_docs, "info_answers": self.info_answers,
                **self._documents_context(),
            })
            if task.decision == "approve":
                return
            if task.decision == "reject":
                await self.notify("rejected_preliminary", "sample_rejected",
                                  reason=task.data["reason"])
                raise _Rejected(task.data["reason"])
            await self._wait_for_info(inp, task.data["question"])

    async def _wait_for_info(self, inp: SampleInput, question: str) -> None:
        step = len(self.info_answers) + 1
        self.waiting_info = True
        await self.record("info_requested", question, status="waiting_info")
        await self.notify(f"info_request:{step}", "sample_info_request", question=question)
        try:
            await workflow.wait_condition(
                lambda: not self.waiting_info or self.cancel_request is not None,
                timeout=timedelta(seconds=inp.timers.info_timeout),
            )
        except TimeoutError:
            self.waiting_info = False
            await self.notify("info_timeout", "sample_rejected",
                              reason="no answer to our request for information")
            raise _Rejected("no answer to the request for information in time") from None
        if self.cancel_request is not None:
            raise CaseCancelled()
        await self.record(status="open")

    async def _review(self, inp: SampleInput) -> None:
        found = await self._act(
            Act.REVIEW_CONTEXT,
            ReviewContextRequest(inp.customer.id, [i.sku for i in inp.items], inp.sample_id),
            result_type=ReviewContext,
        )
        self.stock = {sku: int(n) for sku, n in found.stock_available.items()}
        context = asdict(found)
        await self.record("review_context", "credit, purchase history and stock gathered",
                          stage="review", **context)
        while True:
            task = await self.human_task(REVIEW, "reviewer", {
                **context, "customer": self.data["customer"], "items": self.data["items"],
                "purpose": inp.purpose, "qualification_docs": inp.qualification_docs,
                **self._documents_context(),
                **({"product_answers": self.product_answers} if self.product_answers else {}),
            })
            if task.decision != SampleDecision.ASK_PRODUCT:
                break
            await self._ask_product(inp, task)
        if task.decision == "reject":
            await self.notify("rejected_review", "sample_rejected", reason=task.data["reason"])
            raise _Rejected(task.data["reason"])
        await self.notify("approved", "sample_approved", items=self.data["items"],
                          dispatch_within_hours=round(inp.timers.task_due / 3600, 1))

    def _documents_context(self) -> dict[str, Any]:
        return {} if self.documents is None else {
            "documents": self.documents,
            "documents_url": f"/api/v1/samples/{self.case_id}/documents"}

    async def _ask_product(self, inp: SampleInput, review: HumanTask) -> None:
        """Seed 000 2.2: the reviewer asks product development (whether the samples fit the
        customer's use, which variant); the answer comes back to a new review task."""
        question = str(review.data["question"]).strip()
        await self.record("product_asked", question, actor=review.actor or "system")
        task = await self.human_task(PRODUCT_QUESTION, "product", {
            "question": question, "asked_by": review.actor, "customer": self.data["customer"],
            "items": self.data["items"], "purpose": inp.purpose,
        })
        answer = str(task.data["answer"]).strip()
        self.product_answers.append({"question": question, "answer": answer,
                                     "asked_by": review.actor, "answered_by": task.actor,
                                     "at": workflow.now().isoformat()})
        await self.record("product_answered", answer, actor=task.actor or "system")

    async def _dispatch(self, inp: SampleInput) -> None:
        await self.record(stage="dispatch")
        task = await self.human_task(DISPATCH, "warehouse", {
            "slip_url": f"/api/v1/samples/{self.case_id}/slip",
            "customer": self.data["customer"],
            "address": inp.customer.address,
            "items": [i for i in self.data["items"] if i["approved_quantity"]],
        })
        shipment = {"courier": task.data["courier"], "tracking_no": task.data["tracking_no"]}
        await self.record("shipped", f"{shipment['courier']} {shipment['tracking_no']}",
                          actor=task.actor or "system", stage="awaiting_feedback", **shipment)
        await self.notify("shipped", "sample_shipped", **shipment)

    async def _feedback(self, inp: SampleInput) -> None:
        await workflow.sleep(timedelta(seconds=inp.timers.feedback_delay))
        if workflow.patched("sample-feedback-follow-through"):
            await self._feedback_followed_through(inp)
            return
        feedback = await self.collect_feedback(
            timedelta(seconds=inp.timers.feedback_reminder),
            timedelta(seconds=inp.timers.feedback_close),
            "sample",
        )
        if feedback and feedback.get("problem"):
            task = await self.human_task(FEEDBACK_PROBLEM, "cs", {
                "customer": self.data["customer"], "feedback": feedback,
                "items": self.data["items"],
            })
            await self.notify("problem_resolved", "sample_problem_resolved",
                              resolution=task.data["resolution"])

    async def _feedback_followed_through(self, inp: SampleInput) -> None:
        """Seed 000 4.1, 4.3: a low score, "dissatisfied" or a problem goes to customer service,
        text or not; no answer by the close is a call, with the form still open, not silence."""
        feedback = await self.collect_feedback(
            timedelta(seconds=inp.timers.feedback_reminder),
            timedelta(seconds=inp.timers.feedback_close), "sample", keep_open=True)
        if feedback is None:
            c = inp.customer
            task = await self.human_task(FEEDBACK_CALL, "cs", {
                "customer": {**self.data["customer"], "phone": c.phone, "email": c.email},
                "items": self.data["items"], "shipment": self.data["shipment"],
                "feedback": dict(self.data["feedback"] or {}),
                "how": "call the customer and fill in the feedback form with them (its link: "
                       "feedback.url), then reached {notes} or unreachable {notes}",
            })
            self.data["feedback_call"] = {"outcome": task.decision, "notes": task.data["notes"],
                                          "by": task.actor}
            if self.feedback is None:
                await self.close_feedback_form()
            feedback = self.feedback
        why = feedback_problem(feedback, inp.timers.low_score) if feedback else None
        if feedback is not None and why is not None:
            task = await self.human_task(FEEDBACK_PROBLEM, "cs", {
                "customer": self.data["customer"], "feedback": feedback, "why": why,
                "items": self.data["items"],
            })
            await self.notify("problem_resolved", "sample_problem_resolved",
                              resolution=task.data["resolution"])

    async def _cancel(self) -> None:
        assert self.cancel_request is not None
        await self.cancel_open_tasks()
        await self._act(Act.STOCK_RELEASE,
                        ReservationKey(workflow.info().workflow_id, self.cancel_request["actor"]))
        await self.record("cancelled", self.cancel_request["reason"] or "cancelled",
                          actor=self.cancel_request["actor"], status="cancelled", closed=True)
        await self.notify("cancelled", "sample_cancelled", reason=self.cancel_request["reason"])
        await self.archive()

    def cancellable(self) -> bool:
        # Once the parcel has left (the dispatch task applied) there is nothing to cancel.
        return super().cancellable() and self.data.get("shipment") is None

    # --- decisions -----------------------------------------------------------------------

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_decision(task.kind, inp.decision, inp.data, stock=self.stock, requested={
            i["sku"]: i["requested_quantity"] for i in self.data["items"]},
            documents=None if self.documents is None else len(self.documents))

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        wf_id = workflow.info().workflow_id
        if task.kind == REVIEW and inp.decision == "approve":
            approved = approved_quantities(inp.data)
            await self._act(Act.STOCK_RESERVE, ReserveRequest(
                wf_id, [StockLine(sku, q) for sku, q in approved.items()], inp.actor.name))
            for item in self.data["items"]:
                item["approved_quantity"] = approved.get(item["sku"], 0)
            return {"approved": approved}
        if task.kind == DISPATCH:
            await self._act(Act.STOCK_CONSUME, ReservationKey(wf_id, inp.actor.name, "dispatch"))
            self.data["shipment"] = {"courier": inp.data["courier"],
                                     "tracking_no": inp.data["tracking_no"],
                                     "shipped_at": workflow.now().isoformat(),
                                     "shipped_by": inp.actor.name}
            return {"shipment": self.data["shipment"]}
        return {}

    @workflow.update
    async def add_document(self, doc: DocumentAdded) -> dict[str, Any]:
        """A qualification document was stored (services.sample_documents). While the request
        waits for information, a document is the customer's answer."""
        assert self.documents is not None
        if any(d["id"] == doc.id for d in self.documents):
            return {"documents": len(self.documents), "duplicate": True}
        at = workflow.now().isoformat()
        self.documents.append({"id": doc.id, "filename": doc.filename,
                               "content_type": doc.content_type, "size": doc.size,
                               "by": doc.actor, "at": at})
        await self.record("document_added", doc.filename, actor=doc.actor)
        if self.waiting_info:
            self.info_answers.append({"text": f"document: {doc.filename}", "at": at,
                                      "by": doc.actor})
            self.waiting_info = False
        return {"documents": len(self.documents), "duplicate": False}

    @add_document.validator
    def _validate_document(self, doc: DocumentAdded) -> None:
        if self.documents is None:
            raise rejection(ErrorType.CONFLICT, "documents_not_supported",
                            "this request was filed before documents were kept as files")
        if self.status in CASE_END_STATUSES:
            raise rejection(ErrorType.CONFLICT, "case_closed", "this sample request is closed")

    @workflow.update
    async def provide_info(self, inp: InfoInput) -> dict[str, Any]:
        self.info_answers.append({"text": inp.text, "at": workflow.now().isoformat(),
                                  "by": inp.actor})
        self.waiting_info = False
        await self.record("info_received", inp.text, actor=inp.actor)
        return {"case_id": self.case_id, "status": self.status}

    @provide_info.validator
    def _validate_info(self, inp: InfoInput) -> None:
        if not self.waiting_info:
            raise rejection(ErrorType.CONFLICT, "not_waiting_for_info",
                            "this sample is not waiting for information")
        if not inp.text.strip():
            raise rejection(ErrorType.INVALID, "empty_text", "text must not be empty")

