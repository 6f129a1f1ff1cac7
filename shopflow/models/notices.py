from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shopflow.models.types import time_field


class Notice(SQLModel, table=True):
    """The outbox: one row per notice, written before sending; ``dedup_key`` = workflow + step."""

    __tablename__ = "notices"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True)
    case_id: str | None = Field(default=None, index=True)
    kind: str
    recipient: str
    channel: str = "email"  # email | sms | log
    locale: str = "zh-CN"
    subject: str
    body_text: str
    body_html: str = ""
    status: str = Field(default="pending", index=True)  # pending | sent | failed | logged
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = time_field()
    sent_at: datetime | None = time_field(nullable=True)
