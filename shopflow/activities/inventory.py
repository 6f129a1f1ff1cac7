"""Stock: reservations that cases take, consume and release, each exactly once per key."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from shopflow.activities.errors import business_error, insufficient_stock
from shopflow.db import insert_ignore, session_scope
from shopflow.models import InventoryItem, Product, Reservation, StockMovement
from shopflow.models.types import utcnow
from shopflow.workflows.shared import Act, ErrorType, ReservationKey, ReserveRequest


class InventoryActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.STOCK_RESERVE)
    def reserve(self, req: ReserveRequest) -> dict[str, int]:
        with session_scope(self.engine) as session:
            return reserve(session, req)

    @activity.defn(name=Act.STOCK_CONSUME)
    def consume(self, req: ReservationKey) -> dict[str, int]:
        with session_scope(self.engine) as session:
            return settle(session, req, "consumed")

    @activity.defn(name=Act.STOCK_RELEASE)
    def release(self, req: ReservationKey) -> dict[str, int]:
        with session_scope(self.engine) as session:
            return settle(session, req, "released")


def lock_items(session: Session, skus: list[str]) -> dict[str, InventoryItem]:
    rows = session.exec(
        select(InventoryItem).where(col(InventoryItem.sku).in_(skus))
        .order_by(col(InventoryItem.sku)).with_for_update()
    )
    return {row.sku: row for row in rows}


def reserve(session: Session, req: ReserveRequest) -> dict[str, int]:
    """Hold every line or none. A repeated call with the same key returns the first holding."""
    existing = session.exec(select(Reservation).where(Reservation.key == req.key)).all()
    if existing:
        return {r.sku: r.quantity for r in existing}
    wanted: dict[str, int] = {}
    for line in req.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    items = lock_items(session, list(wanted))
    for sku, qty in wanted.items():
        item = items.get(sku)
        if item is None:
            raise business_error(ErrorType.INVALID, "unknown_sku", f"unknown SKU {sku}", sku=sku)
        if qty > item.available:
            raise insufficient_stock(sku, item.available, qty)
    now = utcnow()
    for sku, qty in wanted.items():
        item = items[sku]
        item.reserved += qty
        item.updated_at = now
        session.add(item)
        session.add(Reservation(key=req.key, sku=sku, quantity=qty))
        session.add(StockMovement(dedup_key=f"{req.key}:{sku}:reserve", sku=sku,
                                  reserved_delta=qty, reason="reserve", ref=req.key,
                                  actor=req.actor))
    return wanted


def settle(session: Session, req: ReservationKey, outcome: str) -> dict[str, int]:
    """Turn held reservations into a stock decrement (consumed) or give them back (released).
    Only held rows change, so a retry changes nothing."""
    held = session.exec(
        select(Reservation).where(Reservation.key == req.key, Reservation.status == "held")
        .with_for_update()
    ).all()
    if not held:
        return {}
    items = lock_items(session, [r.sku for r in held])
    now = utcnow()
    for res in held:
        item = items[res.sku]
        item.reserved -= res.quantity
        on_hand_delta = -res.quantity if outcome == "consumed" else 0
        item.on_hand += on_hand_delta
        item.updated_at = now
        res.status, res.updated_at = outcome, now
        session.add(item)
        session.add(res)
        session.add(StockMovement(dedup_key=f"{req.key}:{res.sku}:{outcome}", sku=res.sku,
                                  on_hand_delta=on_hand_delta, reserved_delta=-res.quantity,
                                  reason=outcome, ref=req.ref or req.key, actor=req.actor))
    return {r.sku: r.quantity for r in held}


def receive(session: Session, sku: str, quantity: int, note: str, actor: str,
            dedup_key: str) -> InventoryItem:
    """Book goods in. ``dedup_key`` makes a repeated receipt a no-op."""
    if session.get(Product, sku) is None:
        raise LookupError(sku)
    items = lock_items(session, [sku])
    item = items.get(sku)
    if item is None:
        insert_ignore(session, InventoryItem.__table__, [{"sku": sku, "on_hand": 0,
                      "reserved": 0, "damaged": 0, "updated_at": utcnow()}], ["sku"])
        item = lock_items(session, [sku])[sku]
    inserted = insert_ignore(session, StockMovement.__table__, [{
        "dedup_key": dedup_key, "sku": sku, "on_hand_delta": quantity, "reserved_delta": 0,
        "damaged_delta": 0, "reason": "receipt", "ref": note, "actor": actor, "at": utcnow(),
    }], ["dedup_key"])
    if inserted:
        item.on_hand += quantity
        item.updated_at = utcnow()
        session.add(item)
    return item


def availability(session: Session, skus: list[str]) -> dict[str, int]:
    rows = session.exec(select(InventoryItem).where(col(InventoryItem.sku).in_(skus)))
    found = {r.sku: r.available for r in rows}
    return {sku: found.get(sku, 0) for sku in skus}
