"""A sample request's qualification documents on the pages (seed 000 1.2): uploaded on the new
sample form, the case page and the preliminary review's task page (channel, customer service),
listed with a download link wherever the request is read (the reviewer's task page too). The
same service as ``POST /api/v1/samples/{id}/documents``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from shopflow.api.auth import User
from shopflow.api.errors import ApiError
from shopflow.providers.storage import build_store
from shopflow.services import sample_documents
from shopflow.services.errors import Refused
from shopflow.services.scoping import visible
from shopflow.ui.pages import (
    PageRoute,
    checked_form,
    redirect,
    safe_next,
    signed_in,
    svc_of,
    with_note,
)
from shopflow.workflows.vocab import READ_ROLES, CaseKind

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
UPLOADERS = ("channel", "cs")  # as POST /api/v1/samples/{id}/documents
READERS = READ_ROLES[CaseKind.SAMPLE]


async def documents_of(request: Request, user: User, sample_id: str) -> dict[str, Any]:
    """What a page shows of a request's documents: the list and whether the user may add."""
    svc = svc_of(request)
    return {"sample_documents": await svc.db(sample_documents.list_documents, svc.engine,
                                             sample_id),
            "may_upload_documents": user.has(*UPLOADERS),
            "document_accept": sample_documents.ACCEPT}


async def _readable(request: Request, user: User, sample_id: str) -> None:
    if not user.has(*READERS):
        raise ApiError(403, "forbidden", f"role {user.role} may not read sample requests")
    svc = svc_of(request)
    if not await svc.db(visible, svc.engine, user, CaseKind.SAMPLE, sample_id):
        raise ApiError(404, "not_found", f"no sample {sample_id}")


@router.get("/samples/{sample_id}/documents/{document_id}")
async def download(request: Request, sample_id: str, document_id: str) -> Response:
    user = await signed_in(request)
    await _readable(request, user, sample_id)
    svc = svc_of(request)
    doc, data = await svc.db(sample_documents.document_content, svc.engine,
                             build_store(svc.settings), sample_id, document_id)
    return Response(data, media_type=doc["content_type"],
                    headers=sample_documents.download_headers(doc))


async def add_uploads(request: Request, user: User, sample_id: str,
                      uploads: list[UploadFile]) -> list[str]:
    """Each file through the API's service; the refusals as messages (none: all stored)."""
    svc = svc_of(request)
    problems = []
    for upload in uploads:
        data = await upload.read(svc.settings.document_max_bytes + 1)
        try:
            await sample_documents.add_document(
                svc.client(), svc.engine, svc.settings, build_store(svc.settings), sample_id,
                upload.filename or "", data, user.name)
        except Refused as err:
            if err.status not in (404, 409, 422, 503):
                raise
            problems.append(f"{upload.filename}: {err.message}")
    return problems


def uploads_of(form: Any, name: str) -> list[UploadFile]:
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and f.filename]


@router.post("/samples/{sample_id}/documents")
async def upload(request: Request, sample_id: str) -> Response:
    user = await signed_in(request)
    if not user.has(*UPLOADERS):
        raise ApiError(403, "forbidden", f"role {user.role} may not add documents")
    await _readable(request, user, sample_id)
    values = await checked_form(request)
    files = uploads_of(await request.form(), "file")
    target = safe_next(values.get("next"), f"/ui/cases/sample/{sample_id}")
    if not files:
        raise ApiError(422, "missing_field", "choose a file to upload", {"field": "file"})
    problems = await add_uploads(request, user, sample_id, files)
    if problems:
        raise ApiError(422, "document_refused", "; ".join(problems), {"field": "file"})
    return redirect(with_note(target, "document_added"))
