"""Enquiries (咨询, seed 003): a customer's question, its first-response clock and its hand-over
to a complaint or an order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.models import Case
from shopflow.models.enquiry_schemas import EnquiryCreate, EnquirySummary, Outcome, Status
from shopflow.models.schemas import CaseCreated, CasePublic, PageOf
from shopflow.services import cases, enquiries
from shopflow.services.scoping import case_filter
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/enquiries", tags=["enquiries"])
READ_ROLES = CASE_READ_ROLES[CaseKind.ENQUIRY]


@router.post("", status_code=201, response_model=CaseCreated,
             responses={403: {}, 409: {}, 422: {}, 503: {}})
async def create_enquiry(
    body: EnquiryCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """A customer's question: customer service gets an ``enquiry.answer`` task due within
    ``SHOPFLOW_ENQUIRY_RESPONSE_SLA``; they answer it, or hand it over to a complaint or an
    order. ``order_no``, if given, names one of the customer's orders (422 otherwise)."""
    return await keyed.create_enquiry(svc, user, body, idempotency_key)


@router.get("", response_model=PageOf[EnquirySummary])
async def list_enquiries(
    svc: ServicesDep, page: PageDep, user: Annotated[User, Depends(require(*READ_ROLES))],
    status: Status | None = None, outcome: Outcome | None = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Enquiries newest first (a channel token: its own channels')."""
    items, total = await svc.db(enquiries.list_enquiries, svc.engine, page.page, page.page_size,
                                status=status, customer_id=customer_id, outcome=outcome,
                                scope=case_filter(user, Case.id))
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


@router.get("/{enquiry_id}", response_model=CasePublic, responses={404: {}})
async def get_enquiry(enquiry_id: str, svc: ServicesDep,
                      _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    """The enquiry: its question, first-response clock (``sla``), outcome (answered, complaint,
    order), tasks and timeline."""
    return await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.ENQUIRY,
                        enquiry_id)
