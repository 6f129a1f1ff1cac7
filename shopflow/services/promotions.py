"""Promotion plans and overstock (seed 003 第八条, 第九条; workflows/promotion.py): the one start
path of ``promotion-<id>`` (database first, then Temporal), cancelling before the start, the
customers a plan targets, its sales report, the SKUs whose stock has not moved, and what an
overstock decision does (a plan for the SKU, or stock back to the supplier)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, String, cast, func
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.db import session_scope
from shopflow.models import (
    Case,
    Customer,
    InventoryItem,
    Notice,
    Order,
    OrderLine,
    Product,
    StockMovement,
)
from shopflow.models.promotion_schemas import PromotionCreate
from shopflow.models.types import utcnow
from shopflow.services import cases
from shopflow.services.care import local_day, tagged, zone
from shopflow.services.errors import Refused, business_error, never_reached_temporal
from shopflow.services.followups import NO_CONTACT_TAG
from shopflow.services.inventory import lock_items
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.care_payloads import DayQuery
from shopflow.workflows.promotion import Overstock, PromotionAnnounce, PromotionWorkflow
from shopflow.workflows.promotion_rules import (
    Audience,
    AudienceQuery,
    CaseStart,
    OverstockDue,
    OverstockPromote,
    PromotionInput,
    PromotionOpened,
    PromotionStage,
    PromotionStatus,
    PromotionTimers,
    ReportQuery,
    SalesReport,
    SupplierReturn,
    overstock_period,
    promotion_workflow_id,
)
from shopflow.workflows.shared import Actor, CancelInput, ErrorType
from shopflow.workflows.vocab import CaseKind

NOT_SALES = ("cancelled",)  # orders that sold nothing
# Movements that are not the stock moving: a count that corrects the books.
NOT_MOVEMENT = ("stocktake",)


def new_promotion_id(seed: str | None = None) -> str:
    """``PM`` and 24 hex digits (96 bits, random or derived from a key)."""
    digest = hashlib.sha256(seed.encode()).hexdigest() if seed else secrets.token_hex(12)
    return f"PM{digest[:24].upper()}"


def check_skus(engine: Engine, skus: list[str]) -> None:
    with session_scope(engine, write=False) as session:
        known = set(session.exec(select(Product.sku).where(col(Product.sku).in_(skus))).all())
    unknown = [s for s in skus if s not in known]
    if unknown:
        raise Refused(422, "unknown_sku", f"no product {', '.join(unknown)}",
                      {"loc": ["body", "skus"], "skus": unknown})


def register(engine: Engine, inp: PromotionInput) -> bool:
    with session_scope(engine) as session:
        return cases.register_case(
            session, inp.promotion_id, CaseKind.PROMOTION,
            promotion_workflow_id(inp.promotion_id), PromotionStatus.DRAFT,
            PromotionStage.REVIEW, None,
            {"id": inp.promotion_id, "name": inp.name, "skus": inp.skus,
             "discount_percent": inp.discount_percent, "start_at": inp.start_at.isoformat(),
             "end_at": inp.end_at.isoformat(), "target_tag": inp.target_tag,
             "segment": inp.segment, "description": inp.description, "source": inp.source,
             "created_by": inp.created_by, "outcome": None, "report": None})


async def start(client: Client, settings: Settings, engine: Engine, inp: PromotionInput
                ) -> tuple[dict[str, Any], bool]:
    """The case row, then the workflow (a start Temporal never took leaves nothing)."""
    new = await asyncio.to_thread(register, engine, inp)
    workflow_id = promotion_workflow_id(inp.promotion_id)
    try:
        started = await cases.start_once(client, settings, PromotionWorkflow.run, inp,
                                         workflow_id)
    except BaseException as err:
        if new and never_reached_temporal(err):
            await asyncio.to_thread(cases.forget_case, engine, inp.promotion_id)
        raise
    return {"id": inp.promotion_id, "workflow_id": workflow_id,
            "status": PromotionStatus.DRAFT.value}, started


async def create(client: Client, settings: Settings, engine: Engine, body: PromotionCreate,
                 actor: str, seed: str | None) -> tuple[dict[str, Any], bool]:
    """``POST /promotions`` and the plan form: the products exist, the start is ahead."""
    if body.start_at <= utcnow():
        raise Refused(422, "invalid_field", "start_at is in the past",
                      {"loc": ["body", "start_at"]})
    await asyncio.to_thread(check_skus, engine, body.skus)
    inp = PromotionInput(
        promotion_id=new_promotion_id(seed), name=body.name, skus=list(body.skus),
        discount_percent=body.discount_percent, start_at=body.start_at.astimezone(UTC),
        end_at=body.end_at.astimezone(UTC), timers=timers_for(PromotionTimers, settings),
        description=body.description, target_tag=body.target_tag, segment=body.segment,
        created_by=actor)
    return await start(client, settings, engine, inp)


async def cancel(client: Client, engine: Engine, promotion_id: str, reason: str,
                 actor: Actor) -> dict[str, Any]:
    """Before its start only (409 ``invalid_state`` after)."""
    wf = cases.case_workflow_id(engine, CaseKind.PROMOTION, promotion_id)
    await cases.send_update(client, wf, "request_cancel", CancelInput(reason, actor), str)
    return {"id": promotion_id, "status": PromotionStatus.CANCELLED.value}


def list_promotions(engine: Engine, page: int, page_size: int, status: str | None
                    ) -> tuple[list[dict[str, Any]], int]:
    conds: list[Any] = [Case.kind == CaseKind.PROMOTION]
    if status is not None:
        conds.append(Case.status == status)
    rows, total = cases.page_of(engine, conds, page, page_size)
    return [{"id": c.id, "workflow_id": c.workflow_id, "status": c.status, "stage": c.stage,
             "name": c.data.get("name", ""), "skus": c.data.get("skus", []),
             "discount_percent": c.data.get("discount_percent", 0),
             "start_at": c.data.get("start_at", ""), "end_at": c.data.get("end_at", ""),
             "created_at": c.created_at} for c in rows], total


# --- the starts the workflows ask for --------------------------------------------------------

async def start_case(client: Client, settings: Settings, engine: Engine, req: CaseStart) -> bool:
    """Start a promotion, its announcement or an overstock case by its business key; False if
    it exists."""
    if req.promotion is not None:
        _, started = await start(client, settings, engine, req.promotion)
        return started
    if req.announce is not None:
        run = req.announce
        run.history_limit = settings.history_event_limit
        return await cases.start_once(client, settings, PromotionAnnounce.run, run,
                                      req.workflow_id)
    if req.overstock is not None:
        return await cases.start_once(client, settings, Overstock.run, req.overstock,
                                      req.workflow_id)
    raise ValueError("nothing to start")


async def overstock_promote(client: Client, settings: Settings, engine: Engine,
                            req: OverstockPromote) -> PromotionOpened:
    """An overstock case's proposal: a plan for its SKU, into review (one per case)."""
    inp = PromotionInput(
        promotion_id=new_promotion_id(f"overstock|{req.key}"), name=req.name, skus=[req.sku],
        discount_percent=req.discount_percent, start_at=req.start_at, end_at=req.end_at,
        timers=timers_for(PromotionTimers, settings), target_tag=req.target_tag,
        segment=req.segment, created_by=req.actor, source=req.key)
    await start(client, settings, engine, inp)
    return PromotionOpened(inp.promotion_id, promotion_workflow_id(inp.promotion_id))


