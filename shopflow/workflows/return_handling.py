"""Returns and exchanges (seeds 001 and 003) as one workflow ``return-<id>``: acknowledgement,
review by customer service, the customer's parcel (with a reminder and an expiry), inspection by
the warehouse (resaleable goods back to stock, faulty ones to the damaged count), then a refund
by finance or a replacement shipped by the warehouse (waiting for stock, or converted to a
refund), and for a quality problem the follow-up that checks it was solved.

The policy in force at the request (windows, ship timeout, who pays return shipping) is part of
the input, so changing the settings later never changes an open case."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from shopflow.workflows.base import (
    CaseCancelled,
    CaseWorkflow,
    HumanTask,
    rejection,
    require_decision,
    require_text,
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
    Restock,
    RestockLine,
    ReturnContextRequest,
    ReturnUpdate,
    ShipmentEventInput,
    ShipmentRegister,
    StockArrived,
    StockLine,
    StockSettle,
)
from shopflow.workflows.vocab import RETURN_END_STATUSES

REVIEW = "return.review"
INSPECTION = "return.inspection"
REFUND = "return.refund"
OUT_OF_STOCK = "return.out_of_stock"
SEND_BACK = "return.send_back"
FULFIL = "order.fulfil"
DECISIONS = {
    REVIEW: {"approve", "reject"},
    INSPECTION: {"pass", "fail"},
    REFUND: {"refunded"},
    OUT_OF_STOCK: {"wait", "refund"},
    SEND_BACK: {"sent_back"},
    FULFIL: {"shipped"},
}
EVENT_TYPES = ("in_transit", "delivered", "delayed", "lost")
END_STATUSES = RETURN_END_STATUSES

MONEY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2),
                          maximum_interval=timedelta(minutes=5))


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


@dataclass
class ReturnLineData:
    sku: str
    quantity: int
    unit_price_cents: int
    name: str = ""


@dataclass
class ReturnInput:
    return_id: str
    order_no: str
    customer: CustomerData
    kind: str  # refund | exchange
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


def amount(cents: int) -> str:
    return f"{cents / 100:.2f}"


def to_cents(value: Any) -> int | None:
    """A decision's amount (number or numeric string, at most two decimals) in cents."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cents = round(float(value) * 100, 6)
    except ValueError:
        return None
    if cents != int(cents) or cents != cents:  # more than two decimals, or NaN
        return None
    return int(cents)


