"""The return's words and pure rules: statuses, stages, task kinds and decisions, and the checks
an inspection or a refund decision must pass. No I/O and no workflow state: imported in the
workflow sandbox, tested without a workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shopflow.workflows.base import rejection
from shopflow.workflows.money import amount, parse_cents
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import RETURN_END_STATUSES, ReturnReason


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PARCEL_SENT = "parcel_sent"
    RECEIVED = "received"
    INSPECTED = "inspected"
    INSPECTION_FAILED = "inspection_failed"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    EXCHANGE_PENDING = "exchange_pending"
    BACKORDERED = "backordered"
    EXCHANGED = "exchanged"
    REPAIRING = "repairing"  # at repair (维修), then on its way back
    REPAIRED = "repaired"  # repaired and sent back: the end
    CANCELLED = "cancelled"


class ReturnStage(StrEnum):
    REVIEW = "review"
    AWAITING_PARCEL = "awaiting_parcel"
    INSPECTION = "inspection"
    SETTLEMENT = "settlement"
    SEND_BACK = "send_back"
    REFUND = "refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ReturnTask(StrEnum):
    REVIEW = "return.review"
    INSPECTION = "return.inspection"
    REFUND = "return.refund"
    OUT_OF_STOCK = "return.out_of_stock"
    SEND_BACK = "return.send_back"
    REPAIR = "return.repair"  # the warehouse (after-sales) repairs it, or finds it unrepairable
    FULFIL = "order.fulfil"  # the replacement of an exchange, packed like an order


class ReturnDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    PASS = "pass"  # noqa: S105 (an inspection result, not a password)
    FAIL = "fail"
    REFUNDED = "refunded"
    WAIT = "wait"
    REFUND = "refund"
    SENT_BACK = "sent_back"
    SHIPPED = "shipped"
    REPAIRED = "repaired"
    UNREPAIRABLE = "unrepairable"


class ReturnKind(StrEnum):
    REFUND = "refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"  # 维修: the item is repaired and sent back


# What an unrepairable item turns into.
REPAIR_REMEDIES = ("refund", "exchange")


# The shop's fault: the longer window, and the shop pays the way back.
SHOP_AT_FAULT = frozenset({ReturnReason.QUALITY, ReturnReason.WRONG_ITEM,
                           ReturnReason.MISSING_ITEM, ReturnReason.DAMAGED_IN_TRANSIT})
# The goods themselves are faulty: not resaleable by default, shipping refunded, a follow-up.
FAULTY_GOODS = frozenset({ReturnReason.QUALITY, ReturnReason.DAMAGED_IN_TRANSIT})
# A fulfilment error (the KPIs' error rate).
FULFILMENT_ERRORS = frozenset({ReturnReason.WRONG_ITEM, ReturnReason.MISSING_ITEM})


def reason_category(category: str | None, quality_issue: bool) -> ReturnReason:
    """The category of a request: as given, else quality for a quality issue, else no reason
    (what a request without one meant before categories)."""
    if category:
        return ReturnReason(category)
    return ReturnReason.QUALITY if quality_issue else ReturnReason.NO_REASON


def quality_issue_of(category: ReturnReason, quality_issue: bool) -> bool:
    return quality_issue or category in FAULTY_GOODS


class Intake(StrEnum):
    """Where the customer's parcel stands (workflow state, never shown): still to come, arrived
    (the courier's "delivered" or the warehouse booking it in), or no longer taken because the
    case is ending (expired, cancelled). One field: a parcel never arrives at a closing case."""

    OPEN = "open"
    ARRIVED = "arrived"
    CLOSED = "closed"


DECISIONS: dict[str, set[str]] = {
    ReturnTask.REVIEW: {ReturnDecision.APPROVE, ReturnDecision.REJECT},
    ReturnTask.INSPECTION: {ReturnDecision.PASS, ReturnDecision.FAIL},
    ReturnTask.REFUND: {ReturnDecision.REFUNDED},
    ReturnTask.OUT_OF_STOCK: {ReturnDecision.WAIT, ReturnDecision.REFUND},
    ReturnTask.SEND_BACK: {ReturnDecision.SENT_BACK},
    ReturnTask.REPAIR: {ReturnDecision.REPAIRED, ReturnDecision.UNREPAIRABLE},
    ReturnTask.FULFIL: {ReturnDecision.SHIPPED},
}
END_STATUSES: tuple[str, ...] = RETURN_END_STATUSES
CANCELLABLE_STAGES = frozenset({ReturnStage.REVIEW, ReturnStage.AWAITING_PARCEL})


def check_inspection(lines: Any, skus: set[str]) -> None:
    """A "pass" decision's per-line results: each line of the return at most once, pass or
    fail (a failed line with notes), resaleable a boolean; not every line failed (that is the
    "fail" decision). No lines at all: everything passed."""
    if lines is None:
        return
    if not isinstance(lines, list) or not lines:
        raise rejection(ErrorType.INVALID, "invalid_lines",
                        "lines is a list of {sku, result: pass|fail, resaleable?, notes?}")
    seen: set[str] = set()
    for line in lines:
        sku = line.get("sku") if isinstance(line, dict) else None
        if sku not in skus or sku in seen:
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


def check_repair(decision: str, data: dict[str, Any]) -> None:
    """A repair's result: ``repaired {notes?}``, or ``unrepairable {notes, remedy: refund |
    exchange}`` (the customer gets their money back or a new one instead)."""
    if decision != ReturnDecision.UNREPAIRABLE:
        return
    if not str(data.get("notes") or "").strip():
        raise rejection(ErrorType.INVALID, "missing_field",
                        "notes are required: why it cannot be repaired", field="notes")
    if data.get("remedy") not in REPAIR_REMEDIES:
        raise rejection(ErrorType.INVALID, "invalid_remedy",
                        "remedy is refund or exchange", field="remedy")


def repair_clock(started: datetime, due: timedelta) -> tuple[datetime, datetime]:
    """(reminder, due) of a repair: the after-sales desk is reminded half way, and at the due
    time the task escalates and the customer hears it takes longer."""
    return started + due / 2, started + due


def replacements(passed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an exchange sends for the passed lines: each line's own SKU, or the other SKU (or
    size) the customer chose, one entry per SKU in the lines' order: [{sku, name, quantity}]."""
    out: dict[str, dict[str, Any]] = {}
    for line in passed:
        sku = line.get("exchange_sku") or line["sku"]
        name = line.get("exchange_name", "") if line.get("exchange_sku") else line["name"]
        if sku in out:
            out[sku]["quantity"] += line["quantity"]
        else:
            out[sku] = {"sku": sku, "name": name, "quantity": line["quantity"]}
    return list(out.values())