# --- the activities' reads and writes --------------------------------------------------------

def audience(engine: Engine, q: AudienceQuery) -> Audience:
    """The customers a plan targets (its tag; ``buyers``: who ordered its products), never
    those tagged no_contact (counted)."""
    with session_scope(engine, write=False) as session:
        query = select(Customer).order_by(col(Customer.id))
        if q.target_tag:
            query = query.where(cast(col(Customer.tags), String).contains(f'"{q.target_tag}"'))
        if q.segment == "buyers":
            buyers = select(Order.customer_id).join(
                OrderLine, col(OrderLine.order_no) == col(Order.order_no)).where(
                col(OrderLine.sku).in_(q.skus))
            query = query.where(col(Customer.id).in_(buyers))
        rows = session.exec(query).all()
    chosen = [c for c in rows if not q.target_tag or tagged(c, q.target_tag)]
    return Audience([c.id for c in chosen if not tagged(c, NO_CONTACT_TAG)],
                    sum(1 for c in chosen if tagged(c, NO_CONTACT_TAG)))


def _sales(session: Session, skus: list[str], start: datetime, end: datetime
           ) -> tuple[int, list[dict[str, Any]]]:
    rows = session.exec(
        select(OrderLine.sku, func.count(func.distinct(OrderLine.order_no)),
               func.sum(OrderLine.quantity), func.sum(OrderLine.amount_cents))
        .join(Order, col(Order.order_no) == col(OrderLine.order_no))
        .where(col(OrderLine.sku).in_(skus), col(Order.created_at) >= start,
               col(Order.created_at) < end, col(Order.status).not_in(NOT_SALES))
        .group_by(OrderLine.sku).order_by(OrderLine.sku)).all()
    orders = session.exec(
        select(func.count(func.distinct(Order.order_no)))
        .join(OrderLine, col(Order.order_no) == col(OrderLine.order_no))
        .where(col(OrderLine.sku).in_(skus), col(Order.created_at) >= start,
               col(Order.created_at) < end, col(Order.status).not_in(NOT_SALES))).one()
    return orders, [{"sku": sku, "orders": n, "units": int(units or 0),
                     "revenue_cents": int(cents or 0)} for sku, n, units, cents in rows]


