"""Customer profiles: upserted by every request that carries a customer, read and edited by
staff, and the context a reviewer sees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Customer, Order
from shopflow.models.types import utcnow
from shopflow.services.audit import audit, profile_of
from shopflow.services.errors import Refused
from shopflow.services.inventory import availability
from shopflow.services.proposals import open_proposals, propose
from shopflow.services.scoping import unreadable_kinds
from shopflow.settings import Settings
from shopflow.workflows.shared import CustomerData, ReviewContext, ReviewContextRequest

PROFILE_FIELDS = ("name", "company", "email", "phone", "address", "locale")
# Who reads profiles (credit rating, purchase history): the API and the web pages alike.
READ_ROLES = ("cs", "finance", "reviewer", "ops")
UNRATED = "unrated"


def upsert_customer(session: Session, data: CustomerData) -> Customer:
    """Create the profile, or fill in what the request brings; never blank a known field.
    A known customer's details are changed only by a request that may (customer service,
    ``data.overwrite``); others' differing details are kept as a proposal for cs (issue 16)."""
    new = insert_ignore(session, Customer, [{
        "id": data.id, "name": data.name or "", "locale": data.locale or "zh-CN", "tags": [],
        "credit_rating": None, "created_at": utcnow(), "updated_at": utcnow(),
    }], ["id"])
    customer = session.get(Customer, data.id, with_for_update=True)
    assert customer is not None
    before = profile_of(customer)
    proposed: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = getattr(data, name)
        if not value or value == getattr(customer, name):
            continue
        if new or data.overwrite or not getattr(customer, name):
            setattr(customer, name, value)  # a new customer, cs, or a blank field filled in
        else:
            proposed[name] = value
    if proposed:
        propose(session, customer.id, data.source or "unknown", proposed)
    customer.updated_at = utcnow()
    session.add(customer)
    after = profile_of(customer)
    if not new and after != before:
        audit(session, data.source or "system", "customer", customer.id, "updated", before, after)
    return customer


def upsert(engine: Engine, data: CustomerData) -> None:
    with session_scope(engine) as session:
        upsert_customer(session, data)


def purchase_history(session: Session, customer_id: str) -> dict[str, Any]:
    count, value = session.exec(
        select(func.count(), func.coalesce(func.sum(Order.total_cents), 0))
        .where(Order.customer_id == customer_id, Order.status != "cancelled")
    ).one()
    return {"orders_count": int(count), "orders_value": round(int(value) / 100, 2)}


def customer_public(session: Session, customer: Customer) -> dict[str, Any]:
    return {**customer.model_dump(mode="json"),
            "purchase_history": purchase_history(session, customer.id)}


def customer_view(engine: Engine, customer_id: str, *,
                  with_proposals: bool = False) -> dict[str, Any]:
    """The profile; ``with_proposals`` (customer service): also the open proposals."""
    with session_scope(engine, write=False) as session:
        c = session.get(Customer, customer_id)
        if c is None:
            raise Refused(404, "not_found", f"no customer {customer_id}")
        out = customer_public(session, c)
        if with_proposals:
            out["proposals"] = open_proposals(session, customer_id)
        return out


