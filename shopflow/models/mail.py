"""Customers' e-mail replies (issue 18): every inbound message kept once by its Message-ID,
attached to its complaint's thread or left visible as unmatched for customer service."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydField
from sqlmodel import Field, SQLModel

from shopflow.models.schemas import Strict
from shopflow.models.types import time_field

INBOUND_STATUSES = ("received", "attached", "unmatched", "dismissed")


class InboundMail(SQLModel, table=True):
    """One inbound e-mail. ``status``: ``received`` (kept, not yet delivered to a case: a retry
    or the next poll finishes it), ``attached`` (in its complaint's messages), ``unmatched``
    (``reason`` says why; customer service attaches or dismisses it), ``dismissed``."""

    __tablename__ = "inbound_mails"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=998)
    sender: str = Field(max_length=320)
    recipient: str = Field(default="", max_length=320)
    subject: str = Field(default="", max_length=998)
    body: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    in_reply_to: str | None = Field(default=None, max_length=998)
    references: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    source: str = Field(default="webhook", max_length=20)  # webhook | imap | simulator
    status: str = Field(default="received", index=True, max_length=20)
    reason: str | None = Field(default=None, max_length=40)
    case_id: str | None = Field(default=None, index=True, max_length=80)
    handled_by: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=500)
    received_at: datetime = time_field()
    updated_at: datetime = time_field()


class InboundMailIn(Strict):
    """An inbound e-mail as a mail provider's webhook posts it (already parsed)."""

    message_id: str = PydField(min_length=3, max_length=998,
                               description="the mail's Message-ID: a repeat is answered, not "
                                           "added twice")
    sender: str = PydField(alias="from", min_length=3, max_length=320,
                           pattern=r"^[^@\s<>]+@[^@\s<>]+$|^.*<[^@\s<>]+@[^@\s<>]+>\s*$")
    to: str = PydField(default="", max_length=320)
    subject: str = PydField(default="", max_length=998)
    text: str = PydField(min_length=1, max_length=100_000)
    in_reply_to: str | None = PydField(default=None, max_length=998)
    references: str | None = PydField(default=None, max_length=10_000)

    model_config = {"extra": "forbid", "populate_by_name": True}


class InboundMailPublic(BaseModel):
    id: int
    message_id: str
    sender: str
    recipient: str
    subject: str
    body: str
    source: str
    status: str
    reason: str | None
    case_id: str | None
    handled_by: str | None
    note: str | None
    received_at: datetime
    duplicate: bool = False


class AttachIn(Strict):
    complaint_id: str = PydField(min_length=1, max_length=80)


class DismissIn(Strict):
    note: str = PydField(min_length=1, max_length=500)
