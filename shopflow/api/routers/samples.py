"""Samples (seed 000): application, lookups, answers to questions, cancel, slip and dossier."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

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
    SampleDocumentsList,
)
from shopflow.providers.storage import build_store
from shopflow.security.links import LINK_ROLES
from shopflow.services import cases, sample_documents, samples
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
    view = await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.SAMPLE, sample_id,
                        feedback_url=user.has(*LINK_ROLES))  # the form url for cs/ops only
    view["documents"] = await svc.db(sample_documents.list_documents, svc.engine, sample_id)
    return view


@router.post("/{sample_id}/documents", status_code=201,
             responses={200: {"description": "the same file again: the document it is"},
                        404: {}, 409: {}, 422: {}, 503: {}})
async def upload_document(
    sample_id: str, svc: ServicesDep, user: Annotated[User, Depends(require("channel", "cs"))],
    file: Annotated[UploadFile, File(description="a PDF, JPEG or PNG qualification document")],
) -> JSONResponse:
    """A qualification document of the request (seed 000 1.2), as a file: its type is checked
    by its content, its size by ``SHOPFLOW_DOCUMENT_MAX_BYTES``. The review approves a request
    only with one at least."""
    data = await file.read(svc.settings.document_max_bytes + 1)
    new, doc = await sample_documents.add_document(
        svc.client(), svc.engine, svc.settings, build_store(svc.settings), sample_id,
        file.filename or "", data, user.name)
    return JSONResponse(doc, status_code=201 if new else 200)


@router.get("/{sample_id}/documents", response_model=SampleDocumentsList)
async def list_documents(sample_id: str, svc: ServicesDep,
                         _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    await svc.db(cases.case_detail, svc.engine, svc.settings, CaseKind.SAMPLE, sample_id)
    return {"items": await svc.db(sample_documents.list_documents, svc.engine, sample_id)}


@router.get("/{sample_id}/documents/{document_id}",
            responses={200: {"content": {"application/pdf": {}, "image/jpeg": {},
                                         "image/png": {}}}, 404: {}, 503: {}})
async def download_document(sample_id: str, document_id: str, svc: ServicesDep,
                            _: Annotated[User, Depends(require(*READ_ROLES))]) -> Response:
    doc, data = await svc.db(sample_documents.document_content, svc.engine,
                             build_store(svc.settings), sample_id, document_id)
    return Response(data, media_type=doc["content_type"],
                    headers=sample_documents.download_headers(doc))


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
