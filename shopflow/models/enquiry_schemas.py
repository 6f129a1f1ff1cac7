"""Enquiries' API request models (咨询: a customer's question, answered or handed over)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shopflow.models.schemas import CustomerIn, Strict, Text

Status = Literal["open", "closed"]
Outcome = Literal["answered", "complaint", "order"]  # vocab.EnquiryDecision, as outcomes
Channel = Literal["web", "email", "phone", "chat", "platform"]  # vocab.ENQUIRY_CHANNELS


class EnquiryCreate(Strict):
    customer: CustomerIn
    channel: Channel
    question: Text
    subject: str = Field(default="", max_length=200)
    order_no: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="the order the question is about, if any")


class EnquirySummary(BaseModel):
    id: str
    workflow_id: str
    status: str
    stage: str
    customer_id: str | None
    channel: str | None
    subject: str
    question: str
    outcome: str | None
    created_at: datetime
    closed_at: datetime | None
