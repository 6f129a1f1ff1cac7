"""The after-sales outcomes of a return beside refund and same-SKU exchange (issue 18), as a
mixin of ``ReturnHandling`` so the process module stays readable: a repair (维修: at repair by a
due time with a reminder and an escalation, sent back, or unrepairable: refund or exchange)
and the price difference of an exchange for another SKU or size (paid through the payment
provider, or refunded through finance's refund). Their pure rules live in return_rules.py."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from shopflow.workflows.base import CommerceCase, HumanTask, business_rejections, rejection
from shopflow.workflows.money import amount
from shopflow.workflows.return_rules import (
    ReturnDecision,
    ReturnTask,
    check_difference_payment,
    repair_clock,
)
from shopflow.workflows.shared import (
    Act,
    ErrorType,
    PaymentCapture,
    PaymentView,
    Restock,
    RestockLine,
    ReturnContext,
    ReturnContextRequest,
    StockSettle,
)

if TYPE_CHECKING:
    from shopflow.workflows.return_handling import ReturnInput

REPAIR = ReturnTask.REPAIR
REFUND = ReturnTask.REFUND
FULFIL = ReturnTask.FULFIL
MONEY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2),
                          maximum_interval=timedelta(minutes=5))


@dataclass
class DifferencePayment:
    """The customer paid an exchange's price difference (a transaction at the provider)."""

    transaction_id: str
    amount_cents: int
    actor: str = "channel"



