"""Customer profiles: read by staff, edited by customer service and finance."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from shopflow.activities.customers import purchase_history, upsert_customer
from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, require
from shopflow.api.errors import ApiError
from shopflow.db import session_scope
from shopflow.models import Customer
from shopflow.models.schemas import CustomerPublic, CustomerUpdate
from shopflow.models.types import utcnow
from shopflow.services.audit import audit, profile_of
from shopflow.workflows.shared import CustomerData

router = APIRouter(prefix="/customers", tags=["customers"])


def customer_public(session: Any, customer: Customer) -> dict[str, Any]:
    return {**customer.model_dump(mode="json"),
            "purchase_history": purchase_history(session, customer.id)}


@router.get("/{customer_id}", response_model=CustomerPublic)
async def get_customer(customer_id: str, svc: ServicesDep,
                       _: Annotated[User, Depends(require("cs", "finance", "reviewer", "ops"))]
                       ) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            c = session.get(Customer, customer_id)
            if c is None:
                raise ApiError(404, "not_found", f"no customer {customer_id}")
            return customer_public(session, c)

    return await svc.db(load)


@router.put("/{customer_id}", response_model=CustomerPublic)
async def put_customer(customer_id: str, body: CustomerUpdate, svc: ServicesDep,
                       user: Annotated[User, Depends(require("cs", "finance"))]) -> dict[str, Any]:
    if len(customer_id) > 64:
        raise ApiError(422, "invalid_input", "customer id is at most 64 characters")

    def save() -> dict[str, Any]:
        fields = body.model_dump(exclude_unset=True)
        with session_scope(svc.engine) as session:
            existing = session.get(Customer, customer_id)
            before = profile_of(existing) if existing is not None else None
            c = upsert_customer(session, CustomerData(id=customer_id, name=fields.get("name") or ""))
            for name, value in fields.items():
                setattr(c, name, value)
            c.updated_at, c.updated_by = utcnow(), user.name
            session.add(c)
            session.flush()
            audit(session, user.name, "customer", customer_id,
                  "updated" if before is not None else "created", before, profile_of(c))
            return customer_public(session, c)

    return await svc.db(save)
