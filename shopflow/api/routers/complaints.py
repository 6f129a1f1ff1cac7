"""Complaints (seed 003): filing, lookups, the customer's messages and escalation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import col, select

from shopflow.activities.complaints import (
    complaint_input,
    new_complaint_id,
    register_complaint,
    start_complaint,
)
from shopflow.api.auth import User
from shopflow.api.cases import case_workflow_id, load_case, send_update
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.errors import ApiError, temporal_errors
from shopflow.api.idempotency import idempotent
from shopflow.api.metrics import WORKFLOWS_STARTED
from shopflow.db import session_scope
from shopflow.models import Complaint, Order
from shopflow.models.schemas import CaseCreated, CasePublic, CustomerIn, PageOf, Strict, Text
from shopflow.workflows.complaint import CustomerEscalation, CustomerMessage
from shopflow.workflows.shared import CustomerData
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/complaints", tags=["complaints"])
READ_ROLES = CASE_READ_ROLES[CaseKind.COMPLAINT]
Category = Literal["quality", "delivery", "service", "billing", "other"]
Status = Literal["open", "waiting_customer", "resolved", "closed"]


class ComplaintCreate(Strict):
    customer: CustomerIn
    order_no: str | None = Field(default=None, min_length=1, max_length=64)
    category: Category
    description: Text
    channel: Literal["web", "email", "phone", "chat", "platform"]


class MessageIn(Strict):
    text: Text


class EscalateIn(Strict):
    reason: Text


class ComplaintSummary(BaseModel):
    id: str
    workflow_id: str
    status: str
    customer_id: str
    order_no: str | None
    category: str
    channel: str
    level: int
    escalations: int
    first_response_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ComplaintAnswer(BaseModel):
    id: str
    status: str
    clocks_resumed: bool | None = None
    level: int | None = None


def _check_order(svc: Any, body: ComplaintCreate) -> None:
    if body.order_no is None:
        return
    with session_scope(svc.engine, write=False) as session:
        order = session.get(Order, body.order_no)
    if order is None:
        raise ApiError(422, "unknown_order", f"no order {body.order_no}",
                       {"loc": ["body", "order_no"]})
    if order.customer_id != body.customer.id:
        raise ApiError(422, "order_of_another_customer",
                       f"order {body.order_no} belongs to another customer",
                       {"loc": ["body", "order_no"]})


@router.post("", status_code=201, response_model=CaseCreated,
             responses={409: {}, 422: {}, 503: {}})
async def create_complaint(
    body: ComplaintCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    await svc.db(_check_order, svc, body)

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        complaint_id = new_complaint_id(seed)
        inp = complaint_input(svc.settings, complaint_id,
                              CustomerData(**body.customer.model_dump()), body.category,
                              body.description, body.channel, body.order_no, user.name)
        with temporal_errors():
            if await start_complaint(svc.client(), svc.settings, inp):
                WORKFLOWS_STARTED.labels("complaint").inc()
        await svc.db(register_complaint, svc.engine, inp)
        return 201, {"id": complaint_id, "workflow_id": f"complaint-{complaint_id}",
                     "status": "open"}

    return await idempotent(svc, user, "POST /complaints", idempotency_key,
                            body.model_dump(mode="json"), create)


@router.get("", response_model=PageOf[ComplaintSummary])
async def list_complaints(
    svc: ServicesDep, page: PageDep, _: Annotated[User, Depends(require(*READ_ROLES))],
    status: Status | None = None,
    category: Category | None = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    def query() -> dict[str, Any]:
        conds = []
        for column, value in ((Complaint.status, status), (Complaint.category, category),
                              (Complaint.customer_id, customer_id),
                              (Complaint.order_no, order_no)):
            if value is not None:
                conds.append(column == value)
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Complaint).where(*conds)).one()
            rows = session.exec(select(Complaint).where(*conds)
                                .order_by(col(Complaint.created_at).desc(), col(Complaint.id))
                                .offset(page.offset).limit(page.page_size)).all()
        return {"items": [ComplaintSummary.model_validate(r, from_attributes=True) for r in rows],
                "total": total, "page": page.page, "page_size": page.page_size}

    return await svc.db(query)


@router.get("/{complaint_id}", response_model=CasePublic)
async def get_complaint(complaint_id: str, svc: ServicesDep,
                        _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    view = await svc.db(load_case, svc, "complaint", complaint_id)
    feedback = view.get("feedback")
    if isinstance(feedback, dict) and feedback.get("token"):
        feedback["url"] = f"{svc.settings.public_url}/feedback/{feedback['token']}"
    return view


@router.post("/{complaint_id}/messages", response_model=ComplaintAnswer,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def customer_message(complaint_id: str, body: MessageIn, svc: ServicesDep,
                           user: Annotated[User, Depends(require("channel", "cs"))]) -> Any:
    """The customer writes back (through the storefront, or told to customer service). While
    the complaint waits on the customer its clocks are paused; this resumes them."""
    wf = await svc.db(case_workflow_id, svc, "complaint", complaint_id)
    return await send_update(svc, wf, "customer_message",
                             CustomerMessage(body.text, f"customer via {user.name}"), dict)


@router.post("/{complaint_id}/escalate", response_model=ComplaintAnswer,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def customer_escalate(complaint_id: str, body: EscalateIn, svc: ServicesDep,
                            user: Annotated[User, Depends(require("channel"))]) -> Any:
    """The customer escalates a resolved complaint through the platform (within the reopen
    window): it reopens one level up."""
    wf = await svc.db(case_workflow_id, svc, "complaint", complaint_id)
    return await send_update(svc, wf, "customer_escalate",
                             CustomerEscalation(body.reason, f"customer via {user.name}"), dict)
