"""Stock: products, receipts, availability, reservations that cases take, consume and release
(each exactly once per key), backorder waits and waking them after a receipt."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from shopflow.db import insert_ignore, session_scope
from shopflow.models import BackorderWait, InventoryItem, Product, Reservation, StockMovement
from shopflow.models.types import utcnow
from shopflow.services.audit import audit
from shopflow.services.errors import Refused, business_error, insufficient_stock
from shopflow.workflows.backorders import BackorderWakeWorkflow, wake_workflow_id
from shopflow.workflows.shared import (
    BackorderWake,
    ErrorType,
    OrderReserve,
    ReservationKey,
    ReserveRequest,
    StockArrived,
    StockSettle,
)

log = structlog.get_logger(__name__)


# --- products and receipts -----------------------------------------------------------------

def inventory_public(item: InventoryItem) -> dict[str, Any]:
    return {"sku": item.sku, "on_hand": item.on_hand, "reserved": item.reserved,
            "available": item.available, "damaged": item.damaged}


PRODUCT_FIELDS = ("name", "sample_limit", "returnable", "price_cents", "specification", "origin")


def product_row(product: dict[str, Any]) -> dict[str, Any]:
    """A product request (``price`` a decimal) as its row's values (``price_cents``)."""
    row = {k: v for k, v in product.items() if k != "price"}
    if "price" in product:
        price = product["price"]
        row["price_cents"] = None if price is None else int(
            (Decimal(str(price)) * 100).to_integral_value())
    return row


def product_public(p: Product) -> dict[str, Any]:
    return {"sku": p.sku, "name": p.name, "sample_limit": p.sample_limit,
            "returnable": p.returnable, "price": p.price, "specification": p.specification,
            "origin": p.origin}


def create_product(engine: Engine, product: dict[str, Any], actor: str) -> dict[str, Any]:
    """A product and its (empty) stock record, audited; the same product again is a no-op."""
    row = {"returnable": True, "price_cents": None, "specification": None, "origin": None,
           **product_row(product)}
    with session_scope(engine) as session:
        inserted = insert_ignore(session, Product, [{**row, "created_at": utcnow()}], ["sku"])
        existing = session.get(Product, row["sku"])
        assert existing is not None
        if not inserted:
            if any(getattr(existing, k) != row[k] for k in PRODUCT_FIELDS):
                raise Refused(409, "sku_exists", f"product {row['sku']} exists already")
        else:
            audit(session, actor, "product", row["sku"], "created", None, row)
        insert_ignore(session, InventoryItem, [{
            "sku": row["sku"], "on_hand": 0, "reserved": 0, "damaged": 0,
            "updated_at": utcnow()}], ["sku"])
        return product_public(existing)


def change_product(engine: Engine, sku: str, change: dict[str, Any], actor: str
                   ) -> dict[str, Any]:
    """``PATCH /products/{sku}``: the fields given (a null price, specification or origin
    clears it), audited with before and after."""
    row = product_row(change)
    with session_scope(engine) as session:
        product = session.get(Product, sku)
        if product is None:
            raise Refused(404, "not_found", f"no product {sku}")
        for key in ("name", "sample_limit", "returnable"):
            if row.get(key) is None:
                row.pop(key, None)  # these cannot be cleared
        before = {k: getattr(product, k) for k in row}
        for key, value in row.items():
            setattr(product, key, value)
        session.add(product)
        if before != row:
            audit(session, actor, "product", sku, "changed", before, row)
        session.flush()
        return product_public(product)


def list_products(engine: Engine, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Product)).one()
        rows = session.exec(select(Product).order_by(col(Product.sku))
                            .offset(offset).limit(limit)).all()
    return int(total), [product_public(p) for p in rows]


def stock_of(engine: Engine, sku: str) -> dict[str, Any]:
    with session_scope(engine, write=False) as session:
        item = session.get(InventoryItem, sku)
        if item is None:
            raise Refused(404, "not_found", f"no stock record for {sku}")
        return inventory_public(item)


