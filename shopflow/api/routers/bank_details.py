"""Bank details for a COD transfer refund (issue 17.6): finance asks (``POST
/api/v1/refunds/{id}/bank-details-request``), the customer answers once through the link in the
notice (``/bank-details/<token>``, no sign-in: the token is the credential). Definitions:
shopflow/services/bank_details.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, require
from shopflow.api.errors import ApiError
from shopflow.api.pages import render_page
from shopflow.models.order_schemas import TransferPaidIn
from shopflow.services import bank_details
from shopflow.workflows.shared import Actor

router = APIRouter(prefix="/refunds", tags=["reconciliation"])
page_router = APIRouter(prefix="/bank-details", tags=["reconciliation"], include_in_schema=False)
FinanceUser = Annotated[User, Depends(require("finance", "ops"))]
RefundId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the refund's id")]


@router.post("/{refund_id}/bank-details-request", status_code=201,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def request_bank_details(refund_id: RefundId, svc: ServicesDep,
                               user: FinanceUser) -> dict[str, Any]:
    """Ask the customer of a COD transfer refund still due for the account to pay it to: one
    notice with a one-time link (valid SHOPFLOW_BANK_LINK_TTL), who asked is audited. 409
    ``no_transfer_due``, ``bank_details_requested`` (one open request at a time) or
    ``bank_details_received``."""
    return await bank_details.ask(svc.client(), svc.engine, svc.settings, refund_id,
                                  Actor(user.name, user.role))


@router.post("/{refund_id}/transfer-paid", responses={404: {}, 409: {}, 422: {}})
async def transfer_paid(refund_id: RefundId, body: TransferPaidIn, svc: ServicesDep,
                        user: FinanceUser) -> dict[str, Any]:
    """Record a COD transfer refund as made, with the bank's reference (the refund becomes
    ``succeeded``, audited). 409 ``bank_details_missing`` before the customer sent the account,
    ``transfer_paid`` the second time, ``no_transfer_due``."""
    return await svc.db(bank_details.mark_paid, svc.engine, refund_id, body.reference,
                        Actor(user.name, user.role))


@page_router.get("/{token}", response_class=HTMLResponse)
async def bank_details_form(token: str, request: Request, svc: ServicesDep) -> HTMLResponse:
    try:
        about = await svc.db(bank_details.open_request, svc.engine, token)
    except ApiError as err:
        return render_page(request, "bank_details_form.html", err.status, token=token,
                           open=False, message=err.message, errors={}, values={})
    return render_page(request, "bank_details_form.html", token=token, open=True, message=None,
                       about=about, errors={}, values={})


@page_router.post("/{token}", response_class=HTMLResponse)
async def bank_details_post(
    token: str, request: Request, svc: ServicesDep,
    account_holder: Annotated[str, Form()] = "",
    bank_name: Annotated[str, Form()] = "",
    account_number: Annotated[str, Form()] = "",
) -> HTMLResponse:
    values = {"account_holder": account_holder, "bank_name": bank_name,
              "account_number": account_number}
    try:
        await svc.db(bank_details.submit, svc.engine, token, account_holder, bank_name,
                     account_number)
    except ApiError as err:
        if err.status != 422:
            return render_page(request, "bank_details_form.html", err.status, token=token,
                               open=False, message=err.message, errors={}, values={})
        field = err.details[0]["loc"][-1] if isinstance(err.details, list) else ""
        about = await svc.db(bank_details.open_request, svc.engine, token)
        return render_page(request, "bank_details_form.html", 422, token=token, open=True,
                           message=err.message, about=about, errors={field: err.message},
                           values=values)
    return render_page(request, "bank_details_form.html", token=token, open=False,
                       message="谢谢，我们已收到您的银行信息，会尽快转账。/ Thank you: we have your "
                               "bank details and will make the transfer soon.",
                       errors={}, values={})
