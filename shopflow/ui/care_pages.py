"""Customer care's pages of issue 18: customers' e-mail replies that matched no complaint
(attach one to a complaint, or set it aside), and promotion plans (the list, the new plan form;
a plan's page is its case page, its review and approval tasks are in the inbox). Thin: read
and act through the services the API calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from shopflow.api import keyed
from shopflow.api.errors import ApiError
from shopflow.models.mail import AttachIn, DismissIn
from shopflow.models.promotion_schemas import PromotionCreate
from shopflow.services import inbound_mail, promotions
from shopflow.services.errors import Refused
from shopflow.ui.pages import (
    PageRoute,
    checked_form,
    keyed_create_form,
    redirect,
    render,
    signed_in,
    svc_of,
    with_note,
)
from shopflow.workflows.vocab import READ_ROLES, CaseKind

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
MAIL_ROLES = ("cs", "ops")  # as /api/v1/inbound-mail's list (and admin)
STATUSES = ("unmatched", "attached", "dismissed", "received")
MailId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _mail_user(request: Request) -> Any:
    user = await signed_in(request)
    if not user.has(*MAIL_ROLES):
        raise ApiError(403, "forbidden", "客户邮件仅限客服 Customers' e-mails are for customer "
                                         "service")
    return user


@router.get("/inbound-mail")
async def mail_page(request: Request, status: str = "unmatched",
                    page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    """Customers' e-mails; by default those that matched no complaint, each with an attach
    and a dismiss form."""
    await _mail_user(request)
    status = status if status in STATUSES else "unmatched"
    svc = svc_of(request)
    rows, total = await svc.db(inbound_mail.list_mail, svc.engine, status, page, 50)
    return render(request, "inbound_mail.html", section="mail", rows=rows, total=total,
                  mail_status=status, statuses=STATUSES, page=page)


async def _act(request: Request, mail_id: int, action: str) -> Response:
    user = await _mail_user(request)
    form = await checked_form(request)
    svc = svc_of(request)
    back = "/ui/inbound-mail"
    try:
        if action == "attach":
            body = AttachIn(complaint_id=form.get("complaint_id", "").strip())
            await inbound_mail.attach(svc.client(), svc.engine, mail_id, body.complaint_id,
                                      user.name)
        else:
            note = DismissIn(note=form.get("note", "").strip())
            await svc.db(inbound_mail.dismiss, svc.engine, mail_id, note.note, user.name)
    except ValidationError:
        return redirect(with_note(back, "invalid_input"))
    except Refused as err:
        if err.status not in (404, 409, 422):
            raise
        known = {"mail_not_unmatched", "complaint_closed", "not_found"}
        return redirect(with_note(back, err.code if err.code in known else "invalid_input"))
    return redirect(with_note(back, "mail_attached" if action == "attach" else "mail_dismissed"))


@router.post("/inbound-mail/{mail_id}/attach")
async def attach(request: Request, mail_id: MailId) -> Response:
    return await _act(request, mail_id, "attach")


@router.post("/inbound-mail/{mail_id}/dismiss")
async def dismiss(request: Request, mail_id: MailId) -> Response:
    return await _act(request, mail_id, "dismiss")


# --- promotion plans ----------------------------------------------------------------------------

PLAN_ROLES = ("cs", "ops")  # as POST /api/v1/promotions (and admin)


@router.get("/promotions")
async def promotions_page(request: Request, status: str | None = None,
                          page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    """Promotion plans newest first: where each stands, the link to its page (its review and
    approval tasks are in the inbox of finance and ops)."""
    user = await signed_in(request)
    if not user.has(*READ_ROLES[CaseKind.PROMOTION]):
        raise ApiError(403, "forbidden", f"role {user.role} may not read promotions")
    svc = svc_of(request)
    rows, total = await svc.db(promotions.list_promotions, svc.engine, page, 50, status or None)
    return render(request, "promotions.html", section="promotions", rows=rows, total=total,
                  may_plan=user.has(*PLAN_ROLES))


async def _plan_form(request: Request, status: int = 200, *, values: Any,
                     errors: dict[str, str] | None = None) -> Response:
    return render(request, "promotion_new.html", status, section="promotions", values=values,
                  errors=errors or {})


@router.get("/promotions/new")
async def new_plan(request: Request) -> Response:
    user = await signed_in(request)
    if not user.has(*PLAN_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not draft promotions")
    import uuid

    return await _plan_form(request, values={"request_key": uuid.uuid4().hex, "segment": "all"})


def _plan_fields(val: Any) -> dict[str, Any]:
    skus = [s.strip() for s in (val("skus") or "").replace("，", ",").split(",") if s.strip()]
    return {"name": val("name") or "", "skus": skus,
            "discount_percent": val("discount_percent") or "", "start_at": val("start_at") or "",
            "end_at": val("end_at") or "", "target_tag": val("target_tag"),
            "segment": val("segment") or "all", "description": val("description") or ""}


@router.post("/promotions/new")
async def create_plan(request: Request) -> Response:
    """As POST /api/v1/promotions: the same checks and service, the form's one-time key."""
    user = await signed_in(request)
    if not user.has(*PLAN_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not draft promotions")
    return await keyed_create_form(
        request, user, model=PromotionCreate, create=keyed.create_promotion, form=_plan_form,
        case_page="/ui/cases/promotion/{id}?note=created", fields=_plan_fields)
