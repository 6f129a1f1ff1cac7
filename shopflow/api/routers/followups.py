"""After-sales follow-ups: read-only (they start by themselves when an order is delivered)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.models import Case
from shopflow.models.schemas import CasePublic, CaseSummary, PageOf
from shopflow.security.links import LINK_ROLES
from shopflow.services import cases
from shopflow.services.scoping import case_filter
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/followups", tags=["followups"])
READ_ROLES = CASE_READ_ROLES[CaseKind.FOLLOWUP]


@router.get("", response_model=PageOf[CaseSummary])
async def list_followups(
    svc: ServicesDep, page: PageDep, user: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    return await svc.db(cases.list_cases, svc.engine, CaseKind.FOLLOWUP, page.page,
                        page.page_size, status=status, customer_id=customer_id,
                        scope=case_filter(user, Case.id))


@router.get("/{followup_id}", response_model=CasePublic)
async def get_followup(followup_id: str, svc: ServicesDep,
                       user: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    """``followup-<order_no>``: stage, the survey (with the customer's form ``url`` for staff
    who call the customer), the problem task, and the timeline."""
    return await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.FOLLOWUP,
                        followup_id, feedback_url=user.has(*LINK_ROLES))
