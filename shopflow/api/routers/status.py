"""The customer's status page: no login, the signed link is the credential. An unknown,
tampered or expired link is a plain 404 page that says nothing about any case."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shopflow.api.deps import ServicesDep
from shopflow.api.pages import render_page
from shopflow.models.types import utcnow
from shopflow.services import orders
from shopflow.services.errors import Refused
from shopflow.services.status import case_for_token, customer_status

router = APIRouter(prefix="/status", tags=["status"])


@router.get("/{token}", response_class=HTMLResponse, responses={404: {"content": {"text/html": {}}}})
async def status_page(token: str, request: Request, svc: ServicesDep) -> HTMLResponse:
    case_id = case_for_token(svc.settings, token, utcnow())
    view = await svc.db(customer_status, svc.engine, case_id) if case_id else None
    if view is None:
        return render_page(request, "status_not_found.html", 404)
    page = render_page(request, "status_page.html", s=view, en=view["locale"] == "en")
    page.headers["Cache-Control"] = "no-store"  # a shared computer's history keeps no status
    return page


@router.get("/{token}/invoice", response_class=HTMLResponse,
            responses={404: {"content": {"text/html": {}}}})
async def status_invoice(token: str, request: Request, svc: ServicesDep) -> HTMLResponse:
    """The invoice (发票) of the link's order (or of a return's order) with its credit notes,
    once issued; the same printable page staff see. Anything else is the plain 404 page."""
    case_id = case_for_token(svc.settings, token, utcnow())
    view = await svc.db(customer_status, svc.engine, case_id) if case_id else None
    if view is None or not view.get("invoice"):
        return render_page(request, "status_not_found.html", 404)
    try:
        order = await svc.db(orders.invoice, svc.engine, svc.settings, view["order_no"])
    except Refused:
        return render_page(request, "status_not_found.html", 404)
    page = render_page(request, "order_invoice.html", order=order)
    page.headers["Cache-Control"] = "no-store"
    return page
