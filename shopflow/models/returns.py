"""Returns and exchanges (seeds 001 and 003): one row per return, written by the API at the
request and kept current by the ``return-<id>`` workflow (status, the lines' inspection, the
money, and the times the KPI report needs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shopflow.models.orders import cents_field, decimal
from shopflow.models.types import json_field, time_field


class Return(SQLModel, table=True):
    __tablename__ = "returns"

    id: str = Field(primary_key=True, max_length=80)
    workflow_id: str = Field(unique=True)
    order_no: str = Field(index=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    kind: str  # refund | exchange
    reason: str  # the customer's words
    # workflows.return_rules.ReturnReason: what the KPIs count by
    category: str = Field(default="no_reason", index=True,
                          sa_column_kwargs={"server_default": "no_reason"})
    quality_issue: bool = False
    evidence: list[str] = json_field(list)
    # [{sku, name, quantity, unit_price, result: pass|fail|None, resaleable, notes}]
    items: list[dict[str, Any]] = json_field(list)
    # the policy in force at the request: windows, ship timeout, who pays return shipping
    policy: dict[str, Any] = json_field()
    status: str = Field(default="requested", index=True)
    stage: str = "review"
    outcome: str | None = None  # refunded | exchanged | rejected | expired | cancelled | …
    refund_cents: int = cents_field()
    parcel_courier: str | None = None
    parcel_tracking_no: str | None = None
    exchange_tracking_no: str | None = None
    requested_by: str = ""
    version: int = 0  # the workflow's update counter
    created_at: datetime = time_field(index=True)  # requested
    approved_at: datetime | None = time_field(nullable=True)
    rejected_at: datetime | None = time_field(nullable=True)
    parcel_sent_at: datetime | None = time_field(nullable=True)
    received_at: datetime | None = time_field(nullable=True)
    inspected_at: datetime | None = time_field(nullable=True)
    refunded_at: datetime | None = time_field(nullable=True)
    reshipped_at: datetime | None = time_field(nullable=True)
    closed_at: datetime | None = time_field(nullable=True)
    updated_at: datetime = time_field()

    @property
    def refund_amount(self) -> float:
        return decimal(self.refund_cents)

