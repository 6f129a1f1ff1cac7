"""Idempotency-Key for creating POSTs: the first response is stored and replayed for a retry with
the same key and body; the same key with another body is a 409.

Atomic: a request first *claims* its key (one INSERT … ON CONFLICT DO NOTHING, so of two racing
requests exactly one wins), then creates, then stores its answer on the claim. A request that
finds its key claimed by a request still running waits for that one's answer and replays it; a
claim left behind by a request that died (its process killed mid-way) is taken over once it is
``TAKE_OVER_AFTER`` old. Taking over is safe because ``create`` derives its resource's id from
the key: the retry reaches the same workflow, never a second one. Keys expire after
``SHOPFLOW_IDEMPOTENCY_TTL`` (P1D); expired rows are purged as the API goes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, delete, update
from sqlmodel import select

from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.api.errors import ApiError
from shopflow.db import insert_ignore, session_scope
from shopflow.models import IdempotencyRecord
from shopflow.models.types import utcnow

log = structlog.get_logger(__name__)

Create = Callable[[str | None], Awaitable[tuple[int, dict[str, Any]]]]

PENDING = 0  # status_code of a claim whose request has not answered yet
TAKE_OVER_AFTER = timedelta(seconds=10)  # a claim this old belongs to a request that died
POLL_SECONDS = 0.05
PURGE_EVERY_SECONDS = 60.0
MAX_KEY_LENGTH = 200
_last_purge: dict[int, float] = {}


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def derived_id(user: User, scope: str, key: str, length: int = 24) -> str:
    """An id derived from the key (96 bits by default), so a retry after a crash reaches the same
    workflow."""
    return hashlib.sha256(f"{scope}|{user.name}|{key}".encode()).hexdigest()[:length]


def _snapshot(rec: IdempotencyRecord) -> dict[str, Any]:
    return {"request_hash": rec.request_hash, "status_code": rec.status_code,
            "response": rec.response, "created_at": rec.created_at}


def claim(engine: Engine, scope: str, key: str, digest: str,
          ttl: timedelta) -> dict[str, Any] | None:
    """Claim ``(scope, key)`` for this request: None when it is ours now, else the record that
    holds it (pending or answered). An expired record is replaced."""
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key,  # type: ignore[arg-type]
            IdempotencyRecord.created_at < now - ttl))  # type: ignore[arg-type]
        if insert_ignore(session, IdempotencyRecord.__table__, [{
                "scope": scope, "key": key, "request_hash": digest, "status_code": PENDING,
                "response": {}, "created_at": now}], ["scope", "key"]):
            return None
        rec = session.exec(select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).one()
        return _snapshot(rec)


def finish(engine: Engine, scope: str, key: str, digest: str, status: int,
           payload: dict[str, Any]) -> None:
    with session_scope(engine) as session:
        session.execute(update(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key,  # type: ignore[arg-type]
            IdempotencyRecord.request_hash == digest,  # type: ignore[arg-type]
        ).values(status_code=status, response=payload))


def release(engine: Engine, scope: str, key: str, digest: str) -> None:
    """Give a claim back (the request failed): a retry then runs afresh."""
    with session_scope(engine) as session:
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key,  # type: ignore[arg-type]
            IdempotencyRecord.request_hash == digest,  # type: ignore[arg-type]
            IdempotencyRecord.status_code == PENDING))  # type: ignore[arg-type]


def purge_expired(engine: Engine, ttl: timedelta) -> int:
    """Delete every key older than the TTL; returns how many."""
    with session_scope(engine) as session:
        result = session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - ttl))  # type: ignore[arg-type]
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _purge_now_and_then(svc: Services) -> None:
    now = time.monotonic()
    if now - _last_purge.get(id(svc.engine), 0.0) < PURGE_EVERY_SECONDS:
        return
    _last_purge[id(svc.engine)] = now
    try:
        purged = await svc.db(purge_expired, svc.engine, svc.settings.idempotency_ttl)
        if purged:
            log.info("idempotency keys purged", count=purged)
    except Exception as err:  # housekeeping never fails a request
        log.warning("idempotency purge failed", error=repr(err))


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(422, "invalid_idempotency_key",
                       f"Idempotency-Key is at most {MAX_KEY_LENGTH} characters",
                       {"loc": ["header", "Idempotency-Key"]})
    if not key.isascii() or not key.isprintable():
        raise ApiError(422, "invalid_idempotency_key",
                       "Idempotency-Key takes printable ASCII characters only",
                       {"loc": ["header", "Idempotency-Key"]})


async def idempotent(svc: Services, user: User, scope: str, key: str | None, body: Any,
                     create: Create) -> JSONResponse:
    """Run ``create`` once per (caller, key). ``create`` gets a seed for deterministic ids."""
    if not key:
        status, payload = await create(None)
        return JSONResponse(payload, status_code=status)
    check_key(key)
    await _purge_now_and_then(svc)
    full_scope = f"{scope}|{user.name}"
    digest = body_hash(body)
    ttl = svc.settings.idempotency_ttl
    while True:
        found = await svc.db(claim, svc.engine, full_scope, key, digest, ttl)
        if found is None:
            break
        if found["request_hash"] != digest:
            raise ApiError(409, "idempotency_key_reused",
                           "this Idempotency-Key was used with a different request body",
                           {"loc": ["header", "Idempotency-Key"]})
        if found["status_code"] != PENDING:
            return JSONResponse(found["response"], status_code=found["status_code"],
                                headers={"Idempotent-Replayed": "true"})
        if utcnow() - found["created_at"] >= TAKE_OVER_AFTER:
            break  # the first request died mid-way: finish its work (same derived id)
        await asyncio.sleep(POLL_SECONDS)  # the first request is still running: wait for it
    try:
        status, payload = await create(derived_id(user, scope, key))
    except BaseException:
        try:
            await svc.db(release, svc.engine, full_scope, key, digest)
        except Exception as err:  # the database is down too: the claim is taken over later
            log.warning("idempotency claim not released", error=repr(err))
        raise
    if status < 400:
        await svc.db(finish, svc.engine, full_scope, key, digest, status, payload)
    else:
        await svc.db(release, svc.engine, full_scope, key, digest)
    return JSONResponse(payload, status_code=status)
