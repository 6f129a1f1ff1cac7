"""Returns and exchanges (seeds 001 and 003): the request, the customer's parcel, the warehouse
booking it in, cancellation, lookups and the replacement's packing slip. Each return is the
workflow ``return-<id>``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.cases import temporal_url
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.pages import render_page
from shopflow.models import Return
from shopflow.models.return_schemas import (
    ReturnCancelIn,
    ReturnCreate,
    ReturnCreated,
    ReturnDifferencePaid,
    ReturnParcelIn,
    ReturnPublic,
    ReturnReceivedIn,
    ReturnSummary,
)
from shopflow.models.schemas import PageOf
from shopflow.services import returns
from shopflow.services.scoping import case_filter
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import RETURN_END_STATUSES, CaseKind, ReturnReason

router = APIRouter(prefix="/returns", tags=["returns"])
READ_ROLES = CASE_READ_ROLES[CaseKind.RETURN]
END_STATUSES = RETURN_END_STATUSES


@router.post("", status_code=201, response_model=ReturnCreated,
             responses={409: {}, 422: {"description": "unknown_order, not_delivered, "
                                       "outside_return_window, quantity_exceeds_order, "
                                       "not_returnable …"},
                        503: {}})
async def create_return(
    body: ReturnCreate, svc: ServicesDep, user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Ask to return delivered goods for a refund, an exchange (the same SKU, or per line
    another SKU or size, ``exchange_sku`` with its ``exchange_unit_price``: the difference is
    paid or refunded) or a repair. Refused with 422 (and
    nothing started) outside the return window (longer when the shop is at fault: quality,
    wrong item, missing item, damaged in transit), before delivery, for more than was delivered
    minus what earlier returns claim, or without a reason (``no_reason``) for a product that
    is not returnable. A missing item (漏发) sends no parcel back: it is reshipped (exchange) or
    refunded."""
    return await keyed.create_return(svc, user, body, idempotency_key)


@router.post("/{return_id}/shipment", responses={404: {}, 409: {}, 422: {}, 503: {}})
async def return_shipment(
    return_id: str, body: ReturnParcelIn, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """The customer's parcel (courier and tracking number); its "delivered" event on
    ``POST /shipments/{tracking_no}/events`` opens the inspection."""
    return await keyed.return_parcel(svc, user, return_id, body, idempotency_key)


@router.post("/{return_id}/payments", status_code=201,
             responses={200: {"description": "the same payment again"}, 404: {}, 409: {},
                        422: {}, 503: {}})
async def pay_difference(
    return_id: str, body: ReturnDifferencePaid, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs", "finance"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """The customer paid the price difference of an exchange for a dearer SKU (the amount the
    return's ``difference`` asks, confirmed with the payment provider and booked on the
    order once per transaction). 409 ``no_difference_due`` when none is waiting, 422
    ``amount_mismatch`` for another amount."""
    return await keyed.return_difference(svc, user, return_id, body, idempotency_key)


@router.post("/{return_id}/received", responses={404: {}, 409: {}, 503: {}})
async def return_received(return_id: str, svc: ServicesDep,
                          user: Annotated[User, Depends(require("warehouse"))],
                          body: ReturnReceivedIn | None = None) -> dict[str, Any]:
    """The warehouse booked the customer's parcel in: the inspection opens."""
    return await returns.book_in(svc.client(), svc.engine, return_id, user.name,
                                 body.note if body else "")


@router.post("/{return_id}/cancel", responses={404: {}, 409: {}, 503: {}})
async def cancel_return(return_id: str, svc: ServicesDep,
                        user: Annotated[User, Depends(require("channel", "cs", "ops"))],
                        body: ReturnCancelIn | None = None) -> dict[str, Any]:
    """Withdraw the return before the parcel arrives."""
    return await returns.cancel(svc.client(), svc.engine, return_id,
                                body.reason if body else "", Actor(user.name, user.role))


# --- reading -------------------------------------------------------------------------------

@router.get("", response_model=PageOf[ReturnSummary])
async def list_returns(
    svc: ServicesDep, page: PageDep, user: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    reason: Annotated[str | None, Query(max_length=200,
                                        description="words in the reason")] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(pattern="^(refund|exchange|repair)$")] = None,
    category: ReturnReason | None = None,
) -> dict[str, Any]:
    total, items = await svc.db(returns.list_returns, svc.engine, page.offset, page.page_size,
                                status=status, reason=reason, customer_id=customer_id,
                                order_no=order_no, kind=kind, category=category,
                                scope=case_filter(user, Return.order_no))
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


@router.get("/{return_id}", response_model=ReturnPublic, responses={404: {}})
async def get_return(return_id: str, svc: ServicesDep,
                     _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    return await svc.db(returns.load_return_view, svc.engine, return_id,
                        temporal_url(svc, returns.workflow_id_of(return_id)))


@router.get("/{return_id}/packing-slip", response_class=HTMLResponse,
            responses={404: {}, 409: {}})
async def packing_slip(return_id: str, request: Request, svc: ServicesDep,
                       _: Annotated[User, Depends(require("warehouse", "cs", "ops"))]
                       ) -> HTMLResponse:
    """Pick list and packing slip of an exchange's replacement (printable)."""
    slip = await svc.db(returns.packing_slip, svc.engine, svc.settings, return_id)
    return render_page(request, "return_packing_slip.html", ret=slip)
