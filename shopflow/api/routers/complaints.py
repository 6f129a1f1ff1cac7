"""Complaints (seed 003): filing, lookups, the customer's messages and escalation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.models import Complaint
from shopflow.models.complaint_schemas import (
    Category,
    ComplaintAnswer,
    ComplaintCreate,
    ComplaintSummary,
    EscalateIn,
    MessageIn,
    Status,
)
from shopflow.models.schemas import CaseCreated, CasePublic, PageOf
from shopflow.security.links import LINK_ROLES
from shopflow.services import cases, complaints
from shopflow.services.scoping import case_filter
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/complaints", tags=["complaints"])
READ_ROLES = CASE_READ_ROLES[CaseKind.COMPLAINT]

@router.post("", status_code=201, response_model=CaseCreated,
             responses={409: {}, 422: {}, 503: {}})
async def create_complaint(
    body: ComplaintCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    return await keyed.create_complaint(svc, user, body, idempotency_key)


@router.get("", response_model=PageOf[ComplaintSummary])
async def list_complaints(
    svc: ServicesDep, page: PageDep, user: Annotated[User, Depends(require(*READ_ROLES))],
    status: Status | None = None,
    category: Category | None = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    rows, total = await svc.db(complaints.list_complaints, svc.engine, page.page, page.page_size,
                               status=status, category=category, customer_id=customer_id,
                               order_no=order_no, scope=case_filter(user, Complaint.id))
    return {"items": [ComplaintSummary.model_validate(r, from_attributes=True) for r in rows],
            "total": total, "page": page.page, "page_size": page.page_size}


@router.get("/{complaint_id}", response_model=CasePublic)
async def get_complaint(complaint_id: str, svc: ServicesDep,
                        user: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    return await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.COMPLAINT,
                        complaint_id, feedback_url=user.has(*LINK_ROLES))


@router.post("/{complaint_id}/messages", response_model=ComplaintAnswer,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def customer_message(complaint_id: str, body: MessageIn, svc: ServicesDep,
                           user: Annotated[User, Depends(require("channel", "cs"))]) -> Any:
    """The customer writes back (through the storefront, or told to customer service). While
    the complaint waits on the customer its clocks are paused; this resumes them."""
    return await complaints.customer_message(svc.client(), svc.engine, complaint_id, body.text,
                                             f"customer via {user.name}")


@router.post("/{complaint_id}/escalate", response_model=ComplaintAnswer,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def customer_escalate(complaint_id: str, body: EscalateIn, svc: ServicesDep,
                            user: Annotated[User, Depends(require("channel", "cs"))]) -> Any:
    """The customer escalates (through the platform, or told to customer service): a complaint
    still being handled once its first-response time has passed (one level up, 409
    ``response_sla_not_passed`` before), or a resolved one within the reopen window (it reopens
    one level up)."""
    return await complaints.customer_escalate(svc.client(), svc.engine, complaint_id,
                                              body.reason, f"customer via {user.name}")
