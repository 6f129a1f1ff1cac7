"""Customer profiles: upserted by every request that carries a customer; review context."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio import activity

from shopflow.activities.inventory import availability
from shopflow.db import insert_ignore, session_scope
from shopflow.models import Customer, Order
from shopflow.models.types import utcnow
from shopflow.workflows.shared import Act, CustomerData, ReviewContextRequest

PROFILE_FIELDS = ("name", "company", "email", "phone", "address", "locale")


class CustomerActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.CUSTOMER_UPSERT)
    def upsert(self, data: CustomerData) -> None:
        with session_scope(self.engine) as session:
            upsert_customer(session, data)

    @activity.defn(name=Act.REVIEW_CONTEXT)
    def review_context(self, req: ReviewContextRequest) -> dict[str, Any]:
        with session_scope(self.engine, write=False) as session:
            customer = session.get(Customer, req.customer_id)
            return {
                "credit_rating": customer.credit_rating if customer else "unknown",
                "tags": list(customer.tags) if customer else [],
                "purchase_history": purchase_history(session, req.customer_id),
                "stock_available": availability(session, req.skus),
            }


def upsert_customer(session: Session, data: CustomerData) -> Customer:
    """Create the profile, or fill in what the request brings; never blank a known field."""
    insert_ignore(session, Customer.__table__, [{
        "id": data.id, "name": data.name or "", "locale": data.locale or "zh-CN", "tags": [],
        "credit_rating": "B", "created_at": utcnow(), "updated_at": utcnow(),
    }], ["id"])
    customer = session.get(Customer, data.id, with_for_update=True)
    assert customer is not None
    for name in PROFILE_FIELDS:
        value = getattr(data, name)
        if value:
            setattr(customer, name, value)
    customer.updated_at = utcnow()
    session.add(customer)
    return customer


def purchase_history(session: Session, customer_id: str) -> dict[str, Any]:
    count, value = session.exec(
        select(func.count(), func.coalesce(func.sum(Order.total), 0.0))
        .where(Order.customer_id == customer_id, Order.status != "cancelled")
    ).one()
    return {"orders_count": int(count), "orders_value": round(float(value), 2)}
