"""API request and response schemas of returns and exchanges."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shopflow.models.order_schemas import AsciiAmount, Cents, OrderNo, PaymentIn, TrackingNo
from shopflow.models.schemas import ShortText, Sku, Strict, Text
from shopflow.workflows.vocab import ReturnReason

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000,
                                       pattern=r"^https?://\S+$")]


class ReturnItemIn(Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=100_000)
    exchange_sku: Sku | None = Field(
        default=None, description="an exchange for another SKU or size: what is sent instead "
        "(a catalogue product; kind exchange only)")
    exchange_unit_price: Annotated[Decimal, AsciiAmount,
                                   Field(ge=0, le=10_000_000, decimal_places=2),
                                   Cents] | None = Field(
        default=None, description="the other SKU's unit price (default: its catalogue price, "
        "else the price paid for this line); dearer: the customer pays the difference, "
        "cheaper: it is refunded")


class ReturnCreate(Strict):
    order_no: OrderNo
    items: list[ReturnItemIn] = Field(min_length=1, max_length=100)
    kind: Literal["refund", "exchange", "repair"] = Field(
        description="refund | exchange | repair (维修: repaired and sent back; unrepairable: "
        "refund or exchange instead; not for a missing item)")
    reason: Text = Field(description="the customer's words")
    category: ReturnReason | None = Field(
        default=None, description="quality | wrong_item (错发) | missing_item (漏发: no parcel "
        "back; exchange reships, refund pays the missing part) | damaged_in_transit | no_reason "
        "(within the return window; not for products that are not returnable). Absent: "
        "quality for a quality issue, else no_reason")
    quality_issue: bool = False
    evidence: list[Url] = Field(default_factory=list, max_length=20,
                                description="photo URLs showing the problem")


class ReturnDifferencePaid(PaymentIn):
    """The customer paid an exchange's price difference (the provider's transaction)."""


class ReturnCreated(BaseModel):
    id: str
    workflow_id: str
    status: str


class ReturnParcelIn(Strict):
    courier: ShortText
    tracking_no: TrackingNo


class ReturnReceivedIn(Strict):
    note: str = Field(default="", max_length=1000)


class ReturnCancelIn(Strict):
    reason: str = Field(default="", max_length=1000)


class ReturnSummary(BaseModel):
    id: str
    workflow_id: str
    order_no: str
    customer_id: str
    kind: str
    reason: str
    category: str
    quality_issue: bool
    status: str
    stage: str
    outcome: str | None
    refund_amount: float
    created_at: str
    updated_at: str


class ReturnPublic(ReturnSummary):
    model_config = ConfigDict(extra="allow")

    items: list[dict[str, Any]]
    evidence: list[str]
    policy: dict[str, Any]
    parcel: dict[str, Any] | None
    exchange: dict[str, Any] | None
    repair: dict[str, Any] | None = None
    difference: dict[str, Any] | None = None
    refunds: list[dict[str, Any]]
    kpi: dict[str, Any]
    tasks: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    temporal_url: str | None = None
