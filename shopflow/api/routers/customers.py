"""Customer profiles: read by staff, edited by customer service and finance."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, require
from shopflow.models.schemas import CustomerPublic, CustomerUpdate
from shopflow.services import customers

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("/{customer_id}", response_model=CustomerPublic)
async def get_customer(customer_id: str, svc: ServicesDep,
                       _: Annotated[User, Depends(require("cs", "finance", "reviewer", "ops"))]
                       ) -> dict[str, Any]:
    return await svc.db(customers.customer_view, svc.engine, customer_id)


@router.put("/{customer_id}", response_model=CustomerPublic)
async def put_customer(customer_id: str, body: CustomerUpdate, svc: ServicesDep,
                       user: Annotated[User, Depends(require("cs", "finance"))]) -> dict[str, Any]:
    return await svc.db(customers.edit_customer, svc.engine, customer_id,
                        body.model_dump(exclude_unset=True), user.name)
