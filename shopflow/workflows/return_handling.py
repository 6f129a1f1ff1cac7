"""Returns and exchanges (seeds 001 and 003) as one workflow ``return-<id>``: acknowledgement,
review by customer service, the customer's parcel (with a reminder and an expiry), inspection by
the warehouse (resaleable goods back to stock, faulty ones to the damaged count), then a refund
by finance or a replacement shipped by the warehouse (waiting for stock, or converted to a
refund), and for a quality problem the follow-up that checks it was solved.

The policy in force at the request (windows, ship timeout, who pays return shipping) is part of
the input, so changing the settings later never changes an open case."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from shopflow.workflows.base import (
    CaseCancelled,
    CaseLock,
    HumanTask,
    business_rejections,
    rejection,
    require_decision,
    require_text,
)
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.money import amount, parse_cents
from shopflow.workflows.order_rules import EVENT_TYPES, check_tracking_no
from shopflow.workflows.return_after_sales import MONEY_RETRY, AfterSales, DifferencePayment
from shopflow.workflows.return_rules import (
    CANCELLABLE_STAGES,
    DECISIONS,
    END_STATUSES,
    Intake,
    ReturnDecision,
    ReturnKind,
    ReturnTask,
    check_inspection,
    check_refund,
    check_repair,
    exchange_difference,
    proposed_refund,
    replacements,
)
from shopflow.workflows.shared import (
    Act,
    CompleteTaskInput,
    CustomerData,
    ErrorType,
    FollowupDueRecord,
    FollowupStart,
    OrderReserve,
    RefundRequest,
    RefundView,
    ReserveResult,
    Restock,
    RestockLine,
    ReturnContext,
    ReturnContextRequest,
    ReturnUpdate,
    ShipmentEventInput,
    ShipmentRegister,
    ShipmentView,
    StockLine,
    StockSettle,
)
from shopflow.workflows.vocab import ReturnReason

REVIEW = ReturnTask.REVIEW
INSPECTION = ReturnTask.INSPECTION
REFUND = ReturnTask.REFUND
OUT_OF_STOCK = ReturnTask.OUT_OF_STOCK
SEND_BACK = ReturnTask.SEND_BACK
REPAIR = ReturnTask.REPAIR
FULFIL = ReturnTask.FULFIL
__all__ = ["DECISIONS", "DifferencePayment", "END_STATUSES", "EVENT_TYPES", "ParcelInput", "ReceivedInput",
           "ReturnHandling", "ReturnInput", "ReturnLineData", "ReturnPolicy", "ReturnTimers",
           "amount"]

@dataclass
class ReturnPolicy:
    """The policy in force when the return was asked for."""

    return_window_days: float
    quality_return_window_days: float
    ship_timeout_days: float
    return_shipping_paid_by: str  # shop (quality issue) | customer
    return_address: str


@dataclass
class ReturnTimers:
    """Copied from the settings at the request (services.timers); older inputs carry seconds,
    which decode to the same durations."""

    task_due: timedelta
    ship_timeout: timedelta
    backorder_timeout: timedelta
    followup_delay: timedelta
    # one notice attempt (absent from inputs of older cases)
    notice_send: timedelta = timedelta(seconds=60)
    history_limit: int = 0  # events before continuing as new (0: older cases, never)
    provider_call: timedelta = timedelta(seconds=60)  # one refund call (older cases: 60 s)
    repair_due: timedelta = timedelta(days=7)  # a repair's due time (older cases: never used)
    # business hours and per-kind due times (issue 17.5; absent from older cases' inputs)
    clock: TaskClock | None = None
    # an exchange's price difference must be paid within this (else: refunded instead)
    exchange_payment_timeout: timedelta = timedelta(days=3)


@dataclass
class ReturnLineData:
    sku: str
    quantity: int
    unit_price_cents: int
    name: str = ""
    # An exchange for another SKU or size (""/0: the same SKU): what is sent and its price.
    exchange_sku: str = ""
    exchange_name: str = ""
    exchange_unit_price_cents: int = 0


@dataclass
class ReturnInput:
    return_id: str
    order_no: str
    customer: CustomerData
    kind: str  # refund | exchange | repair
    reason: str
    quality_issue: bool
    evidence: list[str]
    lines: list[ReturnLineData]
    policy: ReturnPolicy
    timers: ReturnTimers
    delivered_at: datetime
    payment_method: str
    shipping_fee_cents: int
    shipping_address: dict[str, Any]
    requested_by: str = "system"
    category: str = ""  # ReturnReason ("": a return asked for before categories)
    # The state carried into a run continued as new (None: a new return).
    carry: dict[str, Any] | None = None


@dataclass
class ParcelInput:
    courier: str
    tracking_no: str
    actor: str = "customer"


@dataclass
class ReceivedInput:
    actor: str = "warehouse"
    note: str = ""


class _End(Exception):
    """The case ends early (rejected, expired, inspection failed); the status is recorded."""


@workflow.defn(name="ReturnHandling")
class ReturnHandling(AfterSales):
    KIND = "return"
    LOCAL = True
    CANCELLABLE_STAGES = CANCELLABLE_STAGES
    ROW_UPDATE = Act.RETURN_UPDATE
    CASE_KEY = "return_id"

    # What a return carries into a run continued as new, beside the case's own state.
    CARRIED_HERE = ("return_id", "order_no", "lines", "parcel", "nothing_back", "stock_state",
                    "proposed_cents", "refundable_cents", "exchange_parcel", "short",
                    "_row_version")

    @workflow.init
    def __init__(self, inp: ReturnInput) -> None:
        super().__init__()
        self.return_id = ""
        self.order_no = ""
        self.lines: list[dict[str, Any]] = []
        self.parcel: dict[str, Any] | None = None
        self.intake = Intake.OPEN
        self.nothing_back = False  # a missing item: no parcel, no inspection
        self.parcel_lock = CaseLock()  # the customer's parcel being registered
        # The replacement's stock: none held, held (reserved, maybe in part), or released.
        self.stock_state = "none"
        self.proposed_cents = 0
        self.refundable_cents = 0
        self.exchange_parcel: dict[str, Any] | None = None
        # An exchange's price difference to pay: {amount_cents, status: due|paid|unpaid, …}.
        self.difference: dict[str, Any] | None = None
        self._paying: set[str] = set()
        self._courier_seen: set[str] = set()
        self.money_timeout = inp.timers.provider_call
        # Continued as new while the customer's parcel travels: the state at once, so an
        # Update arriving with the new run's first activation is checked against it.
        self._resumed = inp.carry is not None
        if inp.carry is not None:
            carried = dict(inp.carry)
            self._courier_seen = set(carried.pop("courier_seen"))
            self.intake = Intake(carried.pop("intake"))
            self.restore(carried)

    @workflow.run
    async def run(self, inp: ReturnInput) -> dict[str, Any]:
        if self._resumed:
            return await self._go_on(inp)
        self.start_case(inp.return_id, inp.customer.id, inp.timers.task_due,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        self.return_id, self.order_no = inp.return_id, inp.order_no
        self.lines = [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                       "unit_price": amount(line.unit_price_cents),
                       "unit_price_cents": line.unit_price_cents, "result": None,
                       "resaleable": None, "notes": "", **_exchange_of(line)}
                      for line in inp.lines]
        self.data = {
            "id": inp.return_id, "order_no": inp.order_no, "kind": inp.kind,
            "reason": inp.reason, "quality_issue": inp.quality_issue, "evidence": inp.evidence,
            "customer": {"id": inp.customer.id, "name": inp.customer.name},
            "items": self._items(), "policy": _plain_policy(inp.policy),
            **({"category": inp.category} if inp.category else {}),
            "delivered_at": inp.delivered_at.isoformat(), "parcel": None, "refund": None,
            "exchange": None, "outcome": None,
            "kpi": {"requested_at": workflow.now().isoformat()},
        }
        await self.record("requested", f"{inp.kind} of {self._count()} item(s): {inp.reason}",
                          actor=inp.requested_by, status="requested", stage="review")
        await self.notify("received", "return_received", return_id=inp.return_id,
                          order_no=inp.order_no, return_kind=inp.kind, items=self._items())
        return await self._go_on(inp)

    async def _go_on(self, inp: ReturnInput) -> dict[str, Any]:
        """From review (or, continued as new, from the parcel on its way) to the end."""
        # A repair (维修) skips the inspection: the item goes to repair, then back to the customer.
        repair = inp.kind == ReturnKind.REPAIR and workflow.patched("return-repair")
        try:
            if self._resumed:
                await self._until_received(inp)
                if not repair:
                    await self._inspect(inp)
            else:
                await self._review(inp)
                if not self.nothing_back:
                    await self._await_parcel(inp)
                    if not repair:
                        await self._inspect(inp)
            outcome = "refund"
            if repair:
                outcome = await self._repair(inp)  # repaired, or unrepairable: refund|exchange
            if inp.kind == "exchange" or outcome == "exchange":
                outcome = await self._exchange(inp)
            if outcome == "refund":
                await self._refund(inp)
            await self._send_back_failed_lines()
            if inp.quality_issue:
                await self._followup(inp)
        except _End:
            await self.archive()
            await self.finish()
            return {"status": self.status}
        except CaseCancelled:
            await self._cancel()
            return {"status": "cancelled"}
        await self.record("closed", f"return {self.data['outcome']}", closed=True)
        await self.archive()
        await self.finish()
        return {"status": self.status}

    # --- review and parcel ---------------------------------------------------------------

    async def _review(self, inp: ReturnInput) -> None:
        context = await self._act(Act.RETURN_CONTEXT, ReturnContextRequest(
            inp.return_id, inp.order_no, inp.customer.id), ReturnContext)
        window = (inp.policy.quality_return_window_days if inp.quality_issue
                  else inp.policy.return_window_days)
        left = inp.delivered_at + timedelta(days=window) - workflow.now()
        task = await self.human_task(REVIEW, "cs", {
            **asdict(context),
            "return_id": inp.return_id, "kind": inp.kind, "reason": inp.reason,
            **({"category": inp.category} if inp.category else {}),
            "quality_issue": inp.quality_issue, "evidence": inp.evidence,
            "items": self._items(), "delivered_at": inp.delivered_at.isoformat(),
            "window_days": window, "days_left_in_window": round(left.total_seconds() / 86400, 1),
            "policy": _plain_policy(inp.policy),
        })
        if task.decision == "reject":
            reason = task.data["reason"]
            await self._transition("rejected", "closed", "rejected", reason,
                                   actor=task.actor or "system",
                                   times={"rejected_at": workflow.now(),
                                          "closed_at": workflow.now()},
                                   row={"outcome": "rejected"}, closed=True)
            await self.notify("rejected", "return_rejected", return_id=self.return_id,
                              order_no=self.order_no, reason=reason)
            raise _End()
        if inp.category == ReturnReason.MISSING_ITEM and workflow.patched("return-missing-item"):
            self.nothing_back = True
            await self._nothing_comes_back(inp, task.actor or "system")
            return
        await self._transition("approved", "awaiting_parcel", "approved",
                               "return approved: waiting for the parcel",
                               actor=task.actor or "system", times={"approved_at": workflow.now()})
        await self.notify("approved", "return_approved", return_id=self.return_id,
                          order_no=self.order_no, address=inp.policy.return_address,
                          shop_pays_shipping=inp.policy.return_shipping_paid_by == "shop",
                          ship_within_days=round(inp.timers.ship_timeout.total_seconds() / 86400, 1),
                          items=self._items())

    async def _nothing_comes_back(self, inp: ReturnInput, actor: str) -> None:
        """A missing item (漏发) approved: no parcel back, no inspection; every line counts as
        passed, and the missing part is reshipped (an exchange) or refunded."""
        for line in self.lines:
            line.update(result="pass", resaleable=False, notes="missing from the delivery")
        now = workflow.now()
        remedy = "reshipped" if inp.kind == "exchange" else "refunded"
        await self._transition("approved", "settlement", "approved",
                               f"missing from the delivery: nothing to send back, the missing "
                               f"part is {remedy}", actor=actor, times={"approved_at": now},
                               row={"items": self._items()})
        await self.notify("approved", "return_missing_item", return_id=self.return_id,
                          order_no=self.order_no, remedy=remedy, items=self._items())

    async def _await_parcel(self, inp: ReturnInput) -> None:
        start = workflow.now()
        deadline = start + inp.timers.ship_timeout
        reminder_at = start + inp.timers.ship_timeout / 2
        reminded = False
        while self.parcel is None and not self.received:
            if self.cancel_request is not None:
                raise CaseCancelled()
            now = workflow.now()
            if now >= deadline and not self.parcel_lock.locked():
                self._close_intake()
                await self._transition("expired", "closed", "expired",
                                       "no parcel within the time to send it",
                                       times={"closed_at": now}, row={"outcome": "expired"},
                                       closed=True)
                await self.notify("expired", "return_expired", return_id=self.return_id,
                                  order_no=self.order_no)
                raise _End()
            if not reminded and now >= reminder_at:
                reminded = True
                await self.notify("ship_reminder", "return_ship_reminder",
                                  return_id=self.return_id, order_no=self.order_no,
                                  address=inp.policy.return_address,
                                  ship_by=deadline.isoformat(timespec="minutes"))
                await self.record("ship_reminded", "reminder to send the parcel")
                continue
            wake = reminder_at if not reminded else deadline
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.parcel is not None or self.received or self.parcel_lock.locked()
                    or self.cancel_request is not None,
                    timeout=max(wake - now, timedelta(seconds=1)))
            if self.parcel_lock.locked():
                await workflow.wait_condition(lambda: not self.parcel_lock.locked())
        await self._until_received(inp)

    async def _until_received(self, inp: ReturnInput) -> None:
        """On its way: it arrives by the courier's "delivered" or the warehouse booking it in.
        A courier may send events without end: above the history limit the return continues
        as new with its state carried."""

        def arrived() -> bool:
            return self.received or self.cancel_request is not None

        limit = inp.timers.history_limit
        await workflow.wait_condition(lambda: arrived() or self.history_too_long(limit))
        if not arrived() and workflow.patched("return-continue-as-new"):
            await workflow.wait_condition(workflow.all_handlers_finished)
            if not arrived():
                carried = self.carry(*self.CARRIED_HERE)
                carried["courier_seen"] = sorted(self._courier_seen)
                carried["intake"] = self.intake.value
                workflow.continue_as_new(dataclasses.replace(inp, carry=carried))
        await workflow.wait_condition(arrived)
        if not self.received:
            raise CaseCancelled()
        await self._transition("received", "inspection", "parcel_received",
                               "the parcel is at the warehouse",
                               times={"received_at": workflow.now()})

    @workflow.update
    async def parcel_sent(self, inp: ParcelInput) -> dict[str, Any]:
        if self.parcel is not None:  # the same parcel again
            return {"return_id": self.return_id, "parcel": self.parcel, "status": self.status}
        async with self.parcel_lock:
            with business_rejections():
                await self._act(Act.SHIPMENT_REGISTER, ShipmentRegister(
                    inp.tracking_no, inp.courier, self.order_no, "return", self.return_id,
                    workflow.info().workflow_id, workflow.now(), "return", 1, inp.actor),
                    ShipmentView)
        self.parcel = {"courier": inp.courier, "tracking_no": inp.tracking_no,
                       "sent_at": workflow.now().isoformat(), "status": "shipped",
                       "recorded_by": inp.actor}
        self.data["parcel"] = dict(self.parcel)
        await self._transition("parcel_sent", None, "parcel_sent",
                               f"{inp.courier} {inp.tracking_no}", actor=inp.actor,
                               times={"parcel_sent_at": workflow.now()},
                               row={"parcel_courier": inp.courier,
                                       "parcel_tracking_no": inp.tracking_no})
        return {"return_id": self.return_id, "parcel": self.parcel, "status": self.status}

    @parcel_sent.validator
    def _validate_parcel_sent(self, inp: ParcelInput) -> None:
        if self.parcel is not None:
            if self.parcel["tracking_no"] == inp.tracking_no:
                return
            raise rejection(ErrorType.CONFLICT, "parcel_already_recorded",
                            f"parcel {self.parcel['tracking_no']} is recorded already")
        self._require_awaiting_parcel()
        if self.parcel_lock.locked():
            raise rejection(ErrorType.CONFLICT, "parcel_being_recorded",
                            "a parcel is being recorded right now")

    @workflow.update
    async def parcel_received(self, inp: ReceivedInput) -> dict[str, Any]:
        self.intake = Intake.ARRIVED
        await self.record("booked_in", inp.note or "parcel booked in by the warehouse",
                          actor=inp.actor)
        return {"return_id": self.return_id, "status": "received"}

    @parcel_received.validator
    def _validate_parcel_received(self, inp: ReceivedInput) -> None:
        if self.received:
            raise rejection(ErrorType.CONFLICT, "already_received",
                            "the parcel was booked in already")
        self._require_awaiting_parcel()

    def _require_awaiting_parcel(self) -> None:
        if (self.intake is Intake.CLOSED or self.cancel_request is not None
                or self.stage != "awaiting_parcel"):
            raise rejection(ErrorType.CONFLICT, "not_awaiting_parcel",
                            f"return {self.return_id} is {self.status} ({self.stage}); it does "
                            "not wait for a parcel", status=self.status, stage=self.stage)

    @workflow.update
    async def shipment_event(self, ev: ShipmentEventInput) -> dict[str, Any]:
        """The courier's events for the customer's parcel (delivered: inspection opens) or the
        replacement of an exchange."""
        if self.since("courier-event-once"):
            # Same parcel, type and time once, also when two arrive at the same moment.
            key = f"{ev.tracking_no}|{ev.type}|{ev.at.isoformat()}"
            if key in self._courier_seen:
                parcel = self._parcel_of(ev.tracking_no)
                return {"tracking_no": ev.tracking_no, "return_id": self.return_id,
                        "type": ev.type, "duplicate": True,
                        "shipment_status": parcel["status"] if parcel else ev.type}
            self._courier_seen.add(key)
            try:
                await self._act(Act.SHIPMENT_EVENT, ev, ShipmentView)
            except BaseException:
                self._courier_seen.discard(key)  # not recorded: the next one is not a repeat
                raise
        else:
            await self._act(Act.SHIPMENT_EVENT, ev, ShipmentView)
        parcel = self._parcel_of(ev.tracking_no)
        assert parcel is not None
        parcel["status"] = ev.type
        arrived = (parcel is self.parcel and ev.type == "delivered"
                   and self.intake is Intake.OPEN and self.cancel_request is None)
        if arrived:
            self.intake = Intake.ARRIVED
        if parcel is self.parcel:
            self.data["parcel"] = dict(parcel)
        await self.record(f"shipment_{ev.type}", ev.note or f"{ev.tracking_no} {ev.type}",
                          actor=ev.actor, tracking_no=ev.tracking_no)
        return {"tracking_no": ev.tracking_no, "return_id": self.return_id, "type": ev.type,
                "shipment_status": ev.type, "duplicate": False}

    @shipment_event.validator
    def _validate_shipment_event(self, ev: ShipmentEventInput) -> None:
        parcel = self._parcel_of(ev.tracking_no)
        if parcel is None:
            raise rejection(ErrorType.NOT_FOUND, "unknown_shipment",
                            f"no parcel {ev.tracking_no} on return {self.return_id}")
        if ev.type not in EVENT_TYPES:
            raise rejection(ErrorType.INVALID, "invalid_event",
                            f"type is one of {', '.join(EVENT_TYPES)}")
        if parcel["status"] in ("delivered", "lost"):
            raise rejection(ErrorType.CONFLICT, "shipment_closed",
                            f"parcel {ev.tracking_no} is {parcel['status']} already")

    def _parcel_of(self, tracking_no: str) -> dict[str, Any] | None:
        for parcel in (self.parcel, self.exchange_parcel):
            if parcel is not None and parcel["tracking_no"] == tracking_no:
                return parcel
        return None

    # --- inspection ----------------------------------------------------------------------

    async def _inspect(self, inp: ReturnInput) -> None:
        task = await self.human_task(INSPECTION, "warehouse", {
            "return_id": self.return_id, "order_no": self.order_no, "kind": inp.kind,
            "reason": inp.reason, "quality_issue": inp.quality_issue, "evidence": inp.evidence,
            "items": self._items(), "parcel": self.parcel,
            "how": "pass {lines?: [{sku, result: pass|fail, resaleable?, notes?}]} or fail "
                   "{notes}; resaleable defaults to false for a quality issue",
        })
        now = workflow.now()
        actor = task.actor or "system"
        if task.decision == "fail":
            notes = task.data["notes"]
            for line in self.lines:
                line.update(result="fail", resaleable=False, notes=notes)
            await self._transition("inspection_failed", "send_back", "inspection_failed", notes,
                                   actor=actor, times={"inspected_at": now},
                                   row={"items": self._items(),
                                           "outcome": "inspection_failed"})
            await self.notify("inspection_failed", "return_inspection_failed",
                              return_id=self.return_id, order_no=self.order_no, notes=notes)
            await self._send_back_failed_lines()
            await self._transition(None, None, "closed", "goods sent back to the customer",
                                   times={"closed_at": workflow.now()}, closed=True)
            raise _End()
        results = {r["sku"]: r for r in task.data.get("lines") or []}
        for line in self.lines:
            r = results.get(line["sku"], {})
            line["result"] = r.get("result", "pass")
            line["resaleable"] = bool(r.get("resaleable", not inp.quality_issue))
            line["notes"] = str(r.get("notes") or task.comment or "")
        passed = [line for line in self.lines if line["result"] == "pass"]
        await self._act(Act.RETURN_RESTOCK, Restock(
            workflow.info().workflow_id,
            [RestockLine(line["sku"], line["quantity"], line["resaleable"]) for line in passed],
            actor, f"return {self.return_id}"))
        await self._transition("inspected", "settlement", "inspected",
                               ", ".join(f"{line['sku']} {line['result']}"
                                         for line in self.lines),
                               actor=actor, times={"inspected_at": now},
                               row={"items": self._items()})

    async def _send_back_failed_lines(self) -> None:
        failed = [line for line in self.lines if line["result"] == "fail"]
        if not failed:
            return
        await self.human_task(SEND_BACK, "cs", {
            "return_id": self.return_id, "order_no": self.order_no,
            "items": [{"sku": line["sku"], "quantity": line["quantity"], "notes": line["notes"]}
                      for line in failed],
            "how": "send these goods back to the customer, then sent_back {courier?, "
                   "tracking_no?, note?}",
        })

    # --- refund --------------------------------------------------------------------------

    async def _refund(self, inp: ReturnInput) -> None:
        money = await self._act(Act.RETURN_CONTEXT, ReturnContextRequest(
            self.return_id, self.order_no, inp.customer.id), ReturnContext)
        passed = [line for line in self.lines if line["result"] == "pass"]
        self.refundable_cents = money.refundable_cents
        goods, shipping, self.proposed_cents = proposed_refund(
            passed, inp.shipping_fee_cents, inp.quality_issue, money.shipping_refunded,
            self.refundable_cents)
        await self._transition("refund_pending", "refund", "refund_proposed",
                               f"{amount(self.proposed_cents)} proposed")
        await self.human_task(REFUND, "finance", {
            "return_id": self.return_id, "order_no": self.order_no,
            "payment_method": inp.payment_method,
            "refund_method": "original" if inp.payment_method == "online" else "bank_transfer",
            "items": [{"sku": line["sku"], "quantity": line["quantity"],
                       "unit_price": line["unit_price"]} for line in passed],
            "goods": amount(goods), "shipping": amount(shipping),
            "proposed": amount(self.proposed_cents),
            "refundable": amount(self.refundable_cents),
            "paid": money.paid, "refunded_before": money.refunded,
            "rule": "refunded {amount}: lower (or higher, up to refundable) only with a comment",
        })
        refund = self.data["refund"]
        self.data["outcome"] = "refunded"
        await self.notify("refunded", "return_refunded", return_id=self.return_id,
                          order_no=self.order_no, amount=refund["amount_text"],
                          method=refund["method"])
        await self._transition("refunded", "closed", "refunded",
                               f"{refund['amount_text']} refunded ({refund['method']})",
                               times={"refunded_at": workflow.now(),
                                      "closed_at": workflow.now()},
                               row={"outcome": "refunded",
                                       "refund_amount": refund["amount"]})

    async def _apply_refund(self, inp: CompleteTaskInput) -> dict[str, Any]:
        cents = parse_cents(inp.data["amount"])
        assert cents is not None
        with business_rejections():
            refund = await workflow.execute_activity(
                Act.PAYMENT_REFUND,
                RefundRequest(f"{workflow.info().workflow_id}:refund", self.order_no, cents,
                              f"return {self.return_id}: {self.data['reason']}", "return",
                              self.return_id, workflow.now(), inp.actor.name),
                start_to_close_timeout=self.money_timeout, retry_policy=MONEY_RETRY,
                result_type=RefundView)
        self.data["refund"] = {**asdict(refund), "amount_text": amount(cents),
                               "proposed": amount(self.proposed_cents),
                               "comment": inp.comment}
        return {"refund": asdict(refund)}

    # --- exchange ------------------------------------------------------------------------

    async def _exchange(self, inp: ReturnInput) -> str:
        """Ship replacements for the passed lines; "refund" when it turns into a refund."""
        passed = [line for line in self.lines if line["result"] == "pass"]
        # What goes out: the same SKUs, or the other SKUs (sizes) the customer chose.
        sent = replacements(passed)
        wf_id = workflow.info().workflow_id
        try:
            await self._act(Act.ORDER_RESERVE, OrderReserve(
                wf_id, "return", self.return_id, 1,
                [StockLine(line["sku"], line["quantity"]) for line in sent],
                all_or_none=True), ReserveResult)
        except ActivityError as err:
            if not isinstance(err.cause, ApplicationError):
                raise
            if not await self._wait_for_stock(inp, sent):
                return "refund"
        self.stock_state = "held"
        await self._transition("exchange_pending", "exchange", "replacement_reserved",
                               "replacement reserved: warehouse ships it")
        difference = exchange_difference(passed)
        if difference and workflow.patched("return-exchange-difference"):
            if difference > 0 and not await self._collect_difference(inp, difference, sent):
                return "refund"
            if difference < 0:
                await self._refund_difference(inp, -difference, sent)
        task, parcel = await self._ship_to_customer(inp, sent, "exchange")
        now = workflow.now()
        self.data["outcome"] = "exchanged"
        await self._transition("exchanged", "closed", "exchange_shipped",
                               f"replacement sent: {parcel['courier']} {parcel['tracking_no']}",
                               actor=task.actor or "system",
                               times={"reshipped_at": now, "closed_at": now},
                               row={"outcome": "exchanged",
                                       "exchange_tracking_no": parcel["tracking_no"]})
        await self.notify("exchange_shipped", "return_exchange_shipped",
                          return_id=self.return_id, order_no=self.order_no,
                          courier=parcel["courier"], tracking_no=parcel["tracking_no"],
                          tracking_url=parcel.get("tracking_url") or "",
                          items=[{"sku": line["sku"], "quantity": line["quantity"]}
                                 for line in sent])
        return "exchanged"

    async def _wait_for_stock(self, inp: ReturnInput, passed: list[dict[str, Any]]) -> bool:
        """Out of stock: customer service waits for a receipt (a backorder, woken like orders)
        or turns the exchange into a refund. True once everything is reserved."""
        wf_id = workflow.info().workflow_id
        await self._transition("exchange_pending", "exchange", "out_of_stock",
                               "replacement out of stock: customer service decides")
        await self.notify("out_of_stock", "return_out_of_stock", return_id=self.return_id,
                          order_no=self.order_no,
                          items=[{"sku": line["sku"], "quantity": line["quantity"]}
                                 for line in passed])
        stock = await self.stock_available([line["sku"] for line in passed])
        task = await self.human_task(OUT_OF_STOCK, "cs", {
            "return_id": self.return_id, "order_no": self.order_no,
            "items": [{"sku": line["sku"], "quantity": line["quantity"]} for line in passed],
            "stock_available": stock,
            "options": {"wait": "wait for a receipt (up to the backorder time), then refund",
                        "refund": "refund the passed lines instead"},
        })
        if task.decision == "refund":
            await self.record("converted_to_refund", "exchange turned into a refund",
                              actor=task.actor or "system")
            return False
        self.short = {line["sku"]: line["quantity"] for line in passed}
        self.stock_state = "held"  # some lines may be held from here on
        await self._reserve_short()
        deadline = workflow.now() + inp.timers.backorder_timeout
        if self.short:
            await self._transition("backordered", "exchange", "backordered",
                                   f"waiting for {', '.join(sorted(self.short))}")
        while self.short:
            now = workflow.now()
            if now >= deadline:
                await self._reserve_short()  # one last look
                if not self.short:
                    break
                self.stock_state = "released"  # no more stock taken from here
                await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
                    self._keys(), "released", "system", f"return {self.return_id}",
                    close_waits_of=wf_id))
                await self.record("converted_to_refund",
                                  "replacement not back in stock in time: refund instead")
                return False
            seen = len(self.short)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda n=seen: len(self.short) != n  # type: ignore[misc]
                    or self.stock_lock.locked(),
                    timeout=deadline - now)
            await workflow.wait_condition(lambda: not self.stock_lock.locked())
        return True

    async def _reserve_short(self) -> None:
        got = await self.reserve_short(1)
        if got:
            await self.record("stock_reserved", f"reserved {', '.join(got)}")

    async def take_stock(self) -> None:
        await self._reserve_short()

    def stock_closed(self) -> bool:
        return self.stock_state == "released"

    async def _apply_shipped(self, inp: CompleteTaskInput) -> dict[str, Any]:
        tracking = str(inp.data["tracking_no"]).strip()
        courier = str(inp.data["courier"]).strip()
        booking = await self._act(Act.SHIPMENT_REGISTER, ShipmentRegister(
            tracking, courier, self.order_no, "return", self.return_id,
            workflow.info().workflow_id, workflow.now(), "outbound", 1, inp.actor.name),
            ShipmentView)
        repaired = self.data.get("repair") is not None and self.stock_state == "none"
        if not repaired:  # a replacement: its reserved stock leaves
            await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
                self._keys(), "consumed", inp.actor.name,
                f"return {self.return_id} replacement {tracking}"))
        self.exchange_parcel = {"courier": courier, "tracking_no": tracking, "status": "shipped",
                                "tracking_url": booking.tracking_url or "",
                                "shipped_at": workflow.now().isoformat()}
        if repaired:
            self.data["repair"]["parcel"] = dict(self.exchange_parcel)
        else:
            self.data["exchange"] = dict(self.exchange_parcel)
        return {"shipment": self.exchange_parcel}

    # --- follow-up, cancel ---------------------------------------------------------------

    async def _followup(self, inp: ReturnInput) -> None:
        """Seed: after handling a quality problem, contact the customer and confirm it is
        solved. The follow-up process does that; here it is started (or recorded as due)."""
        reason = "quality_return"
        followup_id = f"followup-{self.order_no}-{reason}"
        status = "started"
        try:
            await self.activity(
                Act.FOLLOWUP_START,
                FollowupStart(self.order_no, inp.customer.id, reason, self.return_id,
                              [{"sku": line["sku"], "quantity": line["quantity"]}
                               for line in self.lines if line["result"] == "pass"]),
                timeout=timedelta(seconds=30), retry=RetryPolicy(maximum_attempts=2))
        except ActivityError:
            status = "due"
        due = workflow.now() + inp.timers.followup_delay
        await self._act(Act.RETURN_FOLLOWUP_DUE, FollowupDueRecord(
            followup_id, "return", self.return_id, self.order_no, inp.customer.id, reason, due,
            status))
        self.data["followup"] = {"workflow_id": followup_id, "status": status,
                                 "due_at": due.isoformat()}
        await self.record(f"followup_{status}", "quality follow-up " +
                          ("started" if status == "started" else "recorded as due"))

    async def _cancel(self) -> None:
        assert self.cancel_request is not None
        self._close_intake()
        await workflow.wait_condition(
            lambda: not self.parcel_lock.locked() and not self.stock_lock.locked())
        await self.cancel_open_tasks()
        if self.stock_state == "held":
            await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
                self._keys(), "released", self.cancel_request["actor"],
                f"return {self.return_id} cancelled",
                close_waits_of=workflow.info().workflow_id))
        now = workflow.now()
        reason = self.cancel_request["reason"] or "cancelled"
        self.data["outcome"] = "cancelled"
        await self._transition("cancelled", "cancelled", "cancelled", reason,
                               actor=self.cancel_request["actor"], times={"closed_at": now},
                               row={"outcome": "cancelled"}, closed=True)
        await self.notify("cancelled", "return_cancelled", return_id=self.return_id,
                          order_no=self.order_no, reason=reason)
        await self.archive()
        await self.finish()

    def cancellable(self) -> bool:
        if self.received:
            raise rejection(ErrorType.CONFLICT, "parcel_arrived",
                            "the parcel has arrived; the return can no longer be cancelled")
        return (super().cancellable() and self.intake is not Intake.CLOSED
                and not self.parcel_lock.locked())

    @property
    def received(self) -> bool:
        return self.intake is Intake.ARRIVED

    def _close_intake(self) -> None:
        """The case is ending (expired, cancelled): no parcel is taken from here on. (A cancel
        is refused once the parcel arrived, so an arrived parcel is never closed.)"""
        if self.intake is Intake.OPEN:
            self.intake = Intake.CLOSED

    # --- decisions -----------------------------------------------------------------------

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        require_decision(task.kind, inp.decision, DECISIONS[task.kind])
        if task.kind == REVIEW and inp.decision == ReturnDecision.REJECT:
            require_text(inp.data, "reason")
        elif task.kind == INSPECTION:
            if inp.decision == ReturnDecision.FAIL:
                require_text(inp.data, "notes")
            else:
                check_inspection(inp.data.get("lines"), {line["sku"] for line in self.lines})
        elif task.kind == REFUND:
            check_refund(inp.data.get("amount"), inp.comment,
                         refundable_cents=self.refundable_cents,
                         proposed_cents=self.proposed_cents)
        elif task.kind == FULFIL:
            check_tracking_no(inp.data)
        elif task.kind == REPAIR:
            check_repair(inp.decision, inp.data)

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        if task.kind == REFUND:
            return await self._apply_refund(inp)
        if task.kind == FULFIL:
            return await self._apply_shipped(inp)
        return {}

    # --- helpers -------------------------------------------------------------------------

    def _keys(self) -> list[str]:
        """The replacement's reservations: its SKUs (another SKU for an exchange that chose
        one)."""
        wf_id = workflow.info().workflow_id
        return [f"{wf_id}:r1:{line['sku']}" for line in replacements(self.lines)]

    def _count(self) -> int:
        return sum(line["quantity"] for line in self.lines)

    def _items(self) -> list[dict[str, Any]]:
        return [{k: line[k] for k in ("sku", "name", "quantity", "unit_price", "result",
                                      "resaleable", "notes", "exchange_sku", "exchange_name",
                                      "exchange_unit_price") if k in line}
                for line in self.lines]

    def row_update(self, version: int, status: str | None, stage: str | None,
                   times: dict[str, datetime], row: dict[str, Any]) -> ReturnUpdate:
        return ReturnUpdate(self.return_id, version, workflow.now(), status, stage, times, row)


def _exchange_of(line: ReturnLineData) -> dict[str, Any]:
    """An exchange line's other SKU and its price (nothing for a same-SKU line, so older cases
    keep their shape)."""
    if not line.exchange_sku:
        return {}
    return {"exchange_sku": line.exchange_sku, "exchange_name": line.exchange_name,
            "exchange_unit_price": amount(line.exchange_unit_price_cents),
            "exchange_unit_price_cents": line.exchange_unit_price_cents}


def _plain_policy(policy: ReturnPolicy) -> dict[str, Any]:
    return {"return_window_days": policy.return_window_days,
            "quality_return_window_days": policy.quality_return_window_days,
            "ship_timeout_days": policy.ship_timeout_days,
            "return_shipping_paid_by": policy.return_shipping_paid_by,
            "return_address": policy.return_address}

