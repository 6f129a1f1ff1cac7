"""Customer profiles: read by staff, edited by customer service and finance; customer service
applies or dismisses the contact details a channel proposed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.models.schemas import CustomerCase, CustomerPublic, CustomerUpdate, PageOf
from shopflow.services import customers
from shopflow.services.proposals import PROPOSAL_ROLES, decide

router = APIRouter(prefix="/customers", tags=["customers"])
READ_ROLES = customers.READ_ROLES  # who reads profiles; the web pages follow the same list


@router.get("/{customer_id}", response_model=CustomerPublic)
async def get_customer(customer_id: str, svc: ServicesDep,
                       user: Annotated[User, Depends(require(*READ_ROLES))]
                       ) -> dict[str, Any]:
    """The profile; for customer service also the open proposals (contact details a channel
    sent that differ from the profile)."""
    return await svc.db(customers.customer_view, svc.engine, customer_id,
                        with_proposals=user.has(*PROPOSAL_ROLES))


@router.get("/{customer_id}/cases", response_model=PageOf[CustomerCase],
            responses={403: {}, 404: {}})
async def customer_cases(customer_id: str, svc: ServicesDep, page: PageDep,
                         user: Annotated[User, Depends(require(*READ_ROLES))]
                         ) -> dict[str, Any]:
    """Every case of the customer (samples, orders, returns, complaints, follow-ups, revisits),
    newest first: those of the processes the caller's role may read."""
    return await svc.db(customers.customer_cases, svc.engine, user.role, customer_id,
                        page.page, page.page_size)


@router.put("/{customer_id}", response_model=CustomerPublic)
async def put_customer(customer_id: str, body: CustomerUpdate, svc: ServicesDep,
                       user: Annotated[User, Depends(require("cs", "finance"))]) -> dict[str, Any]:
    return await svc.db(customers.edit_customer, svc.engine, customer_id,
                        body.model_dump(exclude_unset=True), user.name)


@router.post("/{customer_id}/proposals/{proposal_id}/{decision}",
             responses={404: {}, 409: {}})
async def decide_proposal(customer_id: str, proposal_id: int,
                          decision: Literal["apply", "dismiss"], svc: ServicesDep,
                          user: Annotated[User, Depends(require(*PROPOSAL_ROLES))]
                          ) -> dict[str, Any]:
    """Customer service applies a channel's proposed contact details, or dismisses them."""
    return await svc.db(decide, svc.engine, customer_id, proposal_id, decision == "apply",
                        user.name)
