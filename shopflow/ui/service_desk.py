"""Customer service's pages (issue 17.6): a customer's page (profile and every case), and the
complaint and return forms started from it. They go through the services of
``POST /api/v1/complaints`` and ``POST /api/v1/returns``, with the form's one-time key as the
Idempotency-Key (a double submit answers with the first case)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from shopflow.api import keyed
from shopflow.api.errors import ApiError, ascii_int
from shopflow.models.complaint_schemas import ComplaintCreate
from shopflow.models.return_schemas import ReturnCreate
from shopflow.services import customers
from shopflow.services.errors import Refused
from shopflow.services.scoping import visible
from shopflow.ui.pages import (
    CUSTOMER_FORM_KEYS,
    PageRoute,
    checked_form,
    customer_form_values,
    invalid_fields,
    keyed_create_form,
    redirect,
    render,
    signed_in,
    svc_of,
)
from shopflow.ui.queries import Paged, form_context
from shopflow.workflows.vocab import COMPLAINT_CATEGORIES, COMPLAINT_CHANNELS, ReturnReason

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
PageNo = Annotated[int, Query(ge=1, le=100000)]


# --- a customer's page (customer service starts here) --------------------------------------------

@router.get("/customers/{customer_id}")
async def customer_page(request: Request, customer_id: str, page: PageNo = 1) -> Response:
    """Profile, tags, credit rating, birthday, purchase history and every case of the customer
    (of the processes the role reads), with the forms to start a case for them."""
    user = await signed_in(request)
    if not user.has(*customers.READ_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not read customer profiles")
    svc = svc_of(request)
    profile = await svc.db(customers.customer_view, svc.engine, customer_id)
    found = await svc.db(customers.customer_cases, svc.engine, user.role, customer_id, page,
                         PAGE_SIZE)
    return render(request, "customer.html", section="cases", customer=profile,
                  cases=Paged(found["items"], found["total"], page, PAGE_SIZE),
                  files_cases=user.has("cs"))


# --- a complaint taken on the phone (from the customer's page) ----------------------------------

CREATE_COMPLAINT_ROLES = ("channel", "cs")  # as POST /api/v1/complaints


@router.get("/complaints/new")
async def new_complaint(request: Request,
                        customer: Annotated[str | None, Query(max_length=64)] = None
                        ) -> Response:
    """The complaint form; ``?customer=<id>`` (the customer's page) fills in their profile."""
    user = await signed_in(request)
    if not user.has(*CREATE_COMPLAINT_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not file complaints")
    return await _complaint_form(request,
                                 values=await customer_form_values(request, user, customer))


async def _complaint_form(request: Request, status: int = 200, *, values: dict[str, str],
                          errors: dict[str, str] | None = None) -> Response:
    return render(request, "complaint_new.html", status, section="cases", values=values,
                  errors=errors or {}, categories=COMPLAINT_CATEGORIES,
                  channels=COMPLAINT_CHANNELS)


@router.post("/complaints/new")
async def create_complaint(request: Request) -> Response:
    """As POST /api/v1/complaints: the same checks and service."""
    user = await signed_in(request)
    if not user.has(*CREATE_COMPLAINT_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not file complaints")
    return await keyed_create_form(
        request, user, model=ComplaintCreate, create=keyed.create_complaint,
        form=_complaint_form, case_page="/ui/cases/complaint/{id}?note=created",
        fields=lambda val: {
            "customer": {k: val(f"customer.{k}") for k in CUSTOMER_FORM_KEYS},
            "order_no": val("order_no"), "category": val("category") or "",
            "description": val("description") or "", "channel": val("channel") or ""})


# --- a return asked for on the phone (from the customer's page) ---------------------------------

CREATE_RETURN_ROLES = ("channel", "cs")  # as POST /api/v1/returns


async def _order_lines(request: Request, user: Any, order_no: str) -> list[dict[str, Any]]:
    svc = svc_of(request)
    if not await svc.db(visible, svc.engine, user, "order", order_no):  # another channel's
        raise ApiError(404, "not_found", f"no order {order_no}")
    ctx = await svc.db(form_context, svc.engine, {"order_no": order_no}, ("order_items",))
    lines: list[dict[str, Any]] = ctx.get("order_items") or []
    if not lines:
        raise ApiError(404, "not_found", f"no order {order_no}")
    return lines


@router.get("/returns/new")
async def new_return(request: Request,
                     order_no: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
    """The return form for one order: its lines, how many of each come back, refund or
    exchange, the category and the customer's words."""
    user = await signed_in(request)
    if not user.has(*CREATE_RETURN_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not ask for returns")
    lines = await _order_lines(request, user, order_no)
    return _return_form(request, order_no, lines,
                        values={"request_key": uuid.uuid4().hex, "kind": "refund"})


def _return_form(request: Request, order_no: str, lines: list[dict[str, Any]],
                 status: int = 200, *, values: dict[str, str],
                 errors: dict[str, str] | None = None) -> Response:
    return render(request, "return_new.html", status, section="cases", order_no=order_no,
                  lines=lines, values=values, errors=errors or {},
                  categories=[str(r) for r in ReturnReason])


@router.post("/returns/new")
async def create_return(request: Request,
                        order_no: Annotated[str, Query(min_length=1, max_length=64)]
                        ) -> Response:
    """As POST /api/v1/returns (the same rules and service; the form's one-time key is the
    Idempotency-Key)."""
    user = await signed_in(request)
    if not user.has(*CREATE_RETURN_ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not ask for returns")
    form = await checked_form(request)
    lines = await _order_lines(request, user, order_no)
    items = []
    for i, line in enumerate(lines):
        qty = form.get(f"items.{i}.quantity", "").strip()
        if qty and qty != "0":
            items.append({"sku": line["sku"], "quantity": ascii_int(qty, qty)})
            other = form.get(f"items.{i}.exchange_sku", "").strip()
            price = form.get(f"items.{i}.exchange_unit_price", "").strip()
            if other:  # an exchange for another SKU or size (its price: given, or catalogue)
                items[-1]["exchange_sku"] = other
                if price:
                    items[-1]["exchange_unit_price"] = price
    try:
        body = ReturnCreate.model_validate({
            "order_no": order_no, "items": items, "kind": form.get("kind", ""),
            "reason": form.get("reason", ""), "category": form.get("category") or None,
            "quality_issue": form.get("quality_issue") == "true"})
    except ValidationError as err:
        errors = invalid_fields(err, depth=1)
        return _return_form(request, order_no, lines, 422, values=form, errors=errors)
    svc = svc_of(request)
    try:
        # As POST /api/v1/returns, with the form's one-time key as the Idempotency-Key.
        response = await keyed.create_return(svc, user, body, form.get("request_key") or None)
    except Refused as err:
        if err.status not in (409, 422, 503):
            raise
        key = ("items" if "quantity" in err.code or "returnable" in err.code
               or "exchange_sku" in str((err.details or {}).get("loc", "")) else "")
        if (err.details or {}).get("loc") == ["body", "kind"]:
            key = "kind"  # a repair of a missing item
        return _return_form(request, order_no, lines, err.status, values=form,
                            errors={key: err.message, "": err.message})
    created = json.loads(bytes(response.body))
    return redirect(f"/ui/cases/return/{created['id']}?note=created")
