"""Order fulfilment (seeds 001 and 002) as one workflow ``order-<order_no>``: confirmation, stock
per line with backorder, payment (online) or cash on delivery, the warehouse's ``order.fulfil``
task, the parcel's journey with its exceptions (delay; loss: reship or refund), settlement on
delivery (COD collected, invoice, reconciliation, follow-up), and cancellation before shipment
with compensation in reverse (stock released, payment refunded, notice)."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from shopflow.workflows.base import (
    CaseCancelled,
    CommerceCase,
    HumanTask,
    business_rejections,
    rejection,
    require_decision,
    require_text,
)
from shopflow.workflows.business_time import TaskClock
from shopflow.workflows.money import amount
from shopflow.workflows.order_rules import (
    CLOSED_PARCEL,
    DECISIONS,
    END_STATUSES,
    EVENT_TYPES,
    OrderDecision,
    OrderTask,
    address_text,
    check_payment,
    check_tracking_no,
    line_key,
)
from shopflow.workflows.shared import (
    Act,
    CompleteTaskInput,
    CustomerData,
    ErrorType,
    FollowupStart,
    Invoice,
    OrderLineData,
    OrderReserve,
    OrderSettle,
    OrderUpdate,
    PaymentCapture,
    PaymentView,
    RefundRequest,
    RefundView,
    ReserveResult,
    ShipmentEventInput,
    ShipmentRegister,
    ShipmentView,
    StockLine,
    StockSettle,
)

FULFIL = OrderTask.FULFIL
LOST_PARCEL = OrderTask.LOST_PARCEL
REFUND = OrderTask.REFUND
__all__ = ["CLOSED_PARCEL", "DECISIONS", "END_STATUSES", "EVENT_TYPES", "OrderFulfilment",
           "OrderInput", "OrderTimers", "PaymentInput", "address_text", "amount"]

# Money moves through the provider with an idempotency key, so retrying until it answers is safe.
MONEY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2),
                          maximum_interval=timedelta(minutes=5))
MONEY_TIMEOUT = timedelta(seconds=60)


@dataclass
class OrderTimers:
    """Copied from the settings at intake (services.timers): an open order keeps its policy.
    Older inputs carry seconds, which decode to the same durations."""

    task_due: timedelta
    payment_timeout: timedelta
    backorder_timeout: timedelta
    followup_delay: timedelta
    # one notice attempt (absent from inputs of older cases)
    notice_send: timedelta = timedelta(seconds=60)
    history_limit: int = 0  # events before continuing as new (0: older cases, never)
    provider_call: timedelta = MONEY_TIMEOUT  # one payment provider call (older cases: 60 s)
    # business hours and per-kind due times (issue 17.5; absent from older cases' inputs)
    clock: TaskClock | None = None


@dataclass
class OrderInput:
    order_no: str
    channel: str
    customer: CustomerData
    lines: list[OrderLineData]
    shipping_address: dict[str, Any]
    payment_method: str  # online | cod
    timers: OrderTimers
    submitted_by: str = "system"
    shipping_fee_cents: int = 0
    # The state carried into a run continued as new (None: a new order).
    carry: dict[str, Any] | None = None


@dataclass
class PaymentInput:
    transaction_id: str
    amount_cents: int
    actor: str = "system"


class _Stop(Exception):
    """The order ends before shipment without anyone asking (payment or backorder timeout)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@workflow.defn(name="OrderFulfilment")
