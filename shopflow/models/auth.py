from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class ApiToken(SQLModel, table=True):
    """An API token: its holder's unique name, role, optional channel binding and expiry.
    Only the SHA-256 of the secret is kept; the secret is shown once, at creation or rotation."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    role: str
    token_hash: str = Field(unique=True, index=True)
    created_at: datetime = time_field()
    revoked: bool = False
    # channel tokens: the order/sample channels (web, email, phone …) it acts for; [] = all.
    channels: list[str] = json_field(list)
    expires_at: datetime | None = time_field(nullable=True)
    revoked_at: datetime | None = time_field(nullable=True)
    # Written at most once a minute per token (not a write per request).
    last_used_at: datetime | None = time_field(nullable=True)
    created_by: str | None = None


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a creating POST, replayed for a retry with the same key."""

    __tablename__ = "idempotency_records"

    scope: str = Field(primary_key=True)  # route + caller
    key: str = Field(primary_key=True)
    request_hash: str
    status_code: int
    response: dict[str, Any] = json_field()
    created_at: datetime = time_field()
