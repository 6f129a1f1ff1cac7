"""Idempotency-Key for creating POSTs: the first response is stored and replayed for a retry with
the same key and body; the same key with another body is a 409."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from sqlmodel import select

from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.api.errors import ApiError
from shopflow.db import insert_ignore, session_scope
from shopflow.models import IdempotencyRecord
from shopflow.models.types import utcnow

Create = Callable[[str | None], Awaitable[tuple[int, dict[str, Any]]]]


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def derived_id(user: User, scope: str, key: str, length: int = 12) -> str:
    """An id derived from the key, so a retry after a crash reaches the same workflow."""
    return hashlib.sha256(f"{scope}|{user.name}|{key}".encode()).hexdigest()[:length]


async def idempotent(svc: Services, user: User, scope: str, key: str | None, body: Any,
                     create: Create) -> JSONResponse:
    """Run ``create`` once per (caller, key). ``create`` gets a seed for deterministic ids."""
    if not key:
        status, payload = await create(None)
        return JSONResponse(payload, status_code=status)
    if len(key) > 200:
        raise ApiError(422, "invalid_idempotency_key", "Idempotency-Key is at most 200 characters")
    full_scope = f"{scope}|{user.name}"
    digest = body_hash(body)

    def lookup() -> IdempotencyRecord | None:
        with session_scope(svc.engine, write=False) as session:
            return session.exec(select(IdempotencyRecord).where(
                IdempotencyRecord.scope == full_scope, IdempotencyRecord.key == key)).first()

    found = await svc.db(lookup)
    if found is not None:
        if found.request_hash != digest:
            raise ApiError(409, "idempotency_key_reused",
                           "this Idempotency-Key was used with a different request body")
        return JSONResponse(found.response, status_code=found.status_code,
                            headers={"Idempotent-Replayed": "true"})
    status, payload = await create(derived_id(user, scope, key))

    def store() -> None:
        with session_scope(svc.engine) as session:
            insert_ignore(session, IdempotencyRecord.__table__, [{
                "scope": full_scope, "key": key, "request_hash": digest, "status_code": status,
                "response": payload, "created_at": utcnow()}], ["scope", "key"])

    if status < 400:
        await svc.db(store)
    return JSONResponse(payload, status_code=status)
