"""The order's words and pure rules: statuses, stages, task kinds and decisions, parcel events,
and the checks a decision or a payment must pass. No I/O and no workflow state: imported in
the workflow sandbox, tested without a workflow (rejections are the base's ``rejection``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shopflow.workflows.base import rejection
from shopflow.workflows.money import amount
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import ORDER_END_STATUSES


class OrderStatus(StrEnum):
    RECEIVED = "received"
    BACKORDERED = "backordered"
    AWAITING_PAYMENT = "awaiting_payment"
    FULFILLING = "fulfilling"
    SHIPPED = "shipped"
    EXCEPTION = "exception"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class OrderStage(StrEnum):
    INTAKE = "intake"
    STOCK = "stock"
    PAYMENT = "payment"
    FULFILMENT = "fulfilment"
    DELIVERY = "delivery"
    LOST_PARCEL = "lost_parcel"
    CLOSED = "closed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OrderTask(StrEnum):
    FULFIL = "order.fulfil"
    LOST_PARCEL = "order.lost_parcel"
    REFUND = "order.refund"  # finance: a refund the provider refused


class OrderDecision(StrEnum):
    SHIPPED = "shipped"
    RESHIP = "reship"
    REFUND = "refund"
    RETRY = "retry"
    SETTLED = "settled"


class ParcelEvent(StrEnum):
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    DELAYED = "delayed"
    LOST = "lost"


DECISIONS: dict[str, set[str]] = {
    OrderTask.FULFIL: {OrderDecision.SHIPPED},
    OrderTask.LOST_PARCEL: {OrderDecision.RESHIP, OrderDecision.REFUND},
    OrderTask.REFUND: {OrderDecision.RETRY, OrderDecision.SETTLED},
}
EVENT_TYPES: tuple[str, ...] = tuple(ParcelEvent)
CLOSED_PARCEL: tuple[str, ...] = (ParcelEvent.DELIVERED, ParcelEvent.LOST)
END_STATUSES: tuple[str, ...] = ORDER_END_STATUSES
# Shown with the order: it has left the warehouse (a return, not a cancellation, from here).
SHIPPED_STATUSES: tuple[str, ...] = (OrderStatus.SHIPPED, OrderStatus.EXCEPTION,
                                     OrderStatus.COMPLETED, OrderStatus.REFUNDED)


def address_text(addr: dict[str, Any]) -> str:
    parts = [addr.get(k) for k in ("line1", "line2", "city", "region", "postcode", "country")]
    return ", ".join(str(p) for p in parts if p)


def line_key(workflow_id: str, round_no: int, sku: str) -> str:
    """The reservation key of one line of one packing round."""
    return f"{workflow_id}:r{round_no}:{sku}"


def check_tracking_no(data: dict[str, Any]) -> str:
    """A "shipped" decision's parcel: courier and tracking number present, the number short
    and plain (422 otherwise). Returns the tracking number."""
    for key in ("courier", "tracking_no"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise rejection(ErrorType.INVALID, "missing_field", f"{key} is required", field=key)
    tracking = str(data["tracking_no"]).strip()
    if len(tracking) > 64 or not all(c.isalnum() or c in "-_." for c in tracking):
        raise rejection(ErrorType.INVALID, "invalid_tracking_no",
                        "tracking_no is up to 64 letters, digits, '-', '_' or '.'")
    return tracking


def check_payment(order_no: str, *, method: str, closed: bool, status: str, paid_cents: int,
                  total_cents: int, paying: bool, amount_cents: int) -> None:
    """A new online payment is taken only for an open online order not paid yet, one at a
    time, for exactly its total."""
    if method != "online":
        raise rejection(ErrorType.CONFLICT, "cod_order",
                        "a cash-on-delivery order is paid to the courier on delivery")
    if closed or status in END_STATUSES:
        raise rejection(ErrorType.CONFLICT, "order_closed",
                        f"order {order_no} is {status}; it takes no payment", status=status)
    if paid_cents >= total_cents:
        raise rejection(ErrorType.CONFLICT, "already_paid", f"order {order_no} is paid already")
    if paying:
        raise rejection(ErrorType.CONFLICT, "payment_in_progress",
                        "another payment for this order is being confirmed")
    if amount_cents != total_cents:
        raise rejection(ErrorType.INVALID, "amount_mismatch",
                        f"the order total is {amount(total_cents)}, not {amount(amount_cents)}",
                        expected=amount(total_cents), received=amount(amount_cents))