class OrderFulfilment(CommerceCase):
    KIND = "order"
    LOCAL = True
    ROW_UPDATE = Act.ORDER_UPDATE
    CASE_KEY = "order_no"

    @workflow.init
    def __init__(self, inp: OrderInput) -> None:
        # From the input at once: a payment that arrives with the start (the same first
        # activation, before run) is checked against the real total, not refused as paid.
        super().__init__()
        self.order_no = inp.order_no
        self.method = inp.payment_method
        self.lines: list[OrderLineData] = list(inp.lines)
        self.total_cents = (sum(line.quantity * line.unit_price_cents for line in self.lines)
                            + inp.shipping_fee_cents)
        self.round = 1
        self.backorder_since: datetime | None = None
        self.payments: dict[str, dict[str, Any]] = {}
        self.paid_cents = 0
        self.refunded_cents = 0
        self.paying: set[str] = set()
        self.shipments: dict[str, dict[str, Any]] = {}
        self.closing = False
        self.received_at: datetime | None = None
        self._events_in_flight: set[str] = set()
        self.money_timeout = inp.timers.provider_call
        # Continued as new while a parcel travels: the state at once, so an Update arriving
        # with the new run's first activation is checked against it.
        self._resume: str | None = None
        if inp.carry is not None:
            carried = dict(inp.carry)
            self._resume = carried.pop("tracking")
            self.restore(carried)

    # What an order carries into a run continued as new, beside the case's own state.
    CARRIED_HERE = ("round", "backorder_since", "payments", "paid_cents", "refunded_cents",
                    "shipments", "received_at", "short", "_row_version")

    @workflow.run
    async def run(self, inp: OrderInput) -> dict[str, Any]:
        if self._resume is not None:
            # The same order, its parcel on the way: wait for it where the last run stopped.
            tracking = await self._ship_until_delivered(inp, self._resume)
            return await self._end(inp, tracking)
        self.start_case(inp.order_no, inp.customer.id, inp.timers.task_due,
                        inp.timers.notice_send,
                        clock=inp.timers.clock)
        self.received_at = workflow.now()
        self.data = {
            "order_no": inp.order_no,
            "channel": inp.channel,
            "payment_method": inp.payment_method,
            "customer": {"id": inp.customer.id, "name": inp.customer.name},
            "items": self._items(),
            "total": amount(self.total_cents),
            "shipping_fee": amount(inp.shipping_fee_cents),
            "shipping_address": inp.shipping_address,
            "backorder": None,
            "payments": [],
            "shipments": [],
            "refunds": [],
            "invoice": None,
            "followup": None,
            "kpi": {"received_at": self.received_at.isoformat()},
        }
        await self._act(Act.CUSTOMER_UPSERT, inp.customer)
        await self.record("received", f"order via {inp.channel}", actor=inp.submitted_by,
                          status="received", stage="stock")
        await self.notify("confirmed", "order_confirmed", **self._summary(inp))
        try:
            await self._secure(inp)
            tracking = await self._ship_until_delivered(inp)
        except CaseCancelled:
            assert self.cancel_request is not None
            await self._compensate("cancelled", self.cancel_request["reason"] or "cancelled",
                                   self.cancel_request["actor"])
            return {"status": "cancelled"}
        except _Stop as stop:
            await self._compensate(stop.code, stop.reason, "system")
            return {"status": "cancelled", "reason": stop.code}
        return await self._end(inp, tracking)

    async def _end(self, inp: OrderInput, tracking: str | None) -> dict[str, Any]:
        if tracking is None:
            return {"status": "refunded"}
        await self._settle(inp, tracking)
        return {"status": "completed"}

    # --- stock and payment ---------------------------------------------------------------

    async def _secure(self, inp: OrderInput) -> None:
        """Hold every line and, for an online order, the payment. Both run side by side: the
        payment clock starts at intake, the backorder clock when a line first comes up short."""
        assert self.received_at is not None
        t = inp.timers
        self.short = {line.sku: line.quantity for line in self.lines}
        await self._reserve_short()
        pay_deadline = self.received_at + t.payment_timeout
        reminder_at = self.received_at + t.payment_timeout / 2
        reminded = False
        shown = ""
        while True:
            await workflow.wait_condition(lambda: not self.stock_lock.locked() and not self.paying)
            if self.cancel_request is not None:
                raise CaseCancelled()
            unpaid = self._unpaid()
            state = "backordered" if self.short else "awaiting_payment" if unpaid else "ready"
            if state != shown:
                shown = state
                await self._show(state, inp)
                continue
            if state == "ready":
                return
            now = workflow.now()
            backorder_deadline = (self.backorder_since + t.backorder_timeout
                                  if self.short and self.backorder_since else None)
            if unpaid and now >= pay_deadline:
                raise _Stop("payment_timeout", "no payment received in time")
            if backorder_deadline is not None and now >= backorder_deadline:
                await self._reserve_short()  # one last look, should a receipt's wake-up be lost
                if self.short:
                    raise _Stop("backorder_timeout",
                                f"{', '.join(sorted(self.short))} not back in stock in time")
                continue
            if unpaid and not reminded and now >= reminder_at:
                reminded = True
                await self.notify("payment_reminder", "order_payment_reminder",
                                  order_no=self.order_no, total=amount(self.total_cents),
                                  pay_by=pay_deadline.isoformat(timespec="minutes"))
                await self.record("payment_reminded", "payment reminder sent")
                continue
            deadlines = [d for d in (
                pay_deadline if unpaid else None,
                reminder_at if unpaid and not reminded else None,
                backorder_deadline,
            ) if d is not None]
            timeout = min(deadlines) - now if deadlines else None
            await self._wait_for_change(timeout)

    async def _wait_for_change(self, timeout: timedelta | None) -> None:
        seen = (len(self.short), self.paid_cents)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.cancel_request is not None or self.stock_lock.locked()
                or bool(self.paying)
                or (len(self.short), self.paid_cents) != seen,
                timeout=timeout,
            )

    def _unpaid(self) -> bool:
        return self.method == "online" and self.paid_cents < self.total_cents

    async def _show(self, state: str, inp: OrderInput) -> None:
        now = workflow.now()
        if state == "backordered":
            waiting = [{"sku": sku, "quantity": q} for sku, q in sorted(self.short.items())]
            await self._transition("backordered", "stock", "backordered",
                                   f"waiting for {', '.join(sorted(self.short))}",
                                   times={"backordered_at": now}, waiting=waiting)
            await self.notify("backordered", "order_backordered", order_no=self.order_no,
                              items=waiting,
                              wait_days=round(inp.timers.backorder_timeout.total_seconds() / 86400, 1))
        elif state == "awaiting_payment":
            await self._transition("awaiting_payment", "payment", "awaiting_payment",
                                   f"waiting for {amount(self.total_cents)}")
        else:
            await self._transition("fulfilling", "fulfilment", "ready",
                                   "stock held" + (", payment received" if self.paid_cents else ""))

    async def _reserve_short(self) -> None:
        if self.closing:  # (checked once no reservation runs, like before)
            await workflow.wait_condition(lambda: not self.stock_lock.locked())
            return
        got = await self.reserve_short(self.round)
        now = workflow.now()
        if self.short and self.backorder_since is None:
            self.backorder_since = now
        if self.backorder_since is not None:
            self.data["backorder"] = {"since": self.backorder_since.isoformat(),
                                      "waiting": dict(self.short)}
        if got:
            await self.record("stock_reserved", f"reserved {', '.join(got)}", skus=got)
        if not self.short:
            await self.update_row(times={"stock_secured_at": now})

    async def take_stock(self) -> None:
        await self._reserve_short()

    def stock_closed(self) -> bool:
        return self.closing or self.cancel_request is not None

    @workflow.update
    async def record_payment(self, inp: PaymentInput) -> dict[str, Any]:
        tx = inp.transaction_id
        if tx in self.paying:  # the same payment reported twice at once: answer both
            await workflow.wait_condition(lambda: tx not in self.paying)
        if tx in self.payments:
            return {**self.payments[tx], "duplicate": True}
        self.paying.add(tx)
        try:
            with business_rejections():
                payment = await workflow.execute_activity(
                    Act.PAYMENT_CAPTURE,
                    PaymentCapture(self.order_no, tx, inp.amount_cents, "online", workflow.now(),
                                   inp.actor),
                    start_to_close_timeout=self.money_timeout, retry_policy=MONEY_RETRY,
                    result_type=PaymentView)
        finally:
            self.paying.discard(tx)
        self.payments[tx] = asdict(payment)
        self.paid_cents += inp.amount_cents
        self.data["payments"] = list(self.payments.values())
        self.data["kpi"].setdefault("paid_at", workflow.now().isoformat())
        await self.record("paid", f"{amount(inp.amount_cents)} received ({tx})", actor=inp.actor,
                          transaction_id=tx, amount=amount(inp.amount_cents))
        await self.notify("paid", "order_paid", order_no=self.order_no,
                          amount=amount(inp.amount_cents), transaction_id=tx)
        return {**self.payments[tx], "duplicate": False}

    @record_payment.validator
    def _validate_payment(self, inp: PaymentInput) -> None:
        if inp.transaction_id in self.payments or inp.transaction_id in self.paying:
            return  # a repeat is accepted once and answered again
        check_payment(self.order_no, method=self.method,
                      closed=self.closing or self.cancel_request is not None,
                      status=self.status, paid_cents=self.paid_cents,
                      total_cents=self.total_cents, paying=bool(self.paying),
                      amount_cents=inp.amount_cents)

    # --- warehouse and logistics ---------------------------------------------------------

    async def _ship_until_delivered(self, inp: OrderInput,
                                    travelling: str | None = None) -> str | None:
        """Ship; a lost parcel goes to customer service (reship: round again; refund: end).
        ``travelling``: the parcel already on its way (a run continued as new)."""
        while True:
            tracking = travelling or await self._fulfil(inp)
            travelling = None
            await self._until_parcel_closed(inp, tracking)
            if self.shipments[tracking]["status"] == "delivered":
                return tracking
            task = await self._lost_parcel(inp, tracking)
            if task.decision == "refund":
                await self._close_refunded(tracking, task.actor or "system")
                return None

    async def _until_parcel_closed(self, inp: OrderInput, tracking: str) -> None:
        """Wait for the parcel's delivery or loss. A courier may send events without end:
        above the history limit the order continues as new with its state carried."""
        parcel = self.shipments[tracking]
        limit = inp.timers.history_limit

        def closed() -> bool:
            return parcel["status"] in CLOSED_PARCEL

        await workflow.wait_condition(lambda: closed() or self.history_too_long(limit))
        if closed() or not workflow.patched("order-continue-as-new"):
            await workflow.wait_condition(closed)
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        if closed():
            return
        carried = self.carry(*self.CARRIED_HERE)
        carried["tracking"] = tracking
        workflow.continue_as_new(dataclasses.replace(inp, carry=carried))

    async def _fulfil(self, inp: OrderInput) -> str:
        if self.round > 1:
            await self._transition("fulfilling", "fulfilment", "reship",
                                   f"reshipment {self.round} reserved")
        previous = [s["tracking_no"] for s in self.shipments.values()]
        task = await self.human_task(FULFIL, "warehouse", {
            "order_no": self.order_no,
            "round": self.round,
            "reship_of": previous[-1] if previous else None,
            "customer": self.data["customer"],
            "shipping_address": inp.shipping_address,
            "address_text": address_text(inp.shipping_address),
            "pick_list": [{"sku": i["sku"], "name": i["name"], "quantity": i["quantity"]}
                          for i in self.data["items"]],
            "payment_method": self.method,
            "collect_on_delivery": amount(self.total_cents) if self.method == "cod" else None,
            "pick_list_url": f"/api/v1/orders/{self.order_no}/pick-list",
            "packing_slip_url": f"/api/v1/orders/{self.order_no}/packing-slip",
        })
        tracking = str(task.data["tracking_no"]).strip()
        shipment = self.shipments[tracking]
        await self._transition("shipped", "delivery", "shipped",
                               f"{shipment['courier']} {tracking}", actor=task.actor or "system",
                               times={"shipped_at": workflow.now()}, tracking_no=tracking,
                               courier=shipment["courier"])
        await self.notify(f"shipped:{tracking}", "order_shipped", order_no=self.order_no,
                          courier=shipment["courier"], tracking_no=tracking,
                          tracking_url=shipment.get("tracking_url") or "",
                          reship=self.round > 1)
        return tracking

    async def _apply_shipped(self, inp: CompleteTaskInput) -> dict[str, Any]:
        """Before the warehouse's "shipped" is accepted: the tracking number is registered with
        the courier and the held stock leaves (on hand down)."""
        wf_id = workflow.info().workflow_id
        tracking = str(inp.data["tracking_no"]).strip()
        courier = str(inp.data["courier"]).strip()
        self.shipments[tracking] = {"tracking_no": tracking, "courier": courier,
                                    "status": "registering", "round": self.round, "events": []}
        try:
            booking = await self._act(Act.SHIPMENT_REGISTER, ShipmentRegister(
                tracking, courier, self.order_no, "order", self.order_no, wf_id, workflow.now(),
                "outbound", self.round, inp.actor.name), ShipmentView)
            await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
                self._keys(self.round), "consumed", inp.actor.name,
                f"order {self.order_no} parcel {tracking}"))
        except BaseException:
            self.shipments.pop(tracking, None)
            raise
        shipment = self.shipments[tracking]
        shipment.update(status="shipped", tracking_url=booking.tracking_url or "",
                        estimated_delivery=booking.estimated_delivery,
                        shipped_at=workflow.now().isoformat(), shipped_by=inp.actor.name)
        self._show_shipments()
        return {"shipment": {k: v for k, v in shipment.items() if k != "events"}}

    @workflow.update
    async def shipment_event(self, ev: ShipmentEventInput) -> dict[str, Any]:
        shipment = self.shipments[ev.tracking_no]
        await workflow.wait_condition(lambda: shipment["status"] != "registering")
        at = ev.at.isoformat()
        if any(e["type"] == ev.type and e["at"] == at for e in shipment["events"]):
            return self._event_answer(ev, duplicate=True)
        key = f"{ev.tracking_no}|{ev.type}|{at}"
        if self.since("courier-event-once"):
            # The same event twice at once (a courier's retry): the second waits for the first
            # and is answered as the duplicate it is (one timeline line, one notice).
            if key in self._events_in_flight:
                await workflow.wait_condition(lambda: key not in self._events_in_flight)
                return self._event_answer(ev, duplicate=True)
            self._events_in_flight.add(key)
        try:
            return await self._apply_event(ev, shipment, at)
        finally:
            self._events_in_flight.discard(key)

    async def _apply_event(self, ev: ShipmentEventInput, shipment: dict[str, Any],
                           at: str) -> dict[str, Any]:
        await self._act(Act.SHIPMENT_EVENT, ev, ShipmentView)
        shipment["events"].append({"type": ev.type, "at": at, "note": ev.note, "by": ev.actor})
        shipment["status"] = ev.type
        if ev.type == "delivered":
            shipment["delivered_at"] = at
        self._show_shipments()
        exception = None
        if ev.type in ("delayed", "lost"):
            exception = {"key": f"{ev.type}:{ev.tracking_no}:{len(shipment['events'])}",
                         "type": ev.type, "tracking_no": ev.tracking_no, "at": at,
                         "note": ev.note}
            self.data["kpi"].setdefault("first_exception_at", at)
        await self._transition(None, None, f"shipment_{ev.type}",
                               ev.note or f"{ev.tracking_no} {ev.type}", actor=ev.actor,
                               row={"exception": exception}, tracking_no=ev.tracking_no)
        if ev.type == "delayed":
            await self.notify(f"delayed:{ev.tracking_no}:{len(shipment['events'])}",
                              "order_delayed", order_no=self.order_no,
                              tracking_no=ev.tracking_no, courier=shipment["courier"],
                              note=ev.note)
        return self._event_answer(ev, duplicate=False)

    @shipment_event.validator
    def _validate_shipment_event(self, ev: ShipmentEventInput) -> None:
        shipment = self.shipments.get(ev.tracking_no)
        if shipment is None:
            raise rejection(ErrorType.NOT_FOUND, "unknown_shipment",
                            f"no parcel {ev.tracking_no} on order {self.order_no}")
        if ev.type not in EVENT_TYPES:
            raise rejection(ErrorType.INVALID, "invalid_event",
                            f"type is one of {', '.join(EVENT_TYPES)}")
        at = ev.at.isoformat()
        repeat = any(e["type"] == ev.type and e["at"] == at for e in shipment["events"])
        if shipment["status"] in CLOSED_PARCEL and not repeat:
            raise rejection(ErrorType.CONFLICT, "shipment_closed",
                            f"parcel {ev.tracking_no} is {shipment['status']} already",
                            status=shipment["status"])

    def _event_answer(self, ev: ShipmentEventInput, duplicate: bool) -> dict[str, Any]:
        return {"tracking_no": ev.tracking_no, "order_no": self.order_no, "type": ev.type,
                "shipment_status": self.shipments[ev.tracking_no]["status"],
                "order_status": self.status, "duplicate": duplicate}

    async def _lost_parcel(self, inp: OrderInput, tracking: str) -> HumanTask:
        shipment = self.shipments[tracking]
        await self._transition("exception", "lost_parcel", "lost_parcel",
                               f"parcel {tracking} lost: customer service decides",
                               tracking_no=tracking)
        await self.notify(f"lost:{tracking}", "order_lost", order_no=self.order_no,
                          tracking_no=tracking, courier=shipment["courier"])
        stock = await self.stock_available([line.sku for line in self.lines])
        return await self.human_task(LOST_PARCEL, "cs", {
            "order_no": self.order_no,
            "tracking_no": tracking,
            "courier": shipment["courier"],
            "customer": self.data["customer"],
            "items": self.data["items"],
            "payment_method": self.method,
            "paid": amount(self.paid_cents - self.refunded_cents),
            "stock_available": stock,
            "options": {"reship": "reserve the items again and open a new order.fulfil task",
                        "refund": "refund what was paid and close the order"},
        })

    async def _close_refunded(self, tracking: str, actor: str) -> None:
        due = self.paid_cents - self.refunded_cents
        refunded = True
        key, reason = f"{workflow.info().workflow_id}:lost:{tracking}", f"parcel {tracking} lost"
        if due > 0:
            refunded = await self._refund(key, due, reason, actor)
        # The customer hears "refunded" only once it is; otherwise "being processed" (ops were
        # told the refund failed).
        processing = not refunded and self.since("refund-told-after-success")
        await self._transition("refunded", "closed", "closed_refunded",
                               f"parcel {tracking} lost; {amount(due)} "
                               f"{'refund being processed' if processing else 'refunded'}",
                               actor=actor, closed=True, refunded=amount(due))
        await self.notify(f"refunded:{tracking}", "order_refunded", order_no=self.order_no,
                          amount=amount(due), reason=reason,
                          cod=self.method == "cod", processing=processing)
        if processing:
            await self._refund_owed(key, due, reason)
        await self.archive()
        await self.finish()

    # --- settlement, cancellation --------------------------------------------------------

    async def _settle(self, inp: OrderInput, tracking: str) -> None:
        shipment = self.shipments[tracking]
        delivered_at = datetime.fromisoformat(shipment["delivered_at"])
        if self.method == "cod":
            tx = f"COD-{tracking}"
            payment = await self._act(Act.PAYMENT_COLLECT_COD, PaymentCapture(
                self.order_no, tx, self.total_cents, "cod", delivered_at, "courier"), PaymentView)
            self.payments[tx] = asdict(payment)
            self.paid_cents = self.total_cents
            self.data["payments"] = list(self.payments.values())
            await self.record("cod_collected", f"{amount(self.total_cents)} collected by "
                              f"{shipment['courier']}", transaction_id=tx)
        now = workflow.now()
        followup_id = f"followup-{self.order_no}"
        due = now + inp.timers.followup_delay
        followup = await self._start_followup(tracking)
        settled = await self._act(Act.ORDER_SETTLE, OrderSettle(
            self.order_no, now, delivered_at, tracking, followup_id, due,
            followup_status=followup), Invoice)
        invoice_url = f"/api/v1/orders/{self.order_no}/invoice"
        self.data["invoice"] = {"invoice_no": settled.invoice_no, "url": invoice_url}
        self.data["followup"] = {"workflow_id": followup_id, "status": followup,
                                 "due_at": due.isoformat()}
        await self._transition("completed", "completed", "completed",
                               f"delivered; invoice {settled.invoice_no}; reconciliation open",
                               times={"delivered_at": delivered_at, "completed_at": now},
                               closed=True, invoice_no=settled.invoice_no)
        await self.notify("delivered", "order_delivered", order_no=self.order_no,
                          invoice_no=settled.invoice_no, invoice_url=invoice_url,
                          total=amount(self.total_cents))
        await self.archive()
        await self.finish()

    async def _start_followup(self, tracking: str) -> str:
        """The satisfaction follow-up is another process (``followup-<order_no>``): started here
        when the worker runs it, and recorded as due either way (``followups_due``), so a
        follow-up that could not be started is not lost."""
        try:
            await self.activity(
                Act.FOLLOWUP_START,
                FollowupStart(self.order_no, self.customer_id or "", "delivered", tracking,
                              [{"sku": i["sku"], "quantity": i["quantity"]}
                               for i in self.data["items"]]),
                timeout=timedelta(seconds=30), retry=RetryPolicy(maximum_attempts=2),
            )
        except ActivityError:
            await self.record("followup_due", "follow-up could not be started: recorded as due")
            return "due"
        await self.record("followup_started", "satisfaction follow-up started")
        return "started"

    async def _compensate(self, code: str, reason: str, actor: str) -> None:
        """Undo in reverse: close tasks, give the stock back, refund what was paid, tell."""
        self.closing = True
        await workflow.wait_condition(
            lambda: not self.stock_lock.locked() and not self.paying
            and not any(t.applying for t in self.tasks.values()))
        await self.cancel_open_tasks()
        wf_id = workflow.info().workflow_id
        keys = [key for r in range(1, self.round + 1) for key in self._keys(r)]
        await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
            keys, "released", actor, f"order {self.order_no} cancelled", close_waits_of=wf_id))
        due = self.paid_cents - self.refunded_cents
        refunded = True
        if due > 0:
            refunded = await self._refund(f"{wf_id}:cancel", due, reason, actor)
        processing = not refunded and self.since("refund-told-after-success")
        await self._transition("cancelled", "cancelled", "cancelled", reason, actor=actor,
                               times={"cancelled_at": workflow.now()},
                               row={"cancel_reason": reason},
                               closed=True, code=code, refunded=amount(due))
        await self.notify("cancelled", "order_cancelled", order_no=self.order_no, code=code,
                          reason=reason, refund=amount(due) if due > 0 else "",
                          refund_processing=processing)
        if processing:
            await self._refund_owed(f"{wf_id}:cancel", due, reason)
        await self.archive()
        await self.finish()

    async def _refund(self, key: str, cents: int, reason: str, actor: str) -> bool:
        """Refund through the provider; False when it was refused (ops are told)."""
        try:
            refund = await workflow.execute_activity(
                Act.PAYMENT_REFUND,
                RefundRequest(key, self.order_no, cents, reason, "order", self.order_no,
                              workflow.now(), actor),
                start_to_close_timeout=self.money_timeout, retry_policy=MONEY_RETRY,
                result_type=RefundView)
        except ActivityError as err:
            # Refused by the provider or the books (not a passing failure): ops must look.
            await self.record("refund_failed", f"refund of {amount(cents)} refused: {err.cause}",
                              key=key)
            await self.notify(f"refund_failed:{key}", "order_refund_failed", to_customer=False,
                              order_no=self.order_no, amount=amount(cents),
                              error=str(err.cause))
            return False
        self.refunded_cents += cents
        self.data["refunds"] = [*self.data["refunds"], asdict(refund)]
        await self.record("refund_issued", f"{amount(cents)} refunded ({refund.method})",
                          actor=actor, key=key, amount=amount(cents), method=refund.method)
        return True

    async def _refund_owed(self, key: str, cents: int, reason: str) -> None:
        """A refund the provider refused is finance's to finish: ``retry`` asks the provider
        again (a new attempt under the same key; refused again, the task stays open) or
        ``settled {note}`` records that it was paid back another way. Then the customer, told
        "being processed" so far, hears that it is refunded."""
        if not self.since("refund-failed-finance-task"):
            return  # older cases: ops were told (order_refund_failed), nobody was tasked
        task = await self.human_task(REFUND, "finance", {
            "order_no": self.order_no, "refund_key": key, "amount": amount(cents),
            "amount_cents": cents, "reason": reason, "payment_method": self.method,
            "customer": self.data["customer"],
            "options": {"retry": "ask the payment provider again (a new attempt)",
                        "settled": "paid back another way: say how in note"},
        }, after_cancel=True)
        how = ("refunded" if task.decision == OrderDecision.RETRY
               else f"settled: {task.data['note']}")
        await self.record("refund_settled", f"{amount(cents)} {how}",
                          actor=task.actor or "system", key=key, decision=task.decision)
        await self.notify(f"refund_settled:{key}", "order_refunded", order_no=self.order_no,
                          amount=amount(cents), reason=reason, cod=self.method == "cod",
                          processing=False)

    async def _retry_refund(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        """Finance's retry of a refused refund: refused again, the decision is refused (422)."""
        cents = int(task.context["amount_cents"])
        refund = await workflow.execute_activity(
            Act.PAYMENT_REFUND,
            RefundRequest(task.context["refund_key"], self.order_no, cents,
                          task.context["reason"], "order", self.order_no, workflow.now(),
                          inp.actor.name),
            start_to_close_timeout=self.money_timeout, retry_policy=MONEY_RETRY,
            result_type=RefundView)
        self.refunded_cents += cents
        self.data["refunds"] = [*self.data["refunds"], asdict(refund)]
        return {"refund": asdict(refund)}

    def cancellable(self) -> bool:
        if self.shipments:
            raise rejection(ErrorType.CONFLICT, "already_shipped",
                            f"order {self.order_no} has shipped; ask for a return instead",
                            hint="POST /api/v1/returns", order_no=self.order_no)
        if any(t.applying for t in self.tasks.values()):
            raise rejection(ErrorType.CONFLICT, "shipment_in_progress",
                            "the warehouse is booking the parcel out right now")
        return not self.closing and self.status not in END_STATUSES

    # --- decisions -----------------------------------------------------------------------

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        require_decision(task.kind, inp.decision, DECISIONS[task.kind])
        if inp.decision == OrderDecision.SHIPPED:
            tracking = check_tracking_no(inp.data)
            if tracking in self.shipments:
                raise rejection(ErrorType.CONFLICT, "tracking_no_in_use",
                                f"parcel {tracking} is already on this order")
        elif inp.decision == OrderDecision.SETTLED:
            require_text(inp.data, "note")

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        if task.kind == FULFIL:
            return await self._apply_shipped(inp)
        if task.kind == REFUND and inp.decision == OrderDecision.RETRY:
            return await self._retry_refund(task, inp)
        if task.kind == LOST_PARCEL and inp.decision == "reship":
            # All lines or none: a reship that cannot be packed now is refused (422), and the
            # task stays open for a refund or a try after the next receipt.
            await self._act(Act.ORDER_RESERVE, OrderReserve(
                workflow.info().workflow_id, "order", self.order_no, self.round + 1,
                [StockLine(line.sku, line.quantity) for line in self.lines], inp.actor.name,
                all_or_none=True), ReserveResult)
            self.round += 1
            return {"round": self.round}
        return {}

    # --- helpers -------------------------------------------------------------------------

    def _keys(self, round_no: int) -> list[str]:
        wf_id = workflow.info().workflow_id
        return [line_key(wf_id, round_no, line.sku) for line in self.lines]

    def _items(self) -> list[dict[str, Any]]:
        return [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                 "unit_price": amount(line.unit_price_cents),
                 "amount": amount(line.quantity * line.unit_price_cents)} for line in self.lines]

    def _summary(self, inp: OrderInput) -> dict[str, Any]:
        return {"order_no": self.order_no, "items": self.data["items"],
                "shipping_fee": amount(inp.shipping_fee_cents),
                "total": amount(self.total_cents), "payment_method": self.method,
                "pay_within_minutes": round(inp.timers.payment_timeout.total_seconds() / 60),
                "address": address_text(inp.shipping_address),
                "recipient": inp.shipping_address.get("name", "")}

    def _show_shipments(self) -> None:
        self.data["shipments"] = [{k: v for k, v in s.items() if k != "events"}
                                  | {"events": list(s["events"])}
                                  for s in self.shipments.values() if s["status"] != "registering"]

    def row_update(self, version: int, status: str | None, stage: str | None,
                   times: dict[str, datetime], row: dict[str, Any]) -> OrderUpdate:
        return OrderUpdate(self.order_no, version, workflow.now(), status, stage, times,
                           row.get("exception"), row.get("cancel_reason"))
