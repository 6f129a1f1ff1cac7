"""Sample approval (seed 000): application, preliminary review, review, dispatch, feedback,
archive, as one workflow ``sample-<id>``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from shopflow.workflows.base import CaseCancelled, HumanTask, rejection
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.feedback import FeedbackMixin
from shopflow.workflows.order_rules import CLOSED_PARCEL, EVENT_TYPES, check_tracking_no
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
    ShipmentEventInput,
    ShipmentRegister,
    ShipmentView,
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
        # The parcel registered with the courier like an order's (patch sample-courier): its
        # events come through the courier webhook, the feedback clock starts at delivery.
        self.courier = False
        self.parcel_events: list[dict[str, Any]] = []
        self.delivered_at: datetime | None = None
        self._events_in_flight: set[str] = set()

    @workflow.run
    async def run(self, inp: SampleInput) -> dict[str, Any]:
        self.start_case(inp.sample_id, inp.customer.id, inp.timers.task_due,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        if workflow.patched("sample-documents"):
            self.documents = []
        self.courier = workflow.patched("sample-courier")
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
                          # the dispatch task's own due time (SHOPFLOW_TASK_DUE_SAMPLE_DISPATCH)
                          dispatch_within_hours=round(
                              self.due_of(DISPATCH).total_seconds() / 3600, 1))

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
        if self.courier:
            shipment = {"courier": self.data["shipment"]["courier"],
                        "tracking_no": self.data["shipment"]["tracking_no"],
                        "tracking_url": self.data["shipment"].get("tracking_url") or ""}
        await self.record("shipped", f"{shipment['courier']} {shipment['tracking_no']}",
                          actor=task.actor or "system", stage="awaiting_feedback", **shipment)
        await self.notify("shipped", "sample_shipped", **shipment)

    async def _feedback(self, inp: SampleInput) -> None:
        delay = timedelta(seconds=inp.timers.feedback_delay)
        if self.courier:
            await self._until_delivered_and(delay)
        else:
            await workflow.sleep(delay)
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

    async def _until_delivered_and(self, delay: timedelta) -> None:
        """Seed 000 4.1: the feedback request goes out ``delay`` after the delivery the courier
        reported; with no delivery known ``delay`` after shipment, then (as before)."""
        try:
            await workflow.wait_condition(lambda: self.delivered_at is not None, timeout=delay)
        except TimeoutError:
            return
        assert self.delivered_at is not None
        remaining = min(self.delivered_at + delay - workflow.now(), delay)
        if remaining > timedelta(0):
            await workflow.sleep(remaining)

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
        if task.kind == DISPATCH and self.courier:
            check_tracking_no(inp.data)

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        wf_id = workflow.info().workflow_id
        if task.kind == REVIEW and inp.decision == "approve":
            approved = approved_quantities(inp.data)
            await self._act(Act.STOCK_RESERVE, ReserveRequest(
                wf_id, [StockLine(sku, q) for sku, q in approved.items()], inp.actor.name))
            for item in self.data["items"]:
                item["approved_quantity"] = approved.get(item["sku"], 0)
            return {"approved": approved}
        if task.kind == DISPATCH and self.courier:
            return await self._apply_shipped(inp)
        if task.kind == DISPATCH:
            await self._act(Act.STOCK_CONSUME, ReservationKey(wf_id, inp.actor.name, "dispatch"))
            self.data["shipment"] = {"courier": inp.data["courier"],
                                     "tracking_no": inp.data["tracking_no"],
                                     "shipped_at": workflow.now().isoformat(),
                                     "shipped_by": inp.actor.name}
            return {"shipment": self.data["shipment"]}
        return {}

    async def _apply_shipped(self, inp: CompleteTaskInput) -> dict[str, Any]:
        """Seed 000 3.2, 3.3: the parcel is registered with the courier (its tracking link,
        its events to this case) before the stock leaves; a tracking number another parcel
        has is refused and nothing moves."""
        wf_id = workflow.info().workflow_id
        tracking = str(inp.data["tracking_no"]).strip()
        courier = str(inp.data["courier"]).strip()
        self.data["shipment"] = {"courier": courier, "tracking_no": tracking,
                                 "status": "registering"}
        try:
            booking = await self._act(Act.SHIPMENT_REGISTER, ShipmentRegister(
                tracking, courier, "", "sample", self.case_id, wf_id, workflow.now(),
                "outbound", 1, inp.actor.name), result_type=ShipmentView)
            await self._act(Act.STOCK_CONSUME, ReservationKey(wf_id, inp.actor.name, "dispatch"))
        except BaseException:
            self.data["shipment"] = None
            raise
        self.data["shipment"] = {
            "courier": courier, "tracking_no": tracking, "status": "shipped",
            "tracking_url": booking.tracking_url or "",
            "estimated_delivery": booking.estimated_delivery,
            "shipped_at": workflow.now().isoformat(), "shipped_by": inp.actor.name}
        return {"shipment": self.data["shipment"]}

    @workflow.update
    async def shipment_event(self, ev: ShipmentEventInput) -> dict[str, Any]:
        """A courier event for the sample's parcel (``POST /shipments/{no}/events``, the same
        webhook as orders'): on the timeline and the case; "delivered" starts the feedback
        clock. The same event twice (even at once) is one."""
        await workflow.wait_condition(
            lambda: (self.data.get("shipment") or {}).get("status") != "registering")
        if not self.data.get("shipment"):  # its registration was refused meanwhile
            raise rejection(ErrorType.NOT_FOUND, "unknown_shipment",
                            f"no parcel {ev.tracking_no} on sample request {self.case_id}")
        at = ev.at.isoformat()
        key = f"{ev.type}|{at}"
        if key in self._events_in_flight:
            await workflow.wait_condition(lambda: key not in self._events_in_flight)
        if any(e["type"] == ev.type and e["at"] == at for e in self.parcel_events):
            return self._event_answer(ev, duplicate=True)
        self._events_in_flight.add(key)
        try:
            await self._act(Act.SHIPMENT_EVENT, ev, result_type=ShipmentView)
            self.parcel_events.append({"type": ev.type, "at": at, "note": ev.note,
                                       "by": ev.actor})
            shipment = self.data["shipment"]
            shipment["status"] = ev.type
            if ev.type == "delivered":
                shipment["delivered_at"] = at
                self.delivered_at = ev.at
            await self.record(f"shipment_{ev.type}", ev.note or f"{ev.tracking_no} {ev.type}",
                              actor=ev.actor, tracking_no=ev.tracking_no)
        finally:
            self._events_in_flight.discard(key)
        return self._event_answer(ev, duplicate=False)

    def _event_answer(self, ev: ShipmentEventInput, duplicate: bool) -> dict[str, Any]:
        return {"tracking_no": ev.tracking_no, "type": ev.type, "sample_status": self.status,
                "shipment_status": self.data["shipment"]["status"], "duplicate": duplicate}

    @shipment_event.validator
    def _validate_shipment_event(self, ev: ShipmentEventInput) -> None:
        shipment = self.data.get("shipment") if self.courier else None
        if not shipment or shipment.get("tracking_no") != ev.tracking_no:
            raise rejection(ErrorType.NOT_FOUND, "unknown_shipment",
                            f"no parcel {ev.tracking_no} on sample request {self.case_id}")
        if ev.type not in EVENT_TYPES:
            raise rejection(ErrorType.INVALID, "invalid_event",
                            f"type is one of {', '.join(EVENT_TYPES)}")
        at = ev.at.isoformat()
        repeat = any(e["type"] == ev.type and e["at"] == at for e in self.parcel_events)
        if shipment.get("status") in CLOSED_PARCEL and not repeat:
            raise rejection(ErrorType.CONFLICT, "shipment_closed",
                            f"parcel {ev.tracking_no} is {shipment['status']} already",
                            status=shipment["status"])

    @workflow.update
    async def add_document(self, doc: DocumentAdded) -> dict[str, Any]:
        """A qualification document was stored (services.sample_documents). While the request
        waits for information, a document is the customer's answer."""
        # An Update can come in the case's first activation, before run() has started: it
        # waits for run() to set the case up (an older case has no documents list).
        await workflow.wait_condition(lambda: bool(self.case_id))
        if self.documents is None:
            raise rejection(ErrorType.CONFLICT, "documents_not_supported",
                            "this request was filed before documents were kept as files")
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
        # Before run() has started (the Update arrived with the case's first workflow task,
        # e.g. when that task was lost to a database or Temporal outage) nothing is known
        # yet: the handler waits for it. After, None means an older case.
        if self.documents is None and self.case_id:
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

