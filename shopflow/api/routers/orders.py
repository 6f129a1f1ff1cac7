"""Orders (seeds 001 and 002): intake, payments, cancellation, lookups, and the printable pick
list, packing slip and invoice. Each order is the workflow ``order-<order_no>``."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.cases import temporal_url
from shopflow.api.deps import PageDep, Services, ServicesDep, require
from shopflow.api.pages import render_page
from shopflow.models import Order
from shopflow.models.order_schemas import (
    InvoiceIn,
    InvoicePublic,
    OrderCancel,
    OrderCancelled,
    OrderCreate,
    OrderCreated,
    OrderPublic,
    OrderSummary,
    PaymentIn,
    PaymentPublic,
)
from shopflow.models.schemas import PageOf
from shopflow.services import invoices, orders
from shopflow.services.scoping import case_filter
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/orders", tags=["orders"])
READ_ROLES = CASE_READ_ROLES[CaseKind.ORDER]


@router.post("", status_code=201, response_model=OrderCreated,
             responses={200: {"model": OrderCreated, "description": "the same order again"},
                        409: {}, 422: {}, 503: {}})
async def create_order(
    body: OrderCreate, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Take an order from a channel, or a phone or e-mail order customer service keys in
    (channel ``phone``/``email``; another channel is a 403 for cs). A line without
    ``unit_price`` takes the product's catalogue price. The same order again (same number,
    same content) answers 200 with the first answer and starts nothing; the same number with
    other content is 409."""
    return await keyed.create_order(svc, user, body, idempotency_key)


# --- payments, cancellation ----------------------------------------------------------------

@router.post("/{order_no}/payments", status_code=201, response_model=PaymentPublic,
             responses={200: {"model": PaymentPublic, "description": "the same payment again"},
                        404: {}, 409: {}, 422: {}, 503: {}})
async def record_payment(
    order_no: str, body: PaymentIn, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "finance"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """An online payment for the order (the whole total). A transaction id is booked once: the
    same one again answers 200 with the same payment."""
    return await keyed.record_payment(svc, user, order_no, body, idempotency_key)


@router.post("/{order_no}/cancel", response_model=OrderCancelled,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def cancel_order(order_no: str, body: OrderCancel, svc: ServicesDep,
                       user: Annotated[User, Depends(require("cs", "ops"))]) -> dict[str, Any]:
    """Cancel before shipment: stock released, a paid order refunded, the customer told. After
    shipment it is 409: the customer returns the goods instead."""
    return await orders.cancel(svc.client(), svc.engine, order_no, body.reason,
                               Actor(user.name, user.role))



@router.post("/{order_no}/invoice", status_code=201, response_model=InvoicePublic,
             responses={200: {"model": InvoicePublic, "description": "the same invoice again"},
                        404: {}, 409: {}, 422: {}})
async def request_invoice(order_no: str, body: InvoiceIn, svc: ServicesDep,
                          user: Annotated[User, Depends(require("channel", "cs", "finance"))]
                          ) -> JSONResponse:
    """Ask for the order's tax invoice (发票) with a title and, for a company, its tax ID.
    Issued (numbered) once the order is paid: at once if it is, else at the payment's capture
    (online) or collection (cash on delivery); each refund after adds a credit note. Asking
    again answers 200 with the same invoice; before it is issued another title or tax ID
    replaces the request, after it is 409 ``already_invoiced``."""
    created, view = await svc.db(invoices.request, svc.engine, svc.settings, order_no,
                                 body.title, body.tax_id, Actor(user.name, user.role))
    return JSONResponse(view, status_code=201 if created else 200)


# --- reading -------------------------------------------------------------------------------

@router.get("", response_model=PageOf[OrderSummary])
async def list_orders(
    svc: ServicesDep, page: PageDep, user: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    total, items = await svc.db(orders.list_orders, svc.engine, page.offset, page.page_size,
                                status, customer_id, case_filter(user, Order.order_no))
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


@router.get("/{order_no}", response_model=OrderPublic, responses={404: {}})
async def get_order(order_no: str, svc: ServicesDep,
                    _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    return await svc.db(orders.load_order_view, svc.engine, order_no,
                        temporal_url(svc, orders.workflow_id_of(order_no)))


async def _document(svc: Services, order_no: str) -> dict[str, Any]:
    return await svc.db(orders.document, svc.engine, svc.settings, order_no)


@router.get("/{order_no}/pick-list", response_class=HTMLResponse, responses={404: {}})
async def pick_list(order_no: str, request: Request, svc: ServicesDep,
                    _: Annotated[User, Depends(require("warehouse", "cs", "ops"))]
                    ) -> HTMLResponse:
    """Printable pick list of the order's lines."""
    return render_page(request, "order_pick_list.html", order=await _document(svc, order_no))


@router.get("/{order_no}/packing-slip", response_class=HTMLResponse, responses={404: {}})
async def packing_slip(order_no: str, request: Request, svc: ServicesDep,
                       _: Annotated[User, Depends(require("warehouse", "cs", "ops"))]
                       ) -> HTMLResponse:
    """Printable packing slip (goes in the parcel): recipient, lines, cash to collect."""
    return render_page(request, "order_packing_slip.html",
                       order=await _document(svc, order_no))


@router.get("/{order_no}/invoice", response_class=HTMLResponse, responses={404: {}, 409: {}})
async def invoice(order_no: str, request: Request, svc: ServicesDep,
                  _: Annotated[User, Depends(require("channel", "cs", "finance", "ops"))]
                  ) -> HTMLResponse:
    """The order's invoice (HTML, printable): the tax invoice (发票) with its tax lines and
    credit notes once issued, else the delivery invoice of a delivered order."""
    order = await svc.db(orders.invoice, svc.engine, svc.settings, order_no)
    return render_page(request, "order_invoice.html", order=order)