@workflow.defn(name="ReturnHandling")
class ReturnHandling(CaseWorkflow):
    KIND = "return"
    CANCELLABLE_STAGES = frozenset({"review", "awaiting_parcel"})

    def __init__(self) -> None:
        super().__init__()
        self.return_id = ""
        self.order_no = ""
        self.lines: list[dict[str, Any]] = []
        self.parcel: dict[str, Any] | None = None
        self.received = False
        self.registering = False
        self.closing = False
        self.short: dict[str, int] = {}
        self.reserving = False
        self.reserved_round = False
        self.closing_stock = False
        self.proposed_cents = 0
        self.refundable_cents = 0
        self.exchange_parcel: dict[str, Any] | None = None
        self._return_version = 0
        self._courier_seen: set[str] = set()

    @workflow.run
    async def run(self, inp: ReturnInput) -> dict[str, Any]:
        self.start_case(inp.return_id, inp.customer.id, inp.timers.task_due,
                        inp.timers.notice_send)
        self.return_id, self.order_no = inp.return_id, inp.order_no
        self.lines = [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                       "unit_price": amount(line.unit_price_cents),
                       "unit_price_cents": line.unit_price_cents, "result": None,
                       "resaleable": None, "notes": ""} for line in inp.lines]
        self.data = {
            "id": inp.return_id, "order_no": inp.order_no, "kind": inp.kind,
            "reason": inp.reason, "quality_issue": inp.quality_issue, "evidence": inp.evidence,
            "customer": {"id": inp.customer.id, "name": inp.customer.name},
            "items": self._items(), "policy": _plain_policy(inp.policy),
            "delivered_at": inp.delivered_at.isoformat(), "parcel": None, "refund": None,
            "exchange": None, "outcome": None,
            "kpi": {"requested_at": workflow.now().isoformat()},
        }
        await self.record("requested", f"{inp.kind} of {self._count()} item(s): {inp.reason}",
                          actor=inp.requested_by, status="requested", stage="review")
        await self.notify("received", "return_received", return_id=inp.return_id,
                          order_no=inp.order_no, return_kind=inp.kind, items=self._items())
        try:
            await self._review(inp)
            await self._await_parcel(inp)
            await self._inspect(inp)
            outcome = "refund"
            if inp.kind == "exchange":
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
            inp.return_id, inp.order_no, inp.customer.id), dict)
        window = (inp.policy.quality_return_window_days if inp.quality_issue
                  else inp.policy.return_window_days)
        left = inp.delivered_at + timedelta(days=window) - workflow.now()
        task = await self.human_task(REVIEW, "cs", {
            **context,
            "return_id": inp.return_id, "kind": inp.kind, "reason": inp.reason,
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
                                   fields={"outcome": "rejected"}, closed=True)
            await self.notify("rejected", "return_rejected", return_id=self.return_id,
                              order_no=self.order_no, reason=reason)
            raise _End()
        await self._transition("approved", "awaiting_parcel", "approved",
                               "return approved: waiting for the parcel",
                               actor=task.actor or "system", times={"approved_at": workflow.now()})
        await self.notify("approved", "return_approved", return_id=self.return_id,
                          order_no=self.order_no, address=inp.policy.return_address,
                          shop_pays_shipping=inp.policy.return_shipping_paid_by == "shop",
                          ship_within_days=round(inp.timers.ship_timeout.total_seconds() / 86400, 1),
                          items=self._items())

    async def _await_parcel(self, inp: ReturnInput) -> None:
        start = workflow.now()
        deadline = start + inp.timers.ship_timeout
        reminder_at = start + inp.timers.ship_timeout / 2
        reminded = False
        while self.parcel is None and not self.received:
            if self.cancel_request is not None:
                raise CaseCancelled()
            now = workflow.now()
            if now >= deadline and not self.registering:
                self.closing = True
                await self._transition("expired", "closed", "expired",
                                       "no parcel within the time to send it",
                                       times={"closed_at": now}, fields={"outcome": "expired"},
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
                    lambda: self.parcel is not None or self.received or self.registering
                    or self.cancel_request is not None,
                    timeout=max(wake - now, timedelta(seconds=1)))
            if self.registering:
                await workflow.wait_condition(lambda: not self.registering)
        # On its way: it arrives by the courier's "delivered" or the warehouse booking it in.
        await workflow.wait_condition(lambda: self.received or self.cancel_request is not None)
        if not self.received:
            raise CaseCancelled()
        await self._transition("received", "inspection", "parcel_received",
                               "the parcel is at the warehouse",
                               times={"received_at": workflow.now()})

    @workflow.update
    async def parcel_sent(self, inp: ParcelInput) -> dict[str, Any]:
        if self.parcel is not None:  # the same parcel again
            return {"return_id": self.return_id, "parcel": self.parcel, "status": self.status}
        self.registering = True
        try:
            await self._act(Act.SHIPMENT_REGISTER, ShipmentRegister(
                inp.tracking_no, inp.courier, self.order_no, "return", self.return_id,
                workflow.info().workflow_id, workflow.now(), "return", 1, inp.actor), dict)
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError):
                raise err.cause from None
            raise
        finally:
            self.registering = False
        self.parcel = {"courier": inp.courier, "tracking_no": inp.tracking_no,
                       "sent_at": workflow.now().isoformat(), "status": "shipped",
                       "recorded_by": inp.actor}
        self.data["parcel"] = dict(self.parcel)
        await self._transition("parcel_sent", None, "parcel_sent",
                               f"{inp.courier} {inp.tracking_no}", actor=inp.actor,
                               times={"parcel_sent_at": workflow.now()},
                               fields={"parcel_courier": inp.courier,
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
        if self.registering:
            raise rejection(ErrorType.CONFLICT, "parcel_being_recorded",
                            "a parcel is being recorded right now")

    @workflow.update
    async def parcel_received(self, inp: ReceivedInput) -> dict[str, Any]:
        self.received = True
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
        if self.closing or self.cancel_request is not None or self.stage != "awaiting_parcel":
            raise rejection(ErrorType.CONFLICT, "not_awaiting_parcel",
                            f"return {self.return_id} is {self.status} ({self.stage}); it does "
                            "not wait for a parcel", status=self.status, stage=self.stage)

    @workflow.update
    async def shipment_event(self, ev: ShipmentEventInput) -> dict[str, Any]:
        """The courier's events for the customer's parcel (delivered: inspection opens) or the
        replacement of an exchange."""
        if workflow.patched("courier-event-once"):
            # Same parcel, type and time once, also when two arrive at the same moment.
            key = f"{ev.tracking_no}|{ev.type}|{ev.at.isoformat()}"
            if key in self._courier_seen:
                parcel = self._parcel_of(ev.tracking_no)
                return {"tracking_no": ev.tracking_no, "return_id": self.return_id,
                        "type": ev.type, "duplicate": True,
                        "shipment_status": parcel["status"] if parcel else ev.type}
            self._courier_seen.add(key)
            try:
                await self._act(Act.SHIPMENT_EVENT, ev, dict)
            except BaseException:
                self._courier_seen.discard(key)  # not recorded: the next one is not a repeat
                raise
        else:
            await self._act(Act.SHIPMENT_EVENT, ev, dict)
        parcel = self._parcel_of(ev.tracking_no)
        assert parcel is not None
        parcel["status"] = ev.type
        arrived = (parcel is self.parcel and ev.type == "delivered" and not self.received
                   and not self.closing and self.cancel_request is None)
        if arrived:
            self.received = True
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
                                   fields={"items": self._items(),
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
                               fields={"items": self._items()})

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
            self.return_id, self.order_no, inp.customer.id), dict)
        passed = [line for line in self.lines if line["result"] == "pass"]
        goods = sum(line["unit_price_cents"] * line["quantity"] for line in passed)
        shipping = (inp.shipping_fee_cents
                    if inp.quality_issue and not money["shipping_refunded"] else 0)
        self.refundable_cents = int(money["refundable_cents"])
        self.proposed_cents = min(goods + shipping, self.refundable_cents)
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
            "paid": money["paid"], "refunded_before": money["refunded"],
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
                               fields={"outcome": "refunded",
                                       "refund_amount": refund["amount"]})

    async def _apply_refund(self, inp: CompleteTaskInput) -> dict[str, Any]:
        cents = to_cents(inp.data["amount"])
        assert cents is not None
        try:
            refund = await workflow.execute_activity(
                Act.PAYMENT_REFUND,
                RefundRequest(f"{workflow.info().workflow_id}:refund", self.order_no, cents,
                              f"return {self.return_id}: {self.data['reason']}", "return",
                              self.return_id, workflow.now(), inp.actor.name),
                start_to_close_timeout=timedelta(seconds=60), retry_policy=MONEY_RETRY,
                result_type=dict)
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError):
                raise err.cause from None
            raise
        self.data["refund"] = {**refund, "amount_text": amount(cents),
                               "proposed": amount(self.proposed_cents),
                               "comment": inp.comment}
        return {"refund": refund}

    # --- exchange ------------------------------------------------------------------------

    async def _exchange(self, inp: ReturnInput) -> str:
        """Ship replacements for the passed lines; "refund" when it turns into a refund."""
        passed = [line for line in self.lines if line["result"] == "pass"]
        wf_id = workflow.info().workflow_id
        try:
            await self._act(Act.ORDER_RESERVE, OrderReserve(
                wf_id, "return", self.return_id, 1,
                [StockLine(line["sku"], line["quantity"]) for line in passed],
                all_or_none=True), dict)
        except ActivityError as err:
            if not isinstance(err.cause, ApplicationError):
                raise
            if not await self._wait_for_stock(inp, passed):
                return "refund"
        self.reserved_round = True
        await self._transition("exchange_pending", "exchange", "replacement_reserved",
                               "replacement reserved: warehouse ships it")
        task = await self.human_task(FULFIL, "warehouse", {
            "return_id": self.return_id, "order_no": self.order_no, "exchange": True,
            "customer": self.data["customer"], "shipping_address": inp.shipping_address,
            "pick_list": [{"sku": line["sku"], "name": line["name"],
                           "quantity": line["quantity"]} for line in passed],
            "payment_method": "exchange", "collect_on_delivery": None,
            "pick_list_url": f"/api/v1/returns/{self.return_id}/packing-slip",
            "packing_slip_url": f"/api/v1/returns/{self.return_id}/packing-slip",
        })
        parcel = self.exchange_parcel
        assert parcel is not None
        now = workflow.now()
        self.data["outcome"] = "exchanged"
        await self._transition("exchanged", "closed", "exchange_shipped",
                               f"replacement sent: {parcel['courier']} {parcel['tracking_no']}",
                               actor=task.actor or "system",
                               times={"reshipped_at": now, "closed_at": now},
                               fields={"outcome": "exchanged",
                                       "exchange_tracking_no": parcel["tracking_no"]})
        await self.notify("exchange_shipped", "return_exchange_shipped",
                          return_id=self.return_id, order_no=self.order_no,
                          courier=parcel["courier"], tracking_no=parcel["tracking_no"],
                          tracking_url=parcel.get("tracking_url") or "",
                          items=[{"sku": line["sku"], "quantity": line["quantity"]}
                                 for line in passed])
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
        stock = await self._act(Act.ORDER_STOCK_CONTEXT, [line["sku"] for line in passed], dict)
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
        self.reserved_round = True  # some lines may be held from here on
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
                self.closing_stock = True
                await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
                    self._keys(), "released", "system", f"return {self.return_id}",
                    close_waits_of=wf_id))
                self.reserved_round = False
                await self.record("converted_to_refund",
                                  "replacement not back in stock in time: refund instead")
                return False
            seen = len(self.short)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda n=seen: len(self.short) != n or self.reserving,  # type: ignore[misc]
                    timeout=deadline - now)
            await workflow.wait_condition(lambda: not self.reserving)
        return True

    async def _reserve_short(self) -> None:
        await workflow.wait_condition(lambda: not self.reserving)
        if not self.short:
            return
        self.reserving = True
        try:
            result = await self._act(Act.ORDER_RESERVE, OrderReserve(
                workflow.info().workflow_id, "return", self.return_id, 1,
                [StockLine(sku, q) for sku, q in sorted(self.short.items())]), dict)
        finally:
            self.reserving = False
        for sku in result["reserved"]:
            self.short.pop(sku, None)
        if result["reserved"]:
            await self.record("stock_reserved", f"reserved {', '.join(result['reserved'])}")

    @workflow.update
    async def stock_arrived(self, inp: StockArrived) -> dict[str, Any]:
        if inp.sku in self.short:
            await self._reserve_short()
        return {"return_id": self.return_id, "sku": inp.sku,
                "reserved": inp.sku not in self.short, "waiting": sorted(self.short)}

    @stock_arrived.validator
    def _validate_stock_arrived(self, inp: StockArrived) -> None:
        if self.closing_stock or inp.sku not in self.short:
            raise rejection(ErrorType.CONFLICT, "not_waiting",
                            f"return {self.return_id} is not waiting for {inp.sku}")

    async def _apply_shipped(self, inp: CompleteTaskInput) -> dict[str, Any]:
        tracking = str(inp.data["tracking_no"]).strip()
        courier = str(inp.data["courier"]).strip()
        booking = await self._act(Act.SHIPMENT_REGISTER, ShipmentRegister(
            tracking, courier, self.order_no, "return", self.return_id,
            workflow.info().workflow_id, workflow.now(), "outbound", 1, inp.actor.name), dict)
        await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
            self._keys(), "consumed", inp.actor.name,
            f"return {self.return_id} replacement {tracking}"))
        self.exchange_parcel = {"courier": courier, "tracking_no": tracking, "status": "shipped",
                                "tracking_url": booking.get("tracking_url", ""),
                                "shipped_at": workflow.now().isoformat()}
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
            await workflow.execute_activity(
                Act.FOLLOWUP_START,
                FollowupStart(self.order_no, inp.customer.id, reason, self.return_id,
                              [{"sku": line["sku"], "quantity": line["quantity"]}
                               for line in self.lines if line["result"] == "pass"]),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=2))
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
        self.closing = True
        await workflow.wait_condition(lambda: not self.registering and not self.reserving)
        await self.cancel_open_tasks()
        if self.reserved_round:
            await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
                self._keys(), "released", self.cancel_request["actor"],
                f"return {self.return_id} cancelled",
                close_waits_of=workflow.info().workflow_id))
        now = workflow.now()
        reason = self.cancel_request["reason"] or "cancelled"
        self.data["outcome"] = "cancelled"
        await self._transition("cancelled", "cancelled", "cancelled", reason,
                               actor=self.cancel_request["actor"], times={"closed_at": now},
                               fields={"outcome": "cancelled"}, closed=True)
        await self.notify("cancelled", "return_cancelled", return_id=self.return_id,
                          order_no=self.order_no, reason=reason)
        await self.archive()
        await self.finish()

    def cancellable(self) -> bool:
        if self.received:
            raise rejection(ErrorType.CONFLICT, "parcel_arrived",
                            "the parcel has arrived; the return can no longer be cancelled")
        return super().cancellable() and not self.closing and not self.registering

    # --- decisions -----------------------------------------------------------------------

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        require_decision(task.kind, inp.decision, DECISIONS[task.kind])
        if task.kind == REVIEW and inp.decision == "reject":
            require_text(inp.data, "reason")
        elif task.kind == INSPECTION:
            if inp.decision == "fail":
                require_text(inp.data, "notes")
            else:
                self._validate_inspection(inp.data.get("lines"))
        elif task.kind == REFUND:
            self._validate_refund(inp)
        elif task.kind == FULFIL:
            require_text(inp.data, "courier")
            require_text(inp.data, "tracking_no")
            tracking = inp.data["tracking_no"].strip()
            if len(tracking) > 64 or not all(c.isalnum() or c in "-_." for c in tracking):
                raise rejection(ErrorType.INVALID, "invalid_tracking_no",
                                "tracking_no is up to 64 letters, digits, '-', '_' or '.'")

    def _validate_inspection(self, lines: Any) -> None:
        if lines is None:
            return
        skus = {line["sku"] for line in self.lines}
        if not isinstance(lines, list) or not lines:
            raise rejection(ErrorType.INVALID, "invalid_lines",
                            "lines is a list of {sku, result: pass|fail, resaleable?, notes?}")
        seen: set[str] = set()
        for line in lines:
            sku = line.get("sku") if isinstance(line, dict) else None
            if not isinstance(sku, str) or sku not in skus or sku in seen:
                raise rejection(ErrorType.INVALID, "invalid_item",
                                f"{sku!r} is not a line of this return (or is listed twice)",
                                sku=sku)
            seen.add(sku)
            if line.get("result", "pass") not in ("pass", "fail"):
                raise rejection(ErrorType.INVALID, "invalid_result",
                                "result is pass or fail", sku=sku)
            if "resaleable" in line and not isinstance(line["resaleable"], bool):
                raise rejection(ErrorType.INVALID, "invalid_resaleable",
                                "resaleable is true or false", sku=sku)
            if line.get("result") == "fail" and not str(line.get("notes") or "").strip():
                raise rejection(ErrorType.INVALID, "missing_field",
                                f"notes are required for a failed line ({sku})", field="notes")
        if all(line.get("result", "pass") == "fail" for line in lines) and seen == skus:
            raise rejection(ErrorType.INVALID, "nothing_passed",
                            "every line failed: decide fail {notes} instead")

    def _validate_refund(self, inp: CompleteTaskInput) -> None:
        cents = to_cents(inp.data.get("amount"))
        if cents is None or cents <= 0:
            raise rejection(ErrorType.INVALID, "invalid_amount",
                            "amount is a number above 0 with at most two decimals")
        if cents > self.refundable_cents:
            raise rejection(ErrorType.INVALID, "amount_exceeds_refundable",
                            f"at most {amount(self.refundable_cents)} can be refunded (paid "
                            "minus earlier refunds)", refundable=amount(self.refundable_cents))
        if cents != self.proposed_cents and not inp.comment.strip():
            raise rejection(ErrorType.INVALID, "comment_required",
                            f"an amount other than the proposed {amount(self.proposed_cents)} "
                            "needs a comment", proposed=amount(self.proposed_cents))

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        if task.kind == REFUND:
            return await self._apply_refund(inp)
        if task.kind == FULFIL:
            return await self._apply_shipped(inp)
        return {}

    # --- helpers -------------------------------------------------------------------------

    def _keys(self) -> list[str]:
        wf_id = workflow.info().workflow_id
        return [f"{wf_id}:r1:{line['sku']}" for line in self.lines]

    def _count(self) -> int:
        return sum(line["quantity"] for line in self.lines)

    def _items(self) -> list[dict[str, Any]]:
        return [{k: line[k] for k in ("sku", "name", "quantity", "unit_price", "result",
                                      "resaleable", "notes")} for line in self.lines]

    async def _return_update(self, *, status: str | None = None, stage: str | None = None,
                             times: dict[str, datetime] | None = None,
                             fields: dict[str, Any] | None = None) -> None:
        self._return_version += 1
        for name, value in (times or {}).items():
            self.data["kpi"].setdefault(name, value.isoformat())
        await self._act(Act.RETURN_UPDATE, ReturnUpdate(
            self.return_id, self._return_version, workflow.now(), status, stage, times or {},
            fields or {}))

    async def _transition(self, status: str | None, stage: str | None, event: str, message: str,
                          *, actor: str = "system", times: dict[str, datetime] | None = None,
                          fields: dict[str, Any] | None = None, closed: bool = False,
                          **data: Any) -> None:
        """The return row and the case read-model, in step."""
        await self._return_update(status=status, stage=stage, times=times, fields=fields)
        await self.record(event, message, actor=actor, status=status, stage=stage,
                          closed=closed, **data)


def _plain_policy(policy: ReturnPolicy) -> dict[str, Any]:
    return {"return_window_days": policy.return_window_days,
            "quality_return_window_days": policy.quality_return_window_days,
            "ship_timeout_days": policy.ship_timeout_days,
            "return_shipping_paid_by": policy.return_shipping_paid_by,
            "return_address": policy.return_address}

