"""Contact details a channel sent for a known customer: kept as a proposal, shown to customer
service on the customer's pages, applied or dismissed by cs (audited either way)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from shopflow.db import session_scope
from shopflow.models import Customer, CustomerProposal
from shopflow.models.types import utcnow
from shopflow.services.audit import audit, profile_of
from shopflow.services.errors import Refused

PROPOSAL_ROLES = ("cs",)  # and admin: who sees and decides proposals


def propose(session: Session, customer_id: str, source: str, fields: dict[str, Any]) -> None:
    """One open proposal per source and content (a retried request adds nothing)."""
    for p in session.exec(select(CustomerProposal).where(
            CustomerProposal.customer_id == customer_id, CustomerProposal.status == "open")).all():
        if p.source == source and p.fields == fields:
            return
    row = CustomerProposal(customer_id=customer_id, source=source, fields=fields)
    session.add(row)
    session.flush()
    audit(session, source, "customer_proposal", str(row.id), "proposed", None,
          {"customer_id": customer_id, "fields": fields})


def open_proposals(session: Session, customer_id: str) -> list[dict[str, Any]]:
    rows = session.exec(select(CustomerProposal).where(
        CustomerProposal.customer_id == customer_id, CustomerProposal.status == "open")
        .order_by(col(CustomerProposal.id))).all()
    return [{"id": r.id, "source": r.source, "fields": r.fields,
             "created_at": r.created_at.isoformat()} for r in rows]


def decide(engine: Engine, customer_id: str, proposal_id: int, apply: bool,
           actor: str) -> dict[str, Any]:
    with session_scope(engine) as session:
        p = session.get(CustomerProposal, proposal_id, with_for_update=True)
        if p is None or p.customer_id != customer_id:
            raise Refused(404, "not_found", f"no proposal {proposal_id}")
        if p.status != "open":
            raise Refused(409, "proposal_decided", f"the proposal is {p.status}")
        p.status, p.decided_by, p.decided_at = ("applied" if apply else "dismissed"), actor, utcnow()
        session.add(p)
        if apply:
            c = session.get(Customer, customer_id, with_for_update=True)
            if c is None:
                raise Refused(404, "not_found", f"no customer {customer_id}")
            before = profile_of(c)
            for name, value in p.fields.items():
                setattr(c, name, value)
            c.updated_at, c.updated_by = utcnow(), actor
            session.add(c)
            audit(session, actor, "customer", customer_id, "proposal_applied", before, profile_of(c))
        audit(session, actor, "customer_proposal", str(p.id), p.status, {"status": "open"},
              {"status": p.status})
        return {"id": p.id, "status": p.status}