def sales_report(engine: Engine, q: ReportQuery) -> SalesReport:
    """Sales of the products while the promotion ran (orders not cancelled), beside the same
    length of time before it, and how many customers were told."""
    length = q.end_at - q.start_at
    with session_scope(engine, write=False) as session:
        orders, by_sku = _sales(session, q.skus, q.start_at, q.end_at)
        before_orders, before = _sales(session, q.skus, q.start_at - length, q.start_at)
        notified = session.exec(select(func.count()).select_from(Notice).where(
            col(Notice.dedup_key).startswith(f"promotion-{q.promotion_id}:announce:"),
            col(Notice.status).in_(("sent", "logged")))).one()
    return SalesReport(
        orders=orders, units=sum(s["units"] for s in by_sku),
        revenue_cents=sum(s["revenue_cents"] for s in by_sku), by_sku=by_sku,
        before={"orders": before_orders, "units": sum(s["units"] for s in before),
                "revenue_cents": sum(s["revenue_cents"] for s in before)},
        notified=notified)


def overstock_due(engine: Engine, settings: Settings, q: DayQuery) -> OverstockDue:
    """SKUs with stock to sell whose stock has not moved (no sale, reservation, receipt or
    return; a stocktake count is not a movement) for ``SHOPFLOW_OVERSTOCK_DAYS``, without an
    open overstock case."""
    day = local_day(settings, q.at, q.as_of)
    days = settings.overstock_days
    end_of_day = datetime.combine(day, time.max, tzinfo=zone(settings))
    since = end_of_day - timedelta(days=days)
    with session_scope(engine, write=False) as session:
        stock = session.exec(select(InventoryItem, Product)
                             .where(col(InventoryItem.sku) == col(Product.sku))
                             .order_by(col(InventoryItem.sku))).all()
        last = dict(session.exec(
            select(StockMovement.sku, func.max(StockMovement.at))
            .where(col(StockMovement.reason).not_in(NOT_MOVEMENT),
                   (col(StockMovement.on_hand_delta) != 0)
                   | (col(StockMovement.reserved_delta) != 0))
            .group_by(StockMovement.sku)).all())
        open_cases = session.exec(select(Case.data).where(
            Case.kind == CaseKind.OVERSTOCK, Case.status == "open")).all()
    busy = {d.get("sku") for d in open_cases}
    items = []
    for item, product in stock:
        moved = last.get(item.sku) or product.created_at
        if moved.tzinfo is None:
            moved = moved.replace(tzinfo=UTC)
        if item.available <= 0 or moved > since or item.sku in busy:
            continue
        items.append({"sku": item.sku, "name": product.name, "on_hand": item.on_hand,
                      "reserved": item.reserved, "available": item.available,
                      "last_moved_at": moved.isoformat(),
                      "idle_days": (end_of_day - moved).days})
    return OverstockDue(day.isoformat(), overstock_period(day, days).isoformat(), days,
                        settings.task_due, items)


def supplier_return(engine: Engine, req: SupplierReturn) -> dict[str, Any]:
    """Stock back to the supplier: on_hand down by ``quantity`` (at most what is available),
    one stock movement keyed by the case, so a retry moves nothing twice."""
    key = f"{req.key}:supplier_return"
    with session_scope(engine) as session:
        done = session.exec(select(StockMovement).where(StockMovement.dedup_key == key)).first()
        item = lock_items(session, [req.sku]).get(req.sku)
        if item is None:
            raise business_error(ErrorType.INVALID, "unknown_sku", f"no stock of {req.sku}",
                                 field="quantity")
        if done is not None:
            return {"sku": req.sku, "quantity": -done.on_hand_delta, "on_hand": item.on_hand}
        if req.quantity > item.available:
            raise business_error(ErrorType.INVALID, "insufficient_stock",
                                 f"only {item.available} of {req.sku} available",
                                 field="quantity", available=item.available)
        item.on_hand -= req.quantity
        item.updated_at = utcnow()
        session.add(item)
        session.add(StockMovement(dedup_key=key, sku=req.sku, on_hand_delta=-req.quantity,
                                  reason="supplier_return", ref=req.key,
                                  actor=req.actor))
        return {"sku": req.sku, "quantity": req.quantity, "on_hand": item.on_hand,
                "note": req.note}
