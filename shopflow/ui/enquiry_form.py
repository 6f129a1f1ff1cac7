"""The enquiry form (咨询, seed 003): customer service keys in a question taken on the phone,
by e-mail or chat, from the customer's page or blank. It goes through the service of
``POST /api/v1/enquiries`` with the form's one-time key as the Idempotency-Key (a double
submit answers with the first enquiry)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shopflow.api import keyed
from shopflow.api.errors import ApiError
from shopflow.models.enquiry_schemas import EnquiryCreate
from shopflow.ui.pages import (
    CUSTOMER_FORM_KEYS,
    PageRoute,
    customer_form_values,
    keyed_create_form,
    render,
    signed_in,
)
from shopflow.workflows.vocab import ENQUIRY_CHANNELS

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
ROLES = ("channel", "cs")  # as POST /api/v1/enquiries


@router.get("/enquiries/new")
async def new_enquiry(request: Request,
                      customer: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """The form; ``?customer=<id>`` (the customer's page) fills in their profile."""
    user = await signed_in(request)
    if not user.has(*ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not take enquiries")
    return await _form(request, values=await customer_form_values(request, user, customer))


async def _form(request: Request, status: int = 200, *, values: Any,
          errors: dict[str, str] | None = None) -> Response:
    return render(request, "enquiry_new.html", status, section="cases", values=values,
                  errors=errors or {}, channels=ENQUIRY_CHANNELS)


@router.post("/enquiries/new")
async def create_enquiry(request: Request) -> Response:
    """As POST /api/v1/enquiries: the same checks and service."""
    user = await signed_in(request)
    if not user.has(*ROLES):
        raise ApiError(403, "forbidden", f"role {user.role} may not take enquiries")
    return await keyed_create_form(
        request, user, model=EnquiryCreate, create=keyed.create_enquiry, form=_form,
        case_page="/ui/cases/enquiry/{id}?note=created",
        fields=lambda val: {
            "customer": {k: val(f"customer.{k}") for k in CUSTOMER_FORM_KEYS},
            "order_no": val("order_no"), "subject": val("subject") or "",
            "question": val("question") or "", "channel": val("channel") or ""})
