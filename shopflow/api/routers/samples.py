"""Samples (seed 000): application, lookups, answers to questions, cancel, slip and dossier."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.pages import render_page
from shopflow.models import Case
from shopflow.models.schemas import (
    CancelRequest,
    CaseCreated,
    CasePublic,
    CaseSummary,
    InfoAnswer,
    PageOf,
    SampleCreate,
)
from shopflow.security.links import LINK_ROLES
from shopflow.services import cases, samples
from shopflow.services.scoping import case_filter
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/samples", tags=["samples"])
READ_ROLES = CASE_READ_ROLES[CaseKind.SAMPLE]


@router.post("", status_code=201, response_model=CaseCreated,
             responses={200: {"model": CaseCreated}, 409: {}, 422: {}, 503: {}})
async def create_sample(
    body: SampleCreate, svc: ServicesDep, user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    return await keyed.create_sample(svc, user, body, idempotency_key)


@router.get("", response_model=PageOf[CaseSummary])
async def list_samples(
    svc: ServicesDep, page: PageDep, user: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return await svc.db(cases.list_cases, svc.engine, CaseKind.SAMPLE, page.page,
                        page.page_size, status=status, customer_id=customer_id,
                        scope=case_filter(user, Case.id))


@router.get("/{sample_id}", response_model=CasePublic)
async def get_sample(sample_id: str, svc: ServicesDep,
                     user: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    return await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.SAMPLE, sample_id,
                        feedback_url=user.has(*LINK_ROLES))  # the form url for cs/ops only


@router.post("/{sample_id}/info")
async def answer_info(sample_id: str, body: InfoAnswer, svc: ServicesDep,
                      user: Annotated[User, Depends(require("channel", "cs"))]) -> Any:
    return await samples.answer_info(svc.client(), svc.engine, sample_id, body.text, user.name)


@router.post("/{sample_id}/cancel")
async def cancel_sample(sample_id: str, svc: ServicesDep,
                        user: Annotated[User, Depends(require("cs", "ops"))],
                        body: CancelRequest | None = None) -> Any:
    return await samples.cancel(svc.client(), svc.engine, sample_id, body.reason if body else "",
                                Actor(user.name, user.role))


@router.get("/{sample_id}/slip", response_class=HTMLResponse)
async def sample_slip(sample_id: str, request: Request, svc: ServicesDep,
                      _: Annotated[User, Depends(require(*READ_ROLES))]) -> HTMLResponse:
    view, customer = await svc.db(samples.slip, svc.engine, svc.settings, sample_id)
    return render_page(request, "sample_slip.html", case=view, customer=customer)


@router.get("/{sample_id}/dossier", responses={200: {"content": {"text/html": {}}}})
async def sample_dossier(
    sample_id: str, request: Request, svc: ServicesDep,
    _: Annotated[User, Depends(require(*READ_ROLES))],
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
) -> Any:
    data = await svc.db(cases.dossier, svc.engine, CaseKind.SAMPLE, sample_id)
    wants_html = format == "html" or (
        format is None and "text/html" in request.headers.get("accept", ""))
    if wants_html:
        return render_page(request, "dossier.html", dossier=data)
    return data
