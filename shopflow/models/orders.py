"""Orders and what hangs off them: lines, payments, shipments and their events, refunds, the
finance reconciliation, backorder waits and due follow-ups.

Money is stored, passed and added up in whole cents (``*_cents``, integers) so that no sum ever
drifts; the decimal amounts of the API (``total``, ``amount`` …) are read-only views of them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


def cents_field() -> Any:
    return Field(default=0, sa_type=BigInteger)


def decimal(cents: int) -> float:
    """Cents as the API's decimal amount (a number rounded to cents)."""
    return round(cents / 100, 2)


class Order(SQLModel, table=True):
    """Orders as business records; the purchase history of a customer is derived from them.

    Written at intake by the API, then kept current by the order workflow's activities (status,
    money, the KPI times: received, stock secured, paid, shipped, delivered, completed,
    cancelled, exceptions)."""

    __tablename__ = "orders"

    order_no: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    status: str = Field(default="received", index=True)
    total_cents: int = cents_field()
    created_at: datetime = time_field(index=True)

    workflow_id: str = ""
    stage: str = "intake"
    channel: str = ""
    payment_method: str = "online"  # online | cod
    currency: str = "CNY"
    shipping_fee_cents: int = cents_field()  # part of total; refunded with a quality return
    customer: dict[str, Any] = json_field()  # the customer as ordered (name, email, phone)
    shipping_address: dict[str, Any] = json_field()
    request_hash: str = ""  # the intake body: the same order_no with another body is a 409
    submitted_by: str = ""
    paid_cents: int = cents_field()
    refunded_cents: int = cents_field()
    version: int = 0  # the workflow's update counter: an older write never overwrites a newer
    backordered_at: datetime | None = time_field(nullable=True)
    stock_secured_at: datetime | None = time_field(nullable=True)
    paid_at: datetime | None = time_field(nullable=True)
    shipped_at: datetime | None = time_field(nullable=True)
    delivered_at: datetime | None = time_field(nullable=True)
    completed_at: datetime | None = time_field(nullable=True)
    cancelled_at: datetime | None = time_field(nullable=True)
    cancel_reason: str | None = None
    exception_count: int = 0
    first_exception_at: datetime | None = time_field(nullable=True)
    exceptions: list[dict[str, Any]] = json_field(list)
    invoice_no: str | None = None
    invoiced_at: datetime | None = time_field(nullable=True)
    updated_at: datetime = time_field()

    @property
    def total(self) -> float:
        return decimal(self.total_cents)

    @property
    def shipping_fee(self) -> float:
        return decimal(self.shipping_fee_cents)

    @property
    def paid_amount(self) -> float:
        return decimal(self.paid_cents)

    @property
    def refunded_amount(self) -> float:
        return decimal(self.refunded_cents)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_no", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    order_no: str = Field(foreign_key="orders.order_no", index=True, max_length=64)
    line_no: int
    sku: str = Field(foreign_key="products.sku", max_length=64)
    name: str = ""
    quantity: int
    unit_price_cents: int = cents_field()
    amount_cents: int = cents_field()

    @property
    def unit_price(self) -> float:
        return decimal(self.unit_price_cents)

    @property
    def amount(self) -> float:
        return decimal(self.amount_cents)


class OrderNumber(SQLModel, table=True):
    """Generated order numbers ``SO-YYYYMMDD-NNNNNN``; ``request_key`` makes a retried intake
    (same Idempotency-Key) get the same number."""

    __tablename__ = "order_numbers"

    request_key: str = Field(primary_key=True, max_length=100)
    order_no: str = Field(unique=True, max_length=64)
    day: str = Field(index=True, max_length=8)
    seq: int
    created_at: datetime = time_field()


