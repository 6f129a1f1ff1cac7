"""Token administration (admin) and the audit trail (ops)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.errors import ApiError
from shopflow.models.types import utcnow
from shopflow.services import tokens
from shopflow.services.audit import ENTITIES, audit_events
from shopflow.settings import Duration

router = APIRouter(tags=["security"])
Role = Literal["channel", "cs", "reviewer", "warehouse", "finance", "ops", "admin", "product"]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    channels: list[str] = Field(default_factory=list, max_length=20,
                                description="a channel token's channels (required for role channel)")
    expires_in: Duration | None = Field(default=None, description="seconds or ISO 8601, e.g. P90D")
    expires_at: AwareDatetime | None = None


class TokenPublic(BaseModel):
    name: str
    role: str
    channels: list[str]
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class TokenSecret(TokenPublic):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


def _api_error(err: tokens.TokenError) -> ApiError:
    return ApiError(err.status, err.code, err.message)


@router.get("/tokens", response_model=list[TokenPublic])
async def list_tokens(svc: ServicesDep,
                      _: Annotated[User, Depends(require("admin"))]) -> list[dict[str, Any]]:
    return await svc.db(tokens.list_tokens, svc.engine)


@router.post("/tokens", status_code=201, response_model=TokenSecret,
             responses={409: {}, 422: {}})
async def create_token(body: TokenCreate, svc: ServicesDep,
                       user: Annotated[User, Depends(require("admin"))]) -> dict[str, Any]:
    if body.expires_in is not None and body.expires_at is not None:
        raise ApiError(422, "invalid_input", "give expires_in or expires_at, not both")
    expires_at = body.expires_at
    if body.expires_in is not None:
        if not timedelta(0) < body.expires_in <= timedelta(days=3660):
            raise ApiError(422, "invalid_expiry", "expires_in is above 0 and at most ten years")
        expires_at = utcnow() + body.expires_in
    try:
        secret, row = await svc.db(tokens.create, svc.engine, body.role, body.name,
                                   expires_at=expires_at, channels=body.channels, actor=user.name)
    except tokens.TokenError as err:
        raise _api_error(err) from None
    return {**row, "token": secret}


@router.delete("/tokens/{name}", response_model=TokenPublic, responses={404: {}})
async def revoke_token(name: str, svc: ServicesDep,
                       user: Annotated[User, Depends(require("admin"))]) -> dict[str, Any]:
    try:
        return await svc.db(tokens.revoke, svc.engine, name, user.name)
    except tokens.TokenError as err:
        raise _api_error(err) from None


@router.post("/tokens/{name}/rotate", response_model=TokenSecret, responses={404: {}, 409: {}})
async def rotate_token(name: str, svc: ServicesDep,
                       user: Annotated[User, Depends(require("admin"))]) -> dict[str, Any]:
    try:
        secret, row = await svc.db(tokens.rotate, svc.engine, name, user.name)
    except tokens.TokenError as err:
        raise _api_error(err) from None
    return {**row, "token": secret}


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditPublic]
    total: int
    page: int
    page_size: int


@router.get("/audit", response_model=AuditPage)
async def read_audit(svc: ServicesDep, page: PageDep,
                     _: Annotated[User, Depends(require("ops"))],
                     entity: Annotated[Literal[ENTITIES] | None, Query()] = None,  # type: ignore[valid-type]
                     id: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    items, total = await svc.db(audit_events, svc.engine, entity, id, page.offset, page.page_size)
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}