class AfterSales(CommerceCase):
    """Repair and the price difference of an exchange; the state they use is the return's."""

    return_id: str
    order_no: str
    lines: list[dict[str, Any]]
    parcel: dict[str, Any] | None
    exchange_parcel: dict[str, Any] | None
    stock_state: str
    proposed_cents: int
    refundable_cents: int
    money_timeout: timedelta
    # An exchange's price difference: {amount_cents, status: due|paid|unpaid|refund…, …}.
    difference: dict[str, Any] | None
    _paying: set[str]  # transactions of the difference being confirmed right now

    def _items(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _keys(self) -> list[str]:
        raise NotImplementedError

    # --- repair (维修) ---------------------------------------------------------------------

    async def _repair(self, inp: ReturnInput) -> str:
        """The item is at the warehouse: after-sales repairs it (a reminder half way; at the due
        time the task escalates to ops and the customer hears it takes longer) and ships it
        back ("repaired"), or finds it unrepairable and the customer gets a refund or a new
        one instead (the answer: "refund" or "exchange")."""
        reminder_at, due = repair_clock(workflow.now(), inp.timers.repair_due)
        self.data["repair"] = {"status": "in_repair", "due_at": due.isoformat(),
                               "overdue": False, "notes": "", "parcel": None}
        await self._transition("repairing", "repair", "repair_started",
                               f"at repair, due {due.isoformat(timespec='minutes')}")
        await self.notify("repair_started", "return_repair_started", return_id=self.return_id,
                          order_no=self.order_no, due_at=due.isoformat(timespec="minutes"),
                          items=self._items())
        task = await self.open_task(REPAIR, "warehouse", {
            "return_id": self.return_id, "order_no": self.order_no, "reason": inp.reason,
            "quality_issue": inp.quality_issue, "evidence": inp.evidence,
            "items": self._items(), "parcel": self.parcel, "repair_due_at": due.isoformat(),
            "how": "repaired {notes?}: the warehouse then ships it back; or unrepairable "
                   "{notes, remedy: refund|exchange}",
        }, due)
        reminded = False
        while not task.done:
            now = workflow.now()
            if not task.escalated and now >= due:
                self.data["repair"]["overdue"] = True  # recorded with the escalation
                await self._escalate(task)
                await self.notify("repair_overdue", "return_repair_delayed",
                                  return_id=self.return_id, order_no=self.order_no)
                continue
            if not reminded and now >= reminder_at:
                reminded = True
                await self.record("repair_reminder", "repair half way to its due time")
                await self.notify("repair_reminder", "return_repair_reminder", to_customer=False,
                                  return_id=self.return_id, task_id=task.id,
                                  due_at=due.isoformat(timespec="minutes"))
                continue
            wake = reminder_at if not reminded else None if task.escalated else due
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: task.done,
                    timeout=None if wake is None else max(wake - now, timedelta(seconds=1)))
        actor = task.actor or "system"
        notes = str(task.data.get("notes") or task.comment or "")
        self.data["repair"].update(status=str(task.decision), notes=notes)
        for line in self.lines:
            line.update(result="pass", resaleable=False, notes=notes)
        if task.decision == ReturnDecision.UNREPAIRABLE:
            remedy = str(task.data["remedy"])
            # The faulty item stays with the shop: to the damaged count.
            await self._act(Act.RETURN_RESTOCK, Restock(
                workflow.info().workflow_id,
                [RestockLine(line["sku"], line["quantity"], False) for line in self.lines],
                actor, f"return {self.return_id} unrepairable"))
            await self._transition("inspected", "settlement", "unrepairable",
                                   f"cannot be repaired ({notes}): {remedy} instead",
                                   actor=actor, times={"inspected_at": workflow.now()},
                                   row={"items": self._items()})
            await self.notify("unrepairable", "return_unrepairable", return_id=self.return_id,
                              order_no=self.order_no, notes=notes, remedy=remedy)
            return remedy
        await self._transition(None, None, "repaired", notes or "repaired: ships back",
                               actor=actor, times={"inspected_at": workflow.now()},
                               row={"items": self._items()})
        back, parcel = await self._ship_to_customer(inp, self.lines, "repair")
        now = workflow.now()
        self.data["outcome"] = "repaired"
        await self._transition("repaired", "closed", "repair_shipped",
                               f"repaired item sent back: {parcel['courier']} "
                               f"{parcel['tracking_no']}", actor=back.actor or "system",
                               times={"reshipped_at": now, "closed_at": now},
                               row={"outcome": "repaired",
                                    "exchange_tracking_no": parcel["tracking_no"]})
        await self.notify("repair_shipped", "return_repair_shipped", return_id=self.return_id,
                          order_no=self.order_no, courier=parcel["courier"],
                          tracking_no=parcel["tracking_no"],
                          tracking_url=parcel.get("tracking_url") or "", notes=notes)
        return "repaired"

    async def _ship_to_customer(self, inp: ReturnInput, goods: list[dict[str, Any]],
                                why: str) -> tuple[HumanTask, dict[str, Any]]:
        """The warehouse's ``order.fulfil`` task for goods going to the customer (``why``:
        exchange, a replacement; repair, the repaired item): the task and the parcel its
        decision booked with the courier."""
        slip = f"/api/v1/returns/{self.return_id}/packing-slip"
        task = await self.human_task(FULFIL, "warehouse", {
            "return_id": self.return_id, "order_no": self.order_no, why: True,
            "customer": self.data["customer"], "shipping_address": inp.shipping_address,
            "pick_list": [{"sku": line["sku"], "name": line["name"],
                           "quantity": line["quantity"]} for line in goods],
            "payment_method": why, "collect_on_delivery": None,
            "pick_list_url": slip, "packing_slip_url": slip,
        })
        parcel = self.exchange_parcel
        assert parcel is not None
        return task, parcel

    # --- the price difference of an exchange for another SKU ----------------------------

    async def _collect_difference(self, inp: ReturnInput, cents: int,
                                  sent: list[dict[str, Any]]) -> bool:
        """The other SKUs cost more: the customer is asked to pay the difference (the status
        link), paid through the payment provider and booked on the order (``pay_difference``).
        Not paid in time: the replacement's stock is released and the goods are refunded
        instead (False)."""
        deadline = workflow.now() + inp.timers.exchange_payment_timeout
        self.difference = {"amount_cents": cents, "amount": amount(cents), "status": "due",
                           "due_at": deadline.isoformat(), "transaction_id": None}
        self.data["difference"] = dict(self.difference)
        await self._transition("exchange_pending", "exchange", "difference_due",
                               f"{amount(cents)} to pay for the replacement")
        await self.notify("difference_due", "return_exchange_payment", return_id=self.return_id,
                          order_no=self.order_no, amount=amount(cents),
                          pay_by=deadline.isoformat(timespec="minutes"),
                          items=[{"sku": line["sku"], "quantity": line["quantity"]}
                                 for line in sent])
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._difference_paid(),
                                          timeout=max(deadline - workflow.now(),
                                                      timedelta(seconds=1)))
        await workflow.wait_condition(lambda: not self._paying)  # a capture under way ends
        if self._difference_paid():
            return True
        self.difference["status"] = "unpaid"
        self.data["difference"] = dict(self.difference)
        self.stock_state = "released"
        await self._act(Act.ORDER_STOCK_SETTLE, StockSettle(
            self._keys(), "released", "system", f"return {self.return_id}",
            close_waits_of=workflow.info().workflow_id))
        await self.record("converted_to_refund",
                          "the price difference was not paid in time: refund instead")
        await self.notify("difference_unpaid", "return_exchange_unpaid",
                          return_id=self.return_id, order_no=self.order_no,
                          amount=amount(cents))
        return False

    def _difference_paid(self) -> bool:
        return self.difference is not None and self.difference["status"] == "paid"

    async def _refund_difference(self, inp: ReturnInput, cents: int,
                                 sent: list[dict[str, Any]]) -> None:
        """The other SKUs cost less: finance refunds the difference through the refund path
        (the books, the provider under the return's refund key, once), then the replacement
        ships."""
        money = await self._act(Act.RETURN_CONTEXT, ReturnContextRequest(
            self.return_id, self.order_no, inp.customer.id), ReturnContext)
        self.refundable_cents = money.refundable_cents
        self.proposed_cents = min(cents, self.refundable_cents)
        self.difference = {"amount_cents": -cents, "amount": amount(-cents), "status": "refund"}
        self.data["difference"] = dict(self.difference)
        await self._transition("exchange_pending", "exchange", "difference_refund_proposed",
                               f"{amount(self.proposed_cents)} price difference to refund")
        await self.human_task(REFUND, "finance", {
            "return_id": self.return_id, "order_no": self.order_no, "difference": True,
            "payment_method": inp.payment_method,
            "refund_method": "original" if inp.payment_method == "online" else "bank_transfer",
            "items": [{"sku": line["sku"], "quantity": line["quantity"],
                       "unit_price": line["unit_price"],
                       "exchange_sku": line.get("exchange_sku") or line["sku"],
                       "exchange_unit_price": amount(line.get("exchange_unit_price_cents",
                                                              line["unit_price_cents"]))}
                      for line in self.lines if line["result"] == "pass"],
            "sent": sent, "proposed": amount(self.proposed_cents),
            "refundable": amount(self.refundable_cents),
            "paid": money.paid, "refunded_before": money.refunded,
            "rule": "refunded {amount}: the price difference of the cheaper replacement",
        })
        refund = self.data["refund"]
        self.difference["status"] = "refunded"
        self.data["difference"] = dict(self.difference)
        await self.update_row(refund_amount=refund["amount"])
        await self.record("difference_refunded",
                          f"{refund['amount_text']} price difference refunded")
        await self.notify("difference_refunded", "return_refunded", return_id=self.return_id,
                          order_no=self.order_no, amount=refund["amount_text"],
                          method=refund["method"])

    @workflow.update
    async def pay_difference(self, inp: DifferencePayment) -> dict[str, Any]:
        """The customer paid the price difference: confirmed with the payment provider and
        booked on the order once per transaction (a repeat is answered again)."""
        assert self.difference is not None
        if inp.transaction_id in self._paying:
            await workflow.wait_condition(lambda: inp.transaction_id not in self._paying)
        if self.difference.get("transaction_id") == inp.transaction_id:
            return {"return_id": self.return_id, **self.difference, "duplicate": True}
        self._paying.add(inp.transaction_id)
        try:
            with business_rejections():
                payment = await workflow.execute_activity(
                    Act.PAYMENT_CAPTURE,
                    PaymentCapture(self.order_no, inp.transaction_id, inp.amount_cents,
                                   "online", workflow.now(), inp.actor),
                    start_to_close_timeout=self.money_timeout, retry_policy=MONEY_RETRY,
                    result_type=PaymentView)
        finally:
            self._paying.discard(inp.transaction_id)
        self.difference.update(status="paid", transaction_id=inp.transaction_id,
                               payment=asdict(payment), paid_at=workflow.now().isoformat())
        self.data["difference"] = dict(self.difference)
        await self.record("difference_paid",
                          f"{amount(inp.amount_cents)} price difference paid "
                          f"({inp.transaction_id})", actor=inp.actor)
        return {"return_id": self.return_id, **self.difference, "duplicate": False}

    @pay_difference.validator
    def _validate_pay_difference(self, inp: DifferencePayment) -> None:
        if inp.transaction_id in self._paying:
            return  # the same payment reported twice at once: both answered
        if self._paying:
            raise rejection(ErrorType.CONFLICT, "payment_in_progress",
                            "another payment of the difference is being confirmed")
        check_difference_payment(self.difference, inp.transaction_id, inp.amount_cents)

