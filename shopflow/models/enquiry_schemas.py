"""Enquiries' API request models (咨询: a customer's question, answered or handed over)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopflow.models.schemas import CustomerIn, Strict, Text

Channel = Literal["web", "email", "phone", "chat", "platform"]  # vocab.ENQUIRY_CHANNELS


class EnquiryCreate(Strict):
    customer: CustomerIn
    channel: Channel
    question: Text
    subject: str = Field(default="", max_length=200)
    order_no: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="the order the question is about, if any")
