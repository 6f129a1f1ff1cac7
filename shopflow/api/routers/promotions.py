"""Promotion plans (seed 003 第九条): drafted by customer service (sales) or ops, reviewed by
finance, approved by ops, started and ended by Temporal timers, reported on after; cancelled
before the start."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.models.promotion_schemas import (
    CancelPlan,
    PromotionCreate,
    PromotionSummary,
    Status,
)
from shopflow.models.schemas import CaseCreated, CasePublic, PageOf
from shopflow.services import cases, promotions
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/promotions", tags=["promotions"])
READ_ROLES = CASE_READ_ROLES[CaseKind.PROMOTION]
PLAN_ROLES = ("cs", "ops")  # who draft and cancel plans (and admin)


@router.post("", status_code=201, response_model=CaseCreated,
             responses={403: {}, 409: {}, 422: {}, 503: {}})
async def create_promotion(
    body: PromotionCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require(*PLAN_ROLES))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """A promotion plan: its products (known SKUs), discount, the customers it targets
    (``target_tag``, ``segment``), start (ahead) and end. It goes to finance's
    ``promotion.review`` task, then ops' ``promotion.approve``; approved, it starts and ends by
    itself: its customers are told at the start (each once), a sales report follows the end."""
    return await keyed.create_promotion(svc, user, body, idempotency_key)


@router.get("", response_model=PageOf[PromotionSummary])
async def list_promotions(svc: ServicesDep, page: PageDep,
                          _: Annotated[User, Depends(require(*READ_ROLES))],
                          status: Status | None = None) -> dict[str, Any]:
    items, total = await svc.db(promotions.list_promotions, svc.engine, page.page,
                                page.page_size, status)
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


@router.get("/{promotion_id}", response_model=CasePublic, responses={404: {}})
async def get_promotion(promotion_id: str, svc: ServicesDep,
                        _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    """The plan, its review and approval, its tasks and timeline, and after the end its
    ``report`` (orders, units and revenue of its products while it ran, and ``before``: the
    same length of time before it; ``notified``: customers told)."""
    return await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.PROMOTION,
                        promotion_id)


@router.post("/{promotion_id}/cancel", responses={404: {}, 409: {}, 422: {}, 503: {}})
async def cancel_promotion(promotion_id: str, body: CancelPlan, svc: ServicesDep,
                           user: Annotated[User, Depends(require(*PLAN_ROLES))]
                           ) -> dict[str, Any]:
    """Cancel a plan before its start (in review, approval or scheduled); 409
    ``invalid_state`` once it runs or ended."""
    return await promotions.cancel(svc.client(), svc.engine, promotion_id, body.reason,
                                   Actor(user.name, user.role))
