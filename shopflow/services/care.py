"""Scheduled care: who has a birthday today and their greeting, which key accounts are due a
revisit (with their recent orders, returns and complaints), the stocktake sheet and the
adjustment a count makes, and starting a revisit or stocktake case (the one start path)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, String, cast, extract, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import (
    BirthdayGreeting,
    Complaint,
    Customer,
    CustomerRevisit,
    InventoryItem,
    Order,
    Product,
    Return,
    StockMovement,
)
from shopflow.models.types import utcnow
from shopflow.services import cases, timers
from shopflow.services.errors import business_error
from shopflow.services.followups import NO_CONTACT_TAG
from shopflow.services.inventory import lock_items
from shopflow.settings import Settings
from shopflow.workflows.care_payloads import (
    BirthdayGreet,
    BirthdaysDue,
    CaseStart,
    DayQuery,
    Greeting,
    RevisitClose,
    RevisitContext,
    RevisitOpen,
    RevisitsDue,
    StocktakeAdjust,
    StocktakeAdjusted,
    StocktakeSheet,
)
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import TaskKind

KEY_ACCOUNT_TAG = "key_account"
COUPON_VALID_DAYS = 30
CONTEXT_ROWS = 10


def zone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(settings: Settings, at: datetime, as_of: str | None = None) -> date:
    """The business day a run acts for: ``as_of`` when given, else ``at`` in the schedule's
    time zone."""
    if as_of:
        return date.fromisoformat(as_of)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone(settings)).date()


def birthday_matches(birthday: date, day: date) -> bool:
    """29 February birthdays are greeted on 28 February in other years."""
    if (birthday.month, birthday.day) == (day.month, day.day):
        return True
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    return (birthday.month, birthday.day) == (2, 29) and not leap and (day.month, day.day) == (2, 28)


def coupon_code(customer_id: str, year: int) -> str:
    digest = hashlib.sha256(f"birthday|{customer_id}|{year}".encode()).hexdigest()[:8].upper()
    return f"BDAY{year % 100:02d}-{digest}"


def tagged(customer: Customer, tag: str) -> bool:
    return tag in (customer.tags or [])


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def recent_activity(session: Session, customer_id: str) -> dict[str, Any]:
    """The context of a revisit: the customer's latest orders, returns and complaints."""
    orders = session.exec(select(Order).where(Order.customer_id == customer_id)
                          .order_by(col(Order.created_at).desc()).limit(CONTEXT_ROWS)).all()
    complaints = session.exec(select(Complaint).where(Complaint.customer_id == customer_id)
                              .order_by(col(Complaint.created_at).desc())
                              .limit(CONTEXT_ROWS)).all()
    context: dict[str, Any] = {
        "recent_orders": [{"order_no": o.order_no, "status": o.status, "total": o.total,
                           "created_at": _iso(o.created_at)} for o in orders],
        "recent_complaints": [{"id": c.id, "category": c.category, "status": c.status,
                               "level": c.level, "created_at": _iso(c.created_at)}
                              for c in complaints],
    }
    rows = session.exec(select(Return).where(Return.customer_id == customer_id)
                        .order_by(col(Return.created_at).desc()).limit(CONTEXT_ROWS)).all()
    keep = ("id", "order_no", "kind", "reason", "status", "created_at")
    context["recent_returns"] = [{k: _iso(getattr(r, k, None)) for k in keep} for r in rows]
    return context


async def start_case(client: Client, settings: Settings, req: CaseStart) -> bool:
    """Start a revisit or stocktake case by its business key; False if it exists. The case
    gets the business calendar here (its input's ``clock``), as the others' from timers_for."""
    arg: Any
    if req.revisit is not None:
        workflow, arg = "CustomerRevisit", dataclasses.replace(req.revisit,
                                                               clock=timers.clock_of(settings))
    elif req.stocktake is not None:
        workflow, arg = "Stocktake", dataclasses.replace(req.stocktake,
                                                         clock=timers.clock_of(settings))
    else:
        raise ValueError("nothing to start")
    return await cases.start_once(client, settings, workflow, arg, req.workflow_id)


def birthdays_due(engine: Engine, settings: Settings, q: DayQuery) -> BirthdaysDue:
    day = local_day(settings, q.at, q.as_of)
    months = [day.month]
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(Customer).where(
            col(Customer.birthday).is_not(None),
            extract("month", col(Customer.birthday)).in_(months)).order_by(col(Customer.id))
        ).all()
        greeted = set(session.exec(select(BirthdayGreeting.customer_id).where(
            BirthdayGreeting.year == day.year)).all())
    due: list[str] = []
    no_contact: list[str] = []
    for c in rows:
        if c.birthday is None or not birthday_matches(c.birthday, day) or c.id in greeted:
            continue
        (no_contact if tagged(c, NO_CONTACT_TAG) else due).append(c.id)
    return BirthdaysDue(day.isoformat(), day.year, due, no_contact)


