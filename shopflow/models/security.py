"""Security records: web sessions, the audit trail, channel ownership of cases, and the contact
changes a channel proposed for an existing customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class WebSession(SQLModel, table=True):
    """A signed-in web session. The cookie carries only its random id (signed); signing out
    deletes the row, so the old cookie opens nothing."""

    __tablename__ = "web_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)  # SHA-256 of the cookie's session id
    user_name: str = Field(index=True)
    role: str
    token_hash: str = Field(index=True)
    created_at: datetime = time_field()
    last_seen_at: datetime = time_field()
    expires_at: datetime = time_field()


class AuditEvent(SQLModel, table=True):
    """Who changed what: customer profiles, tokens, setting-like records, task assignments."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = time_field(index=True)
    actor: str
    entity: str = Field(index=True)  # customer | token | product | task | customer_proposal …
    entity_id: str = Field(index=True)
    action: str
    before: dict[str, Any] | None = json_field(lambda: None)
    after: dict[str, Any] | None = json_field(lambda: None)


class CaseChannel(SQLModel, table=True):
    """Which channel (and which token) created a case: channel tokens see only their own."""

    __tablename__ = "case_channels"

    case_id: str = Field(primary_key=True, max_length=120)
    channel: str = Field(index=True)
    created_by: str
    created_at: datetime = time_field()


class CustomerProposal(SQLModel, table=True):
    """Contact details a channel sent for an existing customer: kept for customer service to
    apply or dismiss, never written over the profile."""

    __tablename__ = "customer_proposals"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(index=True, max_length=64)
    source: str  # who sent it (token name)
    fields: dict[str, Any] = json_field()
    status: str = Field(default="open", index=True)  # open | applied | dismissed
    created_at: datetime = time_field()
    decided_by: str | None = None
    decided_at: datetime | None = time_field(nullable=True)