class Payment(SQLModel, table=True):
    """Money received for an order: online (confirmed with the payment provider) or collected
    by the courier on delivery (COD). A transaction id is recorded once."""

    __tablename__ = "order_payments"
    __table_args__ = (UniqueConstraint("transaction_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_no: str = Field(index=True, max_length=64)
    transaction_id: str = Field(max_length=120)
    method: str  # online | cod
    amount_cents: int = cents_field()
    status: str = "captured"  # captured | collected
    provider_ref: str = ""
    received_at: datetime = time_field()
    recorded_by: str = "system"

    @property
    def amount(self) -> float:
        return decimal(self.amount_cents)


class Shipment(SQLModel, table=True):
    """A parcel with a tracking number: an order's (outbound, one per fulfilment round) or a
    customer's return parcel. Courier events for the tracking number go to ``workflow_id``."""

    __tablename__ = "shipments"

    tracking_no: str = Field(primary_key=True, max_length=64)
    courier: str
    order_no: str = Field(index=True, max_length=64)
    case_kind: str = "order"  # order | return
    case_id: str = Field(index=True, max_length=80)
    workflow_id: str
    direction: str = "outbound"  # outbound | return
    round: int = 1
    status: str = "shipped"  # shipped | in_transit | delayed | lost | delivered
    tracking_url: str = ""
    shipped_at: datetime = time_field()
    delivered_at: datetime | None = time_field(nullable=True)
    created_by: str = "system"
    updated_at: datetime = time_field()


class ShipmentEvent(SQLModel, table=True):
    __tablename__ = "shipment_events"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True)
    tracking_no: str = Field(index=True, max_length=64)
    type: str  # in_transit | delivered | delayed | lost
    at: datetime = time_field()
    note: str = ""
    recorded_by: str = "system"
    created_at: datetime = time_field()


class Refund(SQLModel, table=True):
    """Money given back. ``key`` is derived from the case step (order cancelled, lost parcel,
    return), so a retried activity or a repeated request refunds once; the payment provider
    gets the same key as its idempotency key."""

    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    order_no: str = Field(index=True, max_length=64)
    case_kind: str = "order"
    case_id: str = ""
    amount_cents: int = cents_field()
    method: str = "original"  # original (through the provider) | bank_transfer (COD orders)
    status: str = "pending"  # pending | succeeded | transfer_due | refused
    transaction_id: str | None = None
    provider_ref: str | None = None
    reason: str = ""
    requested_by: str = "system"
    created_at: datetime = time_field()
    completed_at: datetime | None = time_field(nullable=True)

    @property
    def amount(self) -> float:
        return decimal(self.amount_cents)


class Reconciliation(SQLModel, table=True):
    """One line for finance to reconcile: the sale of a delivered order, or a refund."""

    __tablename__ = "reconciliations"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    order_no: str = Field(index=True, max_length=64)
    kind: str  # sale | refund
    amount_cents: int = cents_field()
    method: str  # online | cod | original | bank_transfer
    reference: str = ""  # transaction ids, refund id
    invoice_no: str | None = None
    status: str = "open"  # open | reconciled
    created_at: datetime = time_field()

    @property
    def amount(self) -> float:
        return decimal(self.amount_cents)


class Settlement(SQLModel, table=True):
    """A day of one provider's money that finance reconciled and closed, once: who, when, a
    note, and the totals as they stood (so a later booking on that day shows)."""

    __tablename__ = "reconciliation_settlements"
    __table_args__ = (UniqueConstraint("day", "provider"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date
    provider: str = Field(max_length=20)  # online | cod (services/reconciliation.py)
    note: str = Field(default="", max_length=500)
    payments_cents: int = cents_field()
    refunds_cents: int = cents_field()
    transfers_cents: int = cents_field()
    settled_by: str = Field(max_length=100)
    settled_at: datetime = time_field()


class BackorderWait(SQLModel, table=True):
    """A case waiting for a receipt of a SKU; receipts wake the waiting cases oldest first."""

    __tablename__ = "backorder_waits"
    __table_args__ = (UniqueConstraint("workflow_id", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(index=True)
    case_kind: str = "order"
    case_id: str
    sku: str = Field(index=True, max_length=64)
    quantity: int
    status: str = Field(default="waiting", index=True)  # waiting | released | closed
    since: datetime = time_field()
    updated_at: datetime = time_field()


class FollowupDue(SQLModel, table=True):
    """A follow-up that is due (after delivery, after a quality return). The follow-up process
    starts ``workflow_id`` for each due row."""

    __tablename__ = "followups_due"

    workflow_id: str = Field(primary_key=True, max_length=120)
    source_kind: str  # order | return
    source_id: str = Field(index=True, max_length=80)
    order_no: str = Field(index=True, max_length=64)
    customer_id: str | None = None
    reason: str = ""
    due_at: datetime = time_field()
    status: str = Field(default="due", index=True)  # due | started | done
    created_at: datetime = time_field()
