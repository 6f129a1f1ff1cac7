"""Customers' e-mail replies (issue 18): the inbound-mail webhook, and customer service's list
of messages that matched no complaint (attach one, or dismiss it with a note). How a message
finds its complaint: shopflow/services/inbound_mail.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, _bearer, current_user, require
from shopflow.api.errors import ApiError
from shopflow.models.mail import AttachIn, DismissIn, InboundMail, InboundMailIn, InboundMailPublic
from shopflow.models.schemas import PageOf
from shopflow.providers.mailbox import InboundMessage
from shopflow.services import inbound_mail

router = APIRouter(prefix="/inbound-mail", tags=["inbound mail"])
WEBHOOK_ROLES = ("channel", "ops")  # and admin; a channel token bound to channels may not
ROLES = ("cs", "ops")  # who work the unmatched list (and admin)
CsUser = Annotated[User, Depends(require(*ROLES))]
MailId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SIGNATURE = "X-Shopflow-Signature"


async def mail_sender(
    request: Request, svc: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    signature: Annotated[str | None, Header(alias=SIGNATURE, max_length=200)] = None,
) -> str:
    """The webhook's caller: a valid HMAC of the body under SHOPFLOW_INBOUND_MAIL_SECRET, or a
    token of role channel (not bound to channels) or ops."""
    if signature is not None:
        if inbound_mail.signed(svc.settings, await request.body(), signature):
            return "mail-webhook"
        raise ApiError(401, "bad_signature",
                       f"{SIGNATURE} is not the HMAC-SHA256 of the body under the secret")
    user = current_user(svc, creds)
    if not user.has(*WEBHOOK_ROLES) or user.scoped:
        raise ApiError(403, "forbidden", f"role {user.role} may not post inbound mail",
                       {"allowed_roles": sorted({*WEBHOOK_ROLES, "admin"})})
    return user.name


def public(row: InboundMail, duplicate: bool = False) -> dict[str, Any]:
    return {**InboundMailPublic.model_validate(row, from_attributes=True).model_dump(mode="json"),
            "duplicate": duplicate}


@router.post("", status_code=201, response_model=InboundMailPublic,
             responses={200: {"model": InboundMailPublic}, 401: {}, 403: {}, 422: {}, 503: {}})
async def receive(body: InboundMailIn, svc: ServicesDep,
                  _: Annotated[str, Depends(mail_sender)]) -> JSONResponse:
    """One inbound e-mail (a mail provider's webhook). Kept once by ``message_id``: a repeat
    answers 200 with the message as it is (``duplicate: true``). A reply of a complaint's
    customer (``to`` the plus-address of a notice's Reply-To, ``in_reply_to``/``references``
    naming a notice, or the complaint number in the subject) is added to the complaint's
    messages (``status: attached``); anything else is ``unmatched`` with its ``reason``, in
    customer service's list. 503: kept, not yet delivered; the retry delivers it."""
    mail = InboundMessage(message_id=body.message_id.strip(), sender=_address(body.sender),
                          to=_address(body.to), subject=body.subject, text=body.text,
                          in_reply_to=body.in_reply_to, references=body.references)
    row, repeat = await inbound_mail.receive(svc.client(), svc.engine, mail, "webhook")
    return JSONResponse(public(row, repeat), status_code=200 if repeat else 201)


def _address(value: str) -> str:
    from email.utils import parseaddr

    return parseaddr(value)[1] or value.strip()


@router.get("", response_model=PageOf[InboundMailPublic])
async def list_mail(svc: ServicesDep, page: PageDep, _: CsUser,
                    status: Literal["received", "attached", "unmatched", "dismissed"] | None
                    = None) -> dict[str, Any]:
    """Inbound messages newest first; ``?status=unmatched`` is customer service's list."""
    rows, total = await svc.db(inbound_mail.list_mail, svc.engine, status, page.page,
                               page.page_size)
    return {"items": [public(r) for r in rows], "total": total, "page": page.page,
            "page_size": page.page_size}


@router.get("/{mail_id}", response_model=InboundMailPublic, responses={404: {}})
async def get_mail(mail_id: MailId, svc: ServicesDep, _: CsUser) -> dict[str, Any]:
    return public(await svc.db(inbound_mail.get, svc.engine, mail_id))


@router.post("/{mail_id}/attach", response_model=InboundMailPublic,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def attach(mail_id: MailId, body: AttachIn, svc: ServicesDep,
                 user: CsUser) -> dict[str, Any]:
    """Add an unmatched message to a complaint as the customer's message (say, they wrote from
    another address); audited. 409 when the message is not unmatched or the complaint closed."""
    return public(await inbound_mail.attach(svc.client(), svc.engine, mail_id,
                                            body.complaint_id.strip(), user.name))


@router.post("/{mail_id}/dismiss", response_model=InboundMailPublic,
             responses={404: {}, 409: {}, 422: {}})
async def dismiss(mail_id: MailId, body: DismissIn, svc: ServicesDep,
                  user: CsUser) -> dict[str, Any]:
    """Set an unmatched message aside (spam, an out-of-office reply) with a note; audited."""
    return public(await svc.db(inbound_mail.dismiss, svc.engine, mail_id, body.note,
                               user.name))