def birthday_greet(engine: Engine, settings: Settings, req: BirthdayGreet) -> Greeting:
    """Record the year's greeting (the key keeps it to one a year) and its coupon."""
    code = coupon_code(req.customer_id, req.year)
    with session_scope(engine) as session:
        insert_ignore(session, BirthdayGreeting, [{
            "customer_id": req.customer_id, "year": req.year, "coupon_code": code,
            "status": "sent", "sent_at": utcnow()}], ["customer_id", "year"])
        greeting = session.get(BirthdayGreeting, (req.customer_id, req.year))
        customer = session.get(Customer, req.customer_id)
    assert greeting is not None
    valid_until = date.fromisoformat(req.day) + timedelta(days=COUPON_VALID_DAYS)
    return Greeting(greeting.coupon_code, customer.name if customer else "",
                    valid_until.isoformat())


def revisits_due(engine: Engine, settings: Settings, q: DayQuery) -> RevisitsDue:
    day = local_day(settings, q.at, q.as_of)
    at = q.at if q.at.tzinfo else q.at.replace(tzinfo=UTC)
    since = at - settings.revisit_interval
    with session_scope(engine, write=False) as session:
        candidates = session.exec(select(Customer).where(
            cast(col(Customer.tags), String).contains(f'"{KEY_ACCOUNT_TAG}"'))
            .order_by(col(Customer.id))).all()
        accounts = [c.id for c in candidates
                    if tagged(c, KEY_ACCOUNT_TAG) and not tagged(c, NO_CONTACT_TAG)]
        recent = set(session.exec(select(CustomerRevisit.customer_id).where(
            col(CustomerRevisit.customer_id).in_(accounts),
            (col(CustomerRevisit.opened_at) > since)
            | (col(CustomerRevisit.status) == "open"))).all()) if accounts else set()
    due = settings.task_due_for(TaskKind.REVISIT)
    return RevisitsDue(day.isoformat(), due.total_seconds(),
                       [c for c in accounts if c not in recent])


def revisit_open(engine: Engine, settings: Settings, req: RevisitOpen) -> RevisitContext:
    with session_scope(engine) as session:
        insert_ignore(session, CustomerRevisit, [{
            "id": req.revisit_id, "customer_id": req.customer_id, "status": "open",
            "notes": "", "opened_at": req.at}], ["id"])
        customer = session.get(Customer, req.customer_id)
        last = session.exec(select(CustomerRevisit).where(
            CustomerRevisit.customer_id == req.customer_id,
            CustomerRevisit.id != req.revisit_id, CustomerRevisit.status != "open")
            .order_by(col(CustomerRevisit.opened_at).desc())).first()
        profile = {"id": req.customer_id}
        if customer is not None:
            profile = {k: _iso(v) for k, v in customer.model_dump().items()
                       if k in ("id", "name", "company", "email", "phone", "locale",
                                "tags", "credit_rating", "birthday")}
        return RevisitContext(
            customer=profile,
            **recent_activity(session, req.customer_id),
            last_revisit=None if last is None else {
                "id": last.id, "status": last.status, "notes": last.notes,
                "completed_at": _iso(last.completed_at)},
        )


def revisit_close(engine: Engine, settings: Settings, req: RevisitClose) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(CustomerRevisit)
            .where(col(CustomerRevisit.id) == req.revisit_id,
                   col(CustomerRevisit.status) == "open")
            .values(status=req.status, notes=req.notes, completed_by=req.actor,
                    completed_at=req.at)
        )


def stocktake_sheet(engine: Engine, settings: Settings, q: DayQuery) -> StocktakeSheet:
    day = local_day(settings, q.at, q.as_of)
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(InventoryItem, Product)
                            .where(InventoryItem.sku == Product.sku)
                            .order_by(col(InventoryItem.sku))).all()
    lines = [{"sku": i.sku, "name": p.name, "on_hand": i.on_hand, "reserved": i.reserved,
              "damaged": i.damaged} for i, p in rows]
    return StocktakeSheet(day.isoformat(),
                          settings.task_due_for(TaskKind.STOCKTAKE).total_seconds(), lines)


def stocktake_adjust(engine: Engine, settings: Settings, req: StocktakeAdjust
                     ) -> StocktakeAdjusted:
    """Set on_hand to each counted quantity; the difference is a stock movement keyed by
    stocktake and SKU, so a retry adjusts nothing twice."""
    counts = {line["sku"]: int(line["counted"]) for line in req.counts}
    with session_scope(engine) as session:
        items = lock_items(session, sorted(counts))
        unknown = sorted(set(counts) - set(items))
        if unknown:
            raise business_error(ErrorType.INVALID, "unknown_sku",
                                 f"not in stock records: {', '.join(unknown)}", skus=unknown)
        adjustments = []
        for sku in sorted(counts):
            item = items[sku]
            key = f"{req.stocktake_id}:{sku}"
            done = session.exec(select(StockMovement).where(
                StockMovement.dedup_key == key)).first()
            if done is not None:  # a retry: report what was booked
                adjustments.append({"sku": sku, "book": item.on_hand - done.on_hand_delta,
                                    "counted": counts[sku], "delta": done.on_hand_delta})
                continue
            delta = counts[sku] - item.on_hand
            adjustments.append({"sku": sku, "book": item.on_hand, "counted": counts[sku],
                                "delta": delta})
            session.add(StockMovement(dedup_key=key, sku=sku, on_hand_delta=delta,
                                      reason="stocktake", ref=req.stocktake_id,
                                      actor=req.actor))
            if delta:
                item.on_hand = counts[sku]
                item.updated_at = utcnow()
                session.add(item)
    return StocktakeAdjusted(adjustments)
