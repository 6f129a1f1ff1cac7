from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    role: str
    token_hash: str = Field(unique=True, index=True)
    created_at: datetime = time_field()
    revoked: bool = False


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a creating POST, replayed for a retry with the same key."""

    __tablename__ = "idempotency_records"

    scope: str = Field(primary_key=True)  # route + caller
    key: str = Field(primary_key=True)
    request_hash: str
    status_code: int
    response: dict[str, Any] = json_field()
    created_at: datetime = time_field()
