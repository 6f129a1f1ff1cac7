"""API request and response schemas of orders, payments and shipments.

Requests forbid unknown fields. Amounts are decimals with at most two places; responses carry
them as numbers rounded to cents."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from shopflow.models.finance import check_tax_id
from shopflow.models.schemas import (
    AsciiAmount,
    Cents,
    CustomerIn,
    ShortText,
    Sku,
    Strict,
    Text,
    UnitPrice,
)

OrderNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
TrackingNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Channel = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                           max_length=40, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]


class OrderItemIn(Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=100_000)
    unit_price: UnitPrice | None = Field(
        default=None, description="the price a channel sells at; absent: the product's "
        "catalogue price (422 no_price when the product has none)")


class ShippingAddressIn(Strict):
    """Where the parcel goes. ``name`` and ``phone`` default to the customer's."""

    line1: AddressLine
    line2: str | None = Field(default=None, max_length=300)
    city: ShortText
    region: str | None = Field(default=None, max_length=100)
    postcode: str | None = Field(default=None, max_length=20)
    country: str = Field(default="CN", min_length=2, max_length=56)
    name: ShortText | None = None
    phone: Phone | None = None


class OrderCreate(Strict):
    order_no: OrderNo | None = Field(
        default=None, description="the channel's order number; generated "
        "(SO-YYYYMMDD-NNNNNN) when absent")
    channel: Channel = Field(description="where the order came from: web, app, tmall, phone …")
    customer: CustomerIn
    items: list[OrderItemIn] = Field(min_length=1, max_length=100)
    shipping_address: ShippingAddressIn | Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)] = Field(
        description="an address object, or the whole address as one line")
    payment_method: Literal["online", "cod"]
    shipping_fee: Annotated[Decimal, AsciiAmount, Field(ge=0, le=100_000, decimal_places=2),
                           Cents] = Field(
        default=Decimal("0.00"), description="what the customer pays for shipping (in total)")


class OrderCreated(BaseModel):
    order_no: str
    workflow_id: str
    status: str
    total: float


class PaymentIn(Strict):
    transaction_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                     max_length=120,
                                                     pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
    amount: Annotated[Decimal, AsciiAmount, Field(gt=0, le=1_000_000_000, decimal_places=2),
                      Cents]


class PaymentPublic(BaseModel):
    order_no: str
    transaction_id: str
    method: str
    amount: float
    status: str
    received_at: str


class OrderCancel(Strict):
    reason: Text


class OrderCancelled(BaseModel):
    order_no: str
    status: str
    refunded_amount: float


class ShipmentEventIn(Strict):
    type: Literal["in_transit", "delivered", "delayed", "lost"]
    at: datetime | None = Field(default=None, description="when it happened (default: now); "
                                "without a time zone it is UTC")
    note: str = Field(default="", max_length=1000)


class ShipmentEventResult(BaseModel):
    tracking_no: str
    order_no: str
    type: str
    at: str
    shipment_status: str
    duplicate: bool = False


class OrderSummary(BaseModel):
    order_no: str
    workflow_id: str
    status: str
    stage: str
    channel: str
    customer_id: str
    payment_method: str
    total: float
    shipping_fee: float = 0.0
    paid_amount: float
    refunded_amount: float
    created_at: str
    updated_at: str


class OrderPublic(OrderSummary):
    """An order with its lines, money, parcels, refunds, returns, complaints, KPI times, tasks
    and timeline."""

    model_config = ConfigDict(extra="allow")

    currency: str
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    items: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    shipments: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    returns: list[dict[str, Any]]
    complaints: list[dict[str, Any]]
    backorder: list[dict[str, Any]]
    invoice: dict[str, Any] | None
    tax_invoice: dict[str, Any] | None = None
    followup: dict[str, Any] | None
    kpi: dict[str, Any]
    cancel_reason: str | None
    tasks: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    temporal_url: str | None = None


class ShipmentPublic(BaseModel):
    tracking_no: str
    courier: str
    order_no: str
    case_kind: str
    case_id: str
    direction: str
    round: int
    status: str
    tracking_url: str
    shipped_at: str
    delivered_at: str | None
    events: list[dict[str, Any]] = []


Provider = Literal["online", "cod"]  # the payment provider, or cash collected by the courier


class CheckIn(Strict):
    """Finance compares a day with the payment provider's report
    (``POST /reconciliation/check``)."""

    date: date


class SettleIn(Strict):
    """Finance marks one provider's day settled (``POST /reconciliation/settle``)."""

    date: date
    provider: Provider
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class TransferPaidIn(Strict):
    """Finance paid a COD refund by bank transfer (``POST /refunds/{id}/transfer-paid``)."""

    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=100)]


def _tax_id(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # a person's invoice (个人) has a title only
    if not isinstance(value, str):
        raise ValueError("a tax ID is a string of 18 characters")
    return check_tax_id(value)


class InvoiceIn(Strict):
    """Ask for the order's tax invoice (发票): the title (the company's or the person's name)
    and, for a company, its unified social credit code (18 characters, check character
    verified)."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    tax_id: Annotated[str | None, BeforeValidator(_tax_id)] = Field(
        default=None, description="统一社会信用代码: 18 characters; omit for a person")


class InvoicePublic(BaseModel):
    """An order's tax invoice with its credit notes (红字发票); amounts in the currency."""

    model_config = ConfigDict(extra="allow")

    invoice_no: str | None
    kind: str
    status: str
    order_no: str
    title: str
    tax_id: str | None
    lines: list[dict[str, Any]]
    net: float
    tax: float
    total: float
    issued_at: str | None
    credit_notes: list[dict[str, Any]]
    credited: float
    balance: float
    url: str
