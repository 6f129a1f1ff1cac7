"""The audit trail: who changed a customer profile, a token, a setting-like record (a product)
or a task's assignment, when, and what it was before and after. Read by ops through
``GET /api/v1/audit?entity=&id=``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from shopflow.db import session_scope
from shopflow.models import AuditEvent

ENTITIES = ("customer", "customer_proposal", "token", "product", "task", "setting", "invoice",
            "reconciliation", "person")


def audit(session: Session, actor: str, entity: str, entity_id: str, action: str,
          before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Record one change in the caller's transaction (it commits or rolls back with it)."""
    session.add(AuditEvent(actor=actor, entity=entity, entity_id=str(entity_id), action=action,
                           before=_plain(before), after=_plain(after)))


def profile_of(customer: Any) -> dict[str, Any]:
    """The audited part of a customer profile (not the bookkeeping fields)."""
    profile: dict[str, Any] = customer.model_dump(
        mode="json", exclude={"created_at", "updated_at", "updated_by"})
    return profile


def audit_events(engine: Engine, entity: str | None, entity_id: str | None, offset: int,
                 limit: int) -> tuple[list[dict[str, Any]], int]:
    from sqlalchemy import func

    conds = []
    if entity:
        conds.append(col(AuditEvent.entity) == entity)
    if entity_id:
        conds.append(col(AuditEvent.entity_id) == entity_id)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(AuditEvent).where(*conds)).one()
        rows = session.exec(select(AuditEvent).where(*conds)
                            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
                            .offset(offset).limit(limit)).all()
    return [r.model_dump(mode="json") for r in rows], int(total)


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    import json

    plain: dict[str, Any] = json.loads(json.dumps(value, default=str))  # datetimes, dates: ISO
    return plain