def book_receipt(engine: Engine, sku: str, quantity: int, note: str, actor: str,
                 dedup_key: str) -> tuple[dict[str, Any], bool]:
    """A receipt booked once per ``dedup_key``: the stock record after it, and whether cases
    wait for the SKU (then the caller starts the wake-up, ``start_backorder_wake``)."""
    with session_scope(engine) as session:
        try:
            item = receive(session, sku, quantity, note, actor, dedup_key)
        except LookupError:
            raise Refused(422, "unknown_sku", f"unknown SKU {sku}") from None
        return inventory_public(item), bool(waiting_for(session, sku, limit=1))


def lock_items(session: Session, skus: list[str]) -> dict[str, InventoryItem]:
    rows = session.exec(
        select(InventoryItem).where(col(InventoryItem.sku).in_(skus))
        .order_by(col(InventoryItem.sku)).with_for_update()
    )
    return {row.sku: row for row in rows}


def receive(session: Session, sku: str, quantity: int, note: str, actor: str,
            dedup_key: str) -> InventoryItem:
    """Book goods in. ``dedup_key`` makes a repeated receipt a no-op."""
    if session.get(Product, sku) is None:
        raise LookupError(sku)
    items = lock_items(session, [sku])
    item = items.get(sku)
    if item is None:
        insert_ignore(session, InventoryItem, [{"sku": sku, "on_hand": 0,
                      "reserved": 0, "damaged": 0, "updated_at": utcnow()}], ["sku"])
        item = lock_items(session, [sku])[sku]
    inserted = insert_ignore(session, StockMovement, [{
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


def available_now(engine: Engine, skus: list[str]) -> dict[str, int]:
    with session_scope(engine, write=False) as session:
        return availability(session, skus)


# --- reservations --------------------------------------------------------------------------

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


def line_key(workflow_id: str, round_no: int, sku: str) -> str:
    return f"{workflow_id}:r{round_no}:{sku}"


def reserve_lines(session: Session, req: OrderReserve) -> dict[str, Any]:
    """Reserve what is there, line by line (one reservation per line); short lines wait for a
    receipt (a backorder wait, oldest first) unless ``all_or_none`` refuses the whole request."""
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
        insert_ignore(session, BackorderWait, [{
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


def settle_stock(session: Session, req: StockSettle) -> dict[str, int]:
    """Settle every key's reservations; close the backorder waits of a case that ends."""
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


# --- backorders ----------------------------------------------------------------------------

def waiting_for(session: Session, sku: str, limit: int = 200) -> list[BackorderWait]:
    """The cases waiting for ``sku``, oldest first."""
    return list(session.exec(
        select(BackorderWait).where(BackorderWait.sku == sku, BackorderWait.status == "waiting")
        .order_by(col(BackorderWait.since), col(BackorderWait.id)).limit(limit)))


def backorder_waits(session: Session, workflow_id: str) -> list[BackorderWait]:
    return list(session.exec(select(BackorderWait)
                             .where(BackorderWait.workflow_id == workflow_id)
                             .order_by(col(BackorderWait.id))))


def _close_wait(engine: Engine, workflow_id: str, sku: str) -> None:
    with session_scope(engine) as session:
        wait = session.exec(select(BackorderWait).where(
            BackorderWait.workflow_id == workflow_id, BackorderWait.sku == sku)).first()
        if wait is not None and wait.status == "waiting":
            wait.status, wait.updated_at = "closed", utcnow()
            session.add(wait)


def _waiting(engine: Engine, sku: str) -> list[tuple[str, str]]:
    with session_scope(engine, write=False) as session:
        return [(w.workflow_id, w.case_id) for w in waiting_for(session, sku)]


async def wake_backorders(client: Client, engine: Engine, sku: str) -> int:
    """A receipt of ``sku`` was booked: offer it to the cases waiting for it, oldest first, one
    after the other (each takes what it needs before the next is asked). Returns how many took
    stock. A case that cannot be reached is left waiting: it looks again before giving up.
    Run by the ``BackorderWake`` workflow's activity, so a crash does not cut it off."""
    woken = 0
    for workflow_id, case_id in await asyncio.to_thread(_waiting, engine, sku):
        if (await asyncio.to_thread(available_now, engine, [sku]))[sku] <= 0:
            break
        try:
            handle = client.get_workflow_handle(workflow_id)
            result = await handle.execute_update("stock_arrived", StockArrived(sku),
                                                 result_type=dict)
        except WorkflowUpdateFailedError as err:
            log.info("backorder not woken", workflow_id=workflow_id, sku=sku,
                     error=str(err.cause))
            continue
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the case ended meanwhile
                await asyncio.to_thread(_close_wait, engine, workflow_id, sku)
                continue
            raise  # Temporal unreachable: the activity is retried
        if result.get("reserved"):
            woken += 1
            log.info("backorder served", workflow_id=workflow_id, case_id=case_id, sku=sku)
    return woken


async def start_backorder_wake(client: Client, task_queue: str, sku: str, receipt_key: str,
                               wait: timedelta = timedelta(seconds=20)) -> int | None:
    """Start ``backorders-<receipt>`` (once per receipt) and wait up to ``wait`` for it: the
    answer to a receipt shows what the waiting cases took. None when it did not answer in
    time or Temporal is unreachable: the wake-up runs on (or the cases look again at their
    deadline; the sweep, ``start_missed_wakes``, starts it later)."""
    try:
        handle = await client.start_workflow(
            BackorderWakeWorkflow.run, BackorderWake(sku), id=wake_workflow_id(receipt_key),
            task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(BackorderWakeWorkflow.run,
                                                wake_workflow_id(receipt_key))
    except (RPCError, RuntimeError) as err:
        log.warning("backorder wake-up not started", sku=sku, error=str(err))
        return None
    try:
        result = await asyncio.wait_for(handle.result(), wait.total_seconds())
    except (TimeoutError, RPCError, WorkflowFailureError) as err:
        log.warning("backorder wake-up still running", sku=sku, error=repr(err))
        return None
    return int(result.woken)


def missed_wakes(engine: Engine) -> list[tuple[str, str]]:
    """(SKU, receipt key) for every SKU that cases wait for while stock of it is available:
    its newest receipt, whose wake-up may never have started (the API died between booking
    the receipt and starting it, or Temporal was unreachable then)."""
    with session_scope(engine, write=False) as session:
        skus = sorted(set(session.exec(
            select(BackorderWait.sku).where(BackorderWait.status == "waiting")).all()))
        found = []
        for sku, available in availability(session, skus).items():
            if available <= 0:
                continue
            receipt = session.exec(
                select(StockMovement).where(StockMovement.sku == sku,
                                            StockMovement.reason == "receipt")
                .order_by(col(StockMovement.at).desc(), col(StockMovement.id).desc())).first()
            if receipt is not None:
                found.append((sku, receipt.dedup_key))
        return found


async def start_missed_wakes(client: Client, engine: Engine, task_queue: str) -> list[str]:
    """Start the wake-up of each receipt that ``missed_wakes`` finds, by its id: once. A
    receipt whose wake-up ran already is left alone (a case it could not reach looks again at
    its deadline). Returns the wake-ups started."""
    started = []
    for sku, receipt_key in await asyncio.to_thread(missed_wakes, engine):
        workflow_id = wake_workflow_id(receipt_key)
        try:
            await client.start_workflow(
                BackorderWakeWorkflow.run, BackorderWake(sku), id=workflow_id,
                task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        except WorkflowAlreadyStartedError:
            continue
        log.info("backorder wake-up started by the sweep", sku=sku, receipt=receipt_key)
        started.append(workflow_id)
    return started
