"""Order records: per-line reservations with backorder waits, stock settled when a parcel leaves
or an order ends, status and KPI times, and the settlement on delivery (invoice, reconciliation,
follow-up due). Every write is keyed, so a retried activity changes nothing twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from shopflow.activities.errors import insufficient_stock
from shopflow.activities.inventory import availability, lock_items, reserve, settle
from shopflow.db import insert_ignore, session_scope
from shopflow.models import (
    BackorderWait,
    FollowupDue,
    Order,
    Payment,
    Reconciliation,
    Reservation,
)
from shopflow.models.types import utcnow
from shopflow.workflows.shared import (
    Act,
    OrderReserve,
    OrderSettle,
    OrderUpdate,
    ReservationKey,
    ReserveRequest,
    StockSettle,
)
from shopflow.workflows.vocab import ORDER_TIMES


def line_key(workflow_id: str, round_no: int, sku: str) -> str:
    return f"{workflow_id}:r{round_no}:{sku}"


def cents(amount: float) -> int:
    return round(amount * 100)


def money(amount_cents: int) -> float:
    return round(amount_cents / 100, 2)


class OrderActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.ORDER_RESERVE)
    def reserve_lines(self, req: OrderReserve) -> dict[str, Any]:
        """Reserve what is there, line by line; short lines wait for a receipt (oldest first)."""
        with session_scope(self.engine) as session:
            return reserve_lines(session, req)

    @activity.defn(name=Act.ORDER_STOCK_SETTLE)
    def settle_stock(self, req: StockSettle) -> dict[str, int]:
        with session_scope(self.engine) as session:
            moved: dict[str, int] = {}
            for key in req.keys:
                for sku, qty in settle(session, ReservationKey(key, req.actor, req.ref),
                                       req.outcome).items():
                    moved[sku] = moved.get(sku, 0) + qty
            if req.close_waits_of:
                session.execute(
                    update(BackorderWait)
                    .where(col(BackorderWait.workflow_id) == req.close_waits_of,
                           col(BackorderWait.status) == "waiting")
                    .values(status="closed", updated_at=utcnow()))
            return moved

    @activity.defn(name=Act.ORDER_UPDATE)
    def update(self, req: OrderUpdate) -> None:
        with session_scope(self.engine) as session:
            order = session.get(Order, req.order_no, with_for_update=True)
            if order is None:
                raise LookupError(req.order_no)  # the API writes the row before starting
            # KPI times: the first one counts (the first shipment, the first exception …).
            for name, value in req.times.items():
                if name in ORDER_TIMES and getattr(order, name) is None:
                    setattr(order, name, value)
            if req.exception is not None:
                known = {e.get("key") for e in order.exceptions}
                if req.exception.get("key") not in known:
                    order.exceptions = [*order.exceptions, req.exception]
                    order.exception_count += 1
                    if order.first_exception_at is None:
                        order.first_exception_at = req.at
            if req.cancel_reason is not None and order.cancel_reason is None:
                order.cancel_reason = req.cancel_reason
            # Status only moves forward: writes of one workflow can finish out of order.
            if req.version > order.version:
                order.version = req.version
                if req.status is not None:
                    order.status = req.status
                if req.stage is not None:
                    order.stage = req.stage
            order.updated_at = utcnow()
            session.add(order)

    @activity.defn(name=Act.ORDER_STOCK_CONTEXT)
    def stock_context(self, skus: list[str]) -> dict[str, int]:
        with session_scope(self.engine, write=False) as session:
            return availability(session, skus)

    @activity.defn(name=Act.ORDER_SETTLE)
    def settle(self, req: OrderSettle) -> dict[str, Any]:
        """Invoice, the sale line for finance and the follow-up that is now due."""
        with session_scope(self.engine) as session:
            order = session.get(Order, req.order_no, with_for_update=True)
            if order is None:
                raise LookupError(req.order_no)
            if order.invoice_no is None:
                order.invoice_no = f"INV-{order.order_no}"
                order.invoiced_at = req.at
                session.add(order)
            payments = session.exec(select(Payment).where(Payment.order_no == req.order_no)
                                    .order_by(col(Payment.id))).all()
            insert_ignore(session, Reconciliation.__table__, [{
                "key": f"sale:{req.order_no}", "order_no": req.order_no, "kind": "sale",
                "amount": round(sum(p.amount for p in payments), 2),
                "method": order.payment_method,
                "reference": ",".join(p.transaction_id for p in payments),
                "invoice_no": order.invoice_no, "status": "open", "created_at": req.at,
            }], ["key"])
            insert_ignore(session, FollowupDue.__table__, [{
                "workflow_id": req.followup_workflow_id, "source_kind": "order",
                "source_id": req.order_no, "order_no": req.order_no,
                "customer_id": order.customer_id, "reason": "delivered",
                "due_at": req.followup_due_at, "status": req.followup_status,
                "created_at": req.at,
            }], ["workflow_id"])
            return {"invoice_no": order.invoice_no,
                    "invoiced_at": order.invoiced_at.isoformat() if order.invoiced_at else None}


def reserve_lines(session: Session, req: OrderReserve) -> dict[str, Any]:
    keys = {line.sku: line_key(req.workflow_id, req.round, line.sku) for line in req.lines}
    if req.all_or_none:
        held = {r.key for r in session.exec(
            select(Reservation).where(col(Reservation.key).in_(list(keys.values()))))}
        items = lock_items(session, [line.sku for line in req.lines])
        for line in req.lines:
            item = items.get(line.sku)
            available = item.available if item else 0
            if keys[line.sku] not in held and line.quantity > available:
                raise insufficient_stock(line.sku, available, line.quantity)
    reserved: list[str] = []
    short: dict[str, int] = {}
    for line in req.lines:
        try:
            reserve(session, ReserveRequest(keys[line.sku], [line], req.actor))
        except ApplicationError as err:
            info = err.details[0] if err.details else {}
            if not (isinstance(info, dict) and info.get("code") == "insufficient_stock"):
                raise
            short[line.sku] = line.quantity
            continue
        reserved.append(line.sku)
    now = utcnow()
    if short:
        insert_ignore(session, BackorderWait.__table__, [{
            "workflow_id": req.workflow_id, "case_kind": req.case_kind, "case_id": req.case_id,
            "sku": sku, "quantity": qty, "status": "waiting", "since": now, "updated_at": now,
        } for sku, qty in short.items()], ["workflow_id", "sku"])
    if reserved:
        session.execute(
            update(BackorderWait)
            .where(col(BackorderWait.workflow_id) == req.workflow_id,
                   col(BackorderWait.sku).in_(reserved), col(BackorderWait.status) == "waiting")
            .values(status="released", updated_at=now))
    return {"reserved": reserved, "short": short,
            "available": availability(session, list(short)) if short else {}}


def waiting_for(session: Session, sku: str, limit: int = 200) -> list[BackorderWait]:
    """The cases waiting for ``sku``, oldest first."""
    return list(session.exec(
        select(BackorderWait).where(BackorderWait.sku == sku, BackorderWait.status == "waiting")
        .order_by(col(BackorderWait.since), col(BackorderWait.id)).limit(limit)))
