"""Complaints' API request and response models (the public contract, shared by the API and the
pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shopflow.models.schemas import CustomerIn, Strict, Text

Category = Literal["quality", "delivery", "service", "billing", "other"]  # vocab.ComplaintCategory
Status = Literal["open", "waiting_customer", "resolved", "closed"]  # vocab.ComplaintStatus


class ComplaintCreate(Strict):
    customer: CustomerIn
    order_no: str | None = Field(default=None, min_length=1, max_length=64)
    category: Category
    description: Text
    channel: Literal["web", "email", "phone", "chat", "platform"]


class MessageIn(Strict):
    text: Text


class EscalateIn(Strict):
    reason: Text


class ComplaintSummary(BaseModel):
    id: str
    workflow_id: str
    status: str
    customer_id: str
    order_no: str | None
    category: str
    channel: str
    level: int
    escalations: int
    first_response_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ComplaintAnswer(BaseModel):
    id: str
    status: str
    clocks_resumed: bool | None = None
    level: int | None = None
