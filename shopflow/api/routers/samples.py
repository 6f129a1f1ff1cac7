"""Samples (seed 000): application, lookups, answers to questions, cancel, slip and dossier."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlmodel import col, select
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.api.auth import User
from shopflow.api.cases import case_workflow_id, list_cases, load_case, send_update
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.errors import ApiError, temporal_errors
from shopflow.api.idempotency import idempotent
from shopflow.api.metrics import WORKFLOWS_STARTED
from shopflow.api.pages import render_page
from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Dossier, Product
from shopflow.models.schemas import (
    CancelRequest,
    CaseCreated,
    CasePublic,
    CaseSummary,
    InfoAnswer,
    PageOf,
    SampleCreate,
)
from shopflow.models.types import utcnow
from shopflow.workflows.sample_approval import (
    InfoInput,
    SampleApproval,
    SampleInput,
    SampleItem,
    SampleTimers,
)
from shopflow.workflows.shared import Actor, CancelInput, CustomerData
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/samples", tags=["samples"])
READ_ROLES = CASE_READ_ROLES[CaseKind.SAMPLE]


def _check_application(svc: Any, body: SampleCreate) -> None:
    """The 422s of the contract, before anything starts."""
    skus = [i.sku for i in body.items]
    if len(set(skus)) != len(skus):
        raise ApiError(422, "duplicate_sku", "each SKU may appear once")
    with session_scope(svc.engine, write=False) as session:
        products = {p.sku: p for p in session.exec(select(Product).where(col(Product.sku).in_(skus)))}
    for i, item in enumerate(body.items):
        product = products.get(item.sku)
        if product is None:
            raise ApiError(422, "unknown_sku", f"unknown SKU {item.sku}", {"loc": ["items", i]})
        if item.quantity > product.sample_limit:
            raise ApiError(422, "quantity_above_sample_limit",
                           f"at most {product.sample_limit} of {item.sku} as samples",
                           {"loc": ["items", i], "sample_limit": product.sample_limit})
    if body.customer.company and not body.qualification_docs:
        raise ApiError(422, "qualification_docs_required",
                       "a company customer must send enterprise qualification documents")


@router.post("", status_code=201, response_model=CaseCreated,
             responses={200: {"model": CaseCreated}, 409: {}, 422: {}, 503: {}})
async def create_sample(
    body: SampleCreate, svc: ServicesDep, user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    await svc.db(_check_application, svc, body)

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        sample_id = seed or uuid.uuid4().hex[:12]
        workflow_id = f"sample-{sample_id}"
        s = svc.settings
        inp = SampleInput(
            sample_id=sample_id,
            customer=CustomerData(**body.customer.model_dump()),
            channel=body.channel,
            items=[SampleItem(i.sku, i.quantity) for i in body.items],
            purpose=body.purpose,
            qualification_docs=[d.model_dump() for d in body.qualification_docs],
            timers=SampleTimers(
                task_due=s.task_due.total_seconds(),
                info_timeout=s.sample_info_timeout.total_seconds(),
                feedback_delay=s.feedback_delay.total_seconds(),
                feedback_reminder=s.feedback_reminder.total_seconds(),
                feedback_close=s.feedback_close.total_seconds(),
                notice_send=s.notice_send_timeout.total_seconds(),
            ),
            submitted_by=user.name,
        )
        try:
            with temporal_errors():
                await svc.client().start_workflow(
                    SampleApproval.run, inp, id=workflow_id, task_queue=s.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                )
            WORKFLOWS_STARTED.labels("sample").inc()
        except WorkflowAlreadyStartedError:
            pass  # a retry of a request whose first answer was lost: same id, nothing new
        await svc.db(_register_case, svc, sample_id, workflow_id, body)
        return 201, {"id": sample_id, "workflow_id": workflow_id, "status": "open"}

    return await idempotent(svc, user, "POST /samples", idempotency_key,
                            body.model_dump(mode="json"), create)


def _register_case(svc: Any, sample_id: str, workflow_id: str, body: SampleCreate) -> None:
    # The workflow writes the case too; this row only makes it visible at once.
    now = utcnow()
    with session_scope(svc.engine) as session:
        insert_ignore(session, Case.__table__, [{
            "id": sample_id, "kind": "sample", "workflow_id": workflow_id, "status": "open",
            "stage": "preliminary_review", "customer_id": body.customer.id,
            "data": {"id": sample_id, "channel": body.channel, "purpose": body.purpose,
                     "customer": {"id": body.customer.id, "name": body.customer.name,
                                  "company": body.customer.company},
                     "items": [{"sku": i.sku, "requested_quantity": i.quantity,
                                "approved_quantity": None} for i in body.items],
                     "shipment": None, "feedback": None},
            "version": 0, "created_at": now, "updated_at": now}], ["id"])


@router.get("", response_model=PageOf[CaseSummary])
async def list_samples(
    svc: ServicesDep, page: PageDep, _: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return await svc.db(lambda: list_cases(svc, "sample", page, status=status,
                                           customer_id=customer_id))


@router.get("/{sample_id}", response_model=CasePublic)
async def get_sample(sample_id: str, svc: ServicesDep,
                     _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    view = await svc.db(load_case, svc, "sample", sample_id)
    feedback = view.get("feedback")
    if isinstance(feedback, dict) and feedback.get("token"):
        feedback["url"] = f"{svc.settings.public_url}/feedback/{feedback['token']}"
    return view


@router.post("/{sample_id}/info")
async def answer_info(sample_id: str, body: InfoAnswer, svc: ServicesDep,
                      user: Annotated[User, Depends(require("channel", "cs"))]) -> Any:
    wf = await svc.db(case_workflow_id, svc, "sample", sample_id)
    return await send_update(svc, wf, "provide_info", InfoInput(body.text, user.name), dict)


@router.post("/{sample_id}/cancel")
async def cancel_sample(sample_id: str, svc: ServicesDep,
                        user: Annotated[User, Depends(require("cs", "ops"))],
                        body: CancelRequest | None = None) -> Any:
    wf = await svc.db(case_workflow_id, svc, "sample", sample_id)
    reason = body.reason if body else ""
    await send_update(svc, wf, "request_cancel",
                      CancelInput(reason, Actor(user.name, user.role)), str)
    return {"id": sample_id, "status": "cancelled"}


@router.get("/{sample_id}/slip", response_class=HTMLResponse)
async def sample_slip(sample_id: str, request: Request, svc: ServicesDep,
                      _: Annotated[User, Depends(require(*READ_ROLES))]) -> HTMLResponse:
    view = await svc.db(load_case, svc, "sample", sample_id)
    if not any(i.get("approved_quantity") for i in view.get("items", [])):
        raise ApiError(409, "not_approved", "the slip exists once the sample is approved")
    customer = await svc.db(_customer_of, svc, view.get("customer_id"))
    return render_page(request, "sample_slip.html", case=view, customer=customer)


def _customer_of(svc: Any, customer_id: str | None) -> dict[str, Any]:
    from shopflow.models import Customer

    with session_scope(svc.engine, write=False) as session:
        c = session.get(Customer, customer_id) if customer_id else None
        return c.model_dump(mode="json") if c else {}


@router.get("/{sample_id}/dossier", responses={200: {"content": {"text/html": {}}}})
async def sample_dossier(
    sample_id: str, request: Request, svc: ServicesDep,
    _: Annotated[User, Depends(require(*READ_ROLES))],
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
) -> Any:
    def load() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            d = session.get(Dossier, sample_id)
            if d is None or d.kind != "sample":
                raise ApiError(404, "not_found", f"no dossier for sample {sample_id} (yet)")
            return d.data

    data = await svc.db(load)
    wants_html = format == "html" or (
        format is None and "text/html" in request.headers.get("accept", ""))
    if wants_html:
        return render_page(request, "dossier.html", dossier=data)
    return data