def exchange_difference(passed: list[dict[str, Any]]) -> int:
    """Cents the customer owes (> 0) or gets back (< 0) for the other SKUs chosen: their price
    minus the price paid for the goods they replace; 0 for a same-SKU exchange."""
    return sum((line["exchange_unit_price_cents"] - line["unit_price_cents"]) * line["quantity"]
               for line in passed if line.get("exchange_sku"))


def check_difference_payment(due: dict[str, Any] | None, transaction_id: str,
                             amount_cents: int) -> None:
    """A payment of an exchange's price difference: only while one is due, of exactly that
    amount (a repeat of the payment that settled it is answered again)."""
    if due is not None and due.get("transaction_id") == transaction_id:
        return
    if due is None or due.get("status") != "due":
        raise rejection(ErrorType.CONFLICT, "no_difference_due",
                        "this return has no price difference waiting to be paid")
    if amount_cents != due["amount_cents"]:
        raise rejection(ErrorType.INVALID, "amount_mismatch",
                        f"the difference to pay is {amount(due['amount_cents'])}",
                        field="amount", expected=amount(due["amount_cents"]))


def check_refund(value: Any, comment: str, *, refundable_cents: int,
                 proposed_cents: int) -> int:
    """A "refunded" decision's amount: above 0, two decimals at most, no more than refundable,
    and other than the proposal only with a comment. Returns it in cents."""
    cents = parse_cents(value)
    if cents is None or cents <= 0:
        raise rejection(ErrorType.INVALID, "invalid_amount",
                        "amount is a number above 0 with at most two decimals")
    if cents > refundable_cents:
        raise rejection(ErrorType.INVALID, "amount_exceeds_refundable",
                        f"at most {amount(refundable_cents)} can be refunded (paid "
                        "minus earlier refunds)", refundable=amount(refundable_cents))
    if cents != proposed_cents and not comment.strip():
        raise rejection(ErrorType.INVALID, "comment_required",
                        f"an amount other than the proposed {amount(proposed_cents)} "
                        "needs a comment", proposed=amount(proposed_cents))
    return cents


def proposed_refund(passed: list[dict[str, Any]], shipping_fee_cents: int, quality_issue: bool,
                    shipping_refunded: bool, refundable_cents: int) -> tuple[int, int, int]:
    """Goods that passed, plus shipping for a quality issue (once per order), capped at what is
    refundable: (goods, shipping, proposed) in cents."""
    goods = sum(line["unit_price_cents"] * line["quantity"] for line in passed)
    shipping = shipping_fee_cents if quality_issue and not shipping_refunded else 0
    return goods, shipping, min(goods + shipping, refundable_cents)
