"""Customer feedback through a one-time link: no login, the token is the credential."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from shopflow.api.cases import send_update
from shopflow.api.deps import ServicesDep
from shopflow.api.errors import ApiError, ascii_int
from shopflow.api.pages import render_page
from shopflow.db import session_scope
from shopflow.models import FeedbackRequest
from shopflow.models.schemas import FeedbackIn
from shopflow.models.types import utcnow
from shopflow.security.links import token_hash
from shopflow.services.status import feedback_subject
from shopflow.workflows.shared import FeedbackInput

api_router = APIRouter(prefix="/feedback", tags=["feedback"])
page_router = APIRouter(prefix="/feedback", tags=["feedback"], include_in_schema=True)


def _open_request(svc: Any, token: str) -> FeedbackRequest:
    """The link's row, found by the hash of the link (only the hash is stored)."""
    with session_scope(svc.engine, write=False) as session:
        req = session.get(FeedbackRequest, token_hash(token[:200]))
    if req is None:
        raise ApiError(404, "not_found", "unknown feedback link")
    if req.status != "open":
        raise ApiError(409, "feedback_closed",
                       "this feedback link was used already" if req.status == "answered"
                       else "this feedback link has expired")
    if req.expires_at is not None and req.expires_at <= utcnow():
        raise ApiError(409, "feedback_closed", "this feedback link has expired")
    return req


def _complaint_box(svc: Any, token: str) -> bool:
    """The form offers "I want to file a complaint" on follow-up surveys (the ones that act on
    it; a complaint's own survey has its escalation, a sample's has the problem task)."""
    with session_scope(svc.engine, write=False) as session:
        req = session.get(FeedbackRequest, token_hash(token[:200]))
    return req is not None and req.kind == "followup"


async def _submit(svc: Any, token: str, body: FeedbackIn) -> dict[str, Any]:
    req = await svc.db(_open_request, svc, token)
    # The workflow gets the hash, never the link: the Update's input is in its history.
    inp = FeedbackInput(req.token, body.satisfaction, body.usage, body.suggestions, body.problem,
                        complaint=body.complaint, complaint_text=body.complaint_text,
                        dissatisfied=body.dissatisfied)
    return await send_update(svc, req.workflow_id, "submit_feedback", inp, dict)


@api_router.post("/{token}", responses={404: {}, 409: {}, 422: {}})
async def submit_feedback(token: str, body: FeedbackIn, svc: ServicesDep) -> dict[str, Any]:
    return await _submit(svc, token, body)


@page_router.get("/{token}", response_class=HTMLResponse)
async def feedback_form(token: str, request: Request, svc: ServicesDep) -> HTMLResponse:
    try:
        req = await svc.db(_open_request, svc, token)
    except ApiError as err:
        return render_page(request, "feedback_form.html", err.status, token=token, open=False,
                           message=err.message)
    about = await svc.db(feedback_subject, svc.engine, req.case_id, req.kind)
    return render_page(request, "feedback_form.html", token=token, open=True, message=None,
                       complaint_box=req.kind == "followup", about=about)


@page_router.post("/{token}", response_class=HTMLResponse)
async def feedback_form_post(
    token: str, request: Request, svc: ServicesDep,
    satisfaction: Annotated[str, Form()], usage: Annotated[str, Form()] = "",
    suggestions: Annotated[str, Form()] = "", problem: Annotated[str, Form()] = "",
    complaint: Annotated[str, Form()] = "", complaint_text: Annotated[str, Form()] = "",
    dissatisfied: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        body = FeedbackIn(satisfaction=ascii_int(satisfaction, 0),
                          usage=usage, suggestions=suggestions, problem=problem or None,
                          complaint=bool(complaint), complaint_text=complaint_text or None,
                          dissatisfied=bool(dissatisfied))
        await _submit(svc, token, body)
    except ValidationError:
        return render_page(request, "feedback_form.html", 422, token=token, open=True,
                           message="请选择 1 到 5 的满意度 / choose a satisfaction from 1 to 5",
                           complaint_box=await svc.db(_complaint_box, svc, token))
    except ApiError as err:
        return render_page(request, "feedback_form.html", err.status, token=token, open=False,
                           message=err.message)
    return render_page(request, "feedback_form.html", token=token, open=False,
                       message="谢谢您的反馈！/ Thank you for your feedback!")