def customer_cases(engine: Engine, role: str, customer_id: str, page: int,
                   page_size: int) -> dict[str, Any]:
    """Every case of the customer, newest first, of the processes ``role`` may read (404: no
    such customer)."""
    conds: list[Any] = [Case.customer_id == customer_id]
    hidden = unreadable_kinds(role)
    if hidden:
        conds.append(col(Case.kind).not_in(hidden))
    with session_scope(engine, write=False) as session:
        if session.get(Customer, customer_id) is None:
            raise Refused(404, "not_found", f"no customer {customer_id}")
        total = session.exec(select(func.count()).select_from(Case).where(*conds)).one()
        rows = session.exec(select(Case).where(*conds)
                            .order_by(col(Case.created_at).desc(), col(Case.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return {"items": [{"id": c.id, "kind": c.kind, "workflow_id": c.workflow_id,
                       "status": c.status, "stage": c.stage, "created_at": c.created_at,
                       "updated_at": c.updated_at, "closed_at": c.closed_at} for c in rows],
            "total": int(total), "page": page, "page_size": page_size}


def edit_customer(engine: Engine, customer_id: str, fields: dict[str, Any],
                  actor: str) -> dict[str, Any]:
    """Staff edit a profile (created if new), audited; only the fields given change."""
    if len(customer_id) > 64:
        raise Refused(422, "invalid_input", "customer id is at most 64 characters")
    with session_scope(engine) as session:
        existing = session.get(Customer, customer_id)
        before = profile_of(existing) if existing is not None else None
        c = upsert_customer(session, CustomerData(id=customer_id, name=fields.get("name") or "",
                                                  source=actor, overwrite=True))
        for name, value in fields.items():
            setattr(c, name, value)
        c.updated_at, c.updated_by = utcnow(), actor
        session.add(c)
        session.flush()
        audit(session, actor, "customer", customer_id,
              "updated" if before is not None else "created", before, profile_of(c))
        return customer_public(session, c)


def review_context(engine: Engine, req: ReviewContextRequest,
                   settings: Settings | None = None) -> ReviewContext:
    with session_scope(engine, write=False) as session:
        customer = session.get(Customer, req.customer_id)
        limit: dict[str, Any] = {}
        if settings is not None:
            limit = sample_limit_view(session, settings, req.customer_id, req.sample_id)
        return ReviewContext(
            # a customer nobody has rated is "unrated", never a default grade
            credit_rating=(customer.credit_rating if customer else None) or UNRATED,
            tags=list(customer.tags) if customer else [],
            purchase_history=purchase_history(session, req.customer_id),
            stock_available=availability(session, req.skus),
            past_samples=past_samples(session, req.customer_id, req.sample_id),
            sample_limit=limit,
        )


# Sample outcomes as the reviewer reads them (seed 000 2.1: 采购历史, what came of earlier ones).
SAMPLE_OUTCOMES = {"archived": "shipped", "rejected": "rejected", "cancelled": "cancelled"}
# Sample requests that do not count against the limit: nothing was sent.
NOT_COUNTED = ("rejected", "cancelled")


def past_samples(session: Session, customer_id: str, exclude: str = "",
                 limit: int = 20) -> list[dict[str, Any]]:
    """The customer's earlier sample requests, newest first: when, the outcome (shipped,
    rejected, cancelled, or still open), what was approved, the feedback score and whether the
    customer ordered after it (any order not cancelled, placed after the request)."""
    rows = session.exec(select(Case).where(
        Case.kind == "sample", Case.customer_id == customer_id, Case.id != exclude)
        .order_by(col(Case.created_at).desc(), col(Case.id)).limit(limit)).all()
    out = []
    for c in rows:
        data = c.data or {}
        shipped = bool(data.get("shipment"))
        ordered = session.exec(select(func.count()).select_from(Order).where(
            Order.customer_id == customer_id, Order.status != "cancelled",
            col(Order.created_at) > c.created_at)).one()
        out.append({
            "id": c.id, "requested_at": c.created_at.isoformat(), "status": c.status,
            "outcome": SAMPLE_OUTCOMES.get(c.status, "shipped" if shipped else "open"),
            "items": [{"sku": i.get("sku"), "approved_quantity": i.get("approved_quantity")}
                      for i in data.get("items") or [] if isinstance(i, dict)],
            "satisfaction": (data.get("feedback") or {}).get("satisfaction"),
            "ordered_after": int(ordered) > 0,
        })
    return out


def samples_in_period(session: Session, customer_id: str, since: datetime,
                      exclude: str = "") -> int:
    """The customer's sample requests since ``since`` that count against the limit."""
    return int(session.exec(select(func.count()).select_from(Case).where(
        Case.kind == "sample", Case.customer_id == customer_id, Case.id != exclude,
        col(Case.created_at) >= since, col(Case.status).not_in(NOT_COUNTED))).one())


def sample_limit_view(session: Session, settings: Settings, customer_id: str,
                      exclude: str = "") -> dict[str, Any]:
    """The limit (``SHOPFLOW_SAMPLE_LIMIT_PER_CUSTOMER`` per ``SHOPFLOW_SAMPLE_LIMIT_PERIOD``)
    and how many of it the customer used before this request; limit 0: none."""
    period = settings.sample_limit_period
    used = samples_in_period(session, customer_id, utcnow() - period, exclude)
    return {"limit": settings.sample_limit_per_customer, "period_days": period.days,
            "used": used}
