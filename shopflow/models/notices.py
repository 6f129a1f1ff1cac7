from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field

NOTICE_STATUSES = ("pending", "sending", "sent", "logged", "failed")


class Notice(SQLModel, table=True):
    """The outbox: one row per notice, written before anything is sent.

    ``dedup_key`` is the workflow id + step, so a notice exists once however often its activity
    runs. Status: ``pending`` (written, or waiting for the next retry), ``sending`` (an attempt
    is talking to the provider, or was cut off doing so), ``sent``, ``logged`` (no provider
    configured: recorded and logged only) and ``failed`` (given up; ops was told and can resend).
    ``attempts`` also fences a stale attempt off (see activities/notices.py);
    ``handed_over_at`` marks the point after which the provider may hold the message."""

    __tablename__ = "notices"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True)
    case_id: str | None = Field(default=None, index=True)
    kind: str
    audience: str = "customer"  # customer | staff
    customer_id: str | None = None
    recipient: str
    channel: str = "email"  # email | sms | log
    locale: str = "zh-CN"
    subject: str
    body_text: str
    body_html: str = ""
    # The template variables, kept so a notice whose template failed can be rendered again.
    data: dict[str, Any] = json_field()
    message_id: str = ""
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    resends: int = 0
    resent_by: str | None = None
    last_error: str | None = None
    # True when the provider's acceptance was recorded; False for a message handed over by an
    # attempt that was cut off before it heard back, and counted as sent (never sent twice).
    confirmed: bool = False
    created_at: datetime = time_field()
    updated_at: datetime = time_field()
    sending_at: datetime | None = time_field(nullable=True)
    handed_over_at: datetime | None = time_field(nullable=True)
    sent_at: datetime | None = time_field(nullable=True)


class NoticePublic(BaseModel):
    id: int
    dedup_key: str
    case_id: str | None
    kind: str
    audience: str
    recipient: str
    channel: str
    locale: str
    subject: str
    message_id: str
    status: str
    attempts: int
    resends: int
    resent_by: str | None
    last_error: str | None
    confirmed: bool
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class NoticeDetail(NoticePublic):
    body_text: str
    body_html: str
