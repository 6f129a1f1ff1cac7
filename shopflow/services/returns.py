"""Returns and exchanges (seeds 001 and 003): the request checks (window, delivery, quantities),
the one start path of ``return-<id>`` (for the API, the web UI and a complaint), the return row
kept current by the workflow, the review context, returned goods booked back in (or to the
damaged count), the follow-up that is due, and the views."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.db import insert_ignore, session_scope
from shopflow.models import (
    Case,
    Customer,
    FollowupDue,
    InventoryItem,
    Order,
    OrderLine,
    Product,
    Refund,
    Return,
    Shipment,
    StockMovement,
)
from shopflow.models.orders import decimal
from shopflow.models.return_schemas import ReturnCreate
from shopflow.models.types import utcnow
from shopflow.services.case_rows import keep_current
from shopflow.services.cases import send_update, task_view, tasks_of, temporal_url, timeline_of
from shopflow.services.errors import Refused, never_reached_temporal, temporal_errors
from shopflow.services.inventory import lock_items
from shopflow.services.refunds import refunds_of_case
from shopflow.services.shipments import shipment_with_events
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.order_rules import address_text
from shopflow.workflows.return_handling import (
    DifferencePayment,
    ParcelInput,
    ReceivedInput,
    ReturnHandling,
    ReturnInput,
    ReturnLineData,
    ReturnPolicy,
    ReturnTimers,
)
from shopflow.workflows.return_rules import (
    SHOP_AT_FAULT,
    ReturnKind,
    quality_issue_of,
    reason_category,
    replacements,
)
from shopflow.workflows.shared import (
    Actor,
    CancelInput,
    CustomerData,
    FollowupDueRecord,
    Restock,
    ReturnContextRequest,
    ReturnStart,
    ReturnStarted,
    ReturnUpdate,
)
from shopflow.workflows.vocab import RETURN_END_STATUSES, RETURN_TIMES, ReturnReason

# Returns that no longer claim the goods: the customer keeps them.
NOT_CLAIMING = ("rejected", "cancelled", "expired")
RETURN_FIELDS = ("items", "outcome", "refund_cents", "parcel_courier", "parcel_tracking_no",
                 "exchange_tracking_no")


class ReturnRefused(Exception):
    """A request the policy refuses (422 with ``code``); nothing is written or started."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


@dataclass
class ExchangeFor:
    """An exchange line's other SKU (or size) and its unit price in cents (None: the price
    paid for the line)."""

    sku: str
    unit_price_cents: int | None = None


@dataclass
class ReturnRequest:
    return_id: str
    order_no: str
    items: list[tuple[str, int]]
    kind: str
    reason: str
    quality_issue: bool = False
    evidence: list[str] = field(default_factory=list)
    requested_by: str = "system"
    category: str | None = None  # ReturnReason; None: from quality_issue
    exchange_for: dict[str, ExchangeFor] = field(default_factory=dict)  # by returned SKU


def workflow_id_of(return_id: str) -> str:
    return f"return-{return_id}"


def return_id_for(seed: str) -> str:
    # 24 hex digits: 96 bits (the seed is an idempotency key or 128 random bits).
    return "RT-" + hashlib.sha256(seed.encode()).hexdigest()[:24].upper()


def policy_of(settings: Settings, shop_at_fault: bool) -> dict[str, Any]:
    return {"return_window_days": settings.return_window.total_seconds() / 86400,
            "quality_return_window_days": settings.quality_return_window.total_seconds() / 86400,
            "ship_timeout_days": settings.return_ship_timeout.total_seconds() / 86400,
            "return_shipping_paid_by": "shop" if shop_at_fault else "customer",
            "return_address": settings.return_address}


def claimed(session: Session, order_no: str, exclude: str | None = None) -> dict[str, int]:
    """What earlier returns of the order already claim, per SKU."""
    out: dict[str, int] = {}
    for ret in session.exec(select(Return).where(Return.order_no == order_no)):
        if ret.status in NOT_CLAIMING or ret.id == exclude:
            continue
        for item in ret.items:
            out[item["sku"]] = out.get(item["sku"], 0) + int(item["quantity"])
    return out


def open_return(engine: Engine, settings: Settings, req: ReturnRequest,
                now: datetime | None = None) -> tuple[Return, bool]:
    """Check the request against the order and the policy and write the return row, in one
    write transaction (two requests at once cannot claim the same goods twice). Returns the
    row and whether it is new (a repeat with the same id returns the first)."""
    now = now or utcnow()
    if not req.reason.strip():
        raise ReturnRefused("missing_reason", "a return needs a reason")
    category = reason_category(req.category, req.quality_issue)
    quality_issue = quality_issue_of(category, req.quality_issue)
    shop_at_fault = category in SHOP_AT_FAULT or quality_issue
    if req.kind == ReturnKind.REPAIR and category == ReturnReason.MISSING_ITEM:
        raise ReturnRefused("nothing_to_repair", "a missing item cannot be repaired: ask for a "
                            "refund or an exchange", {"loc": ["body", "kind"]})
    skus = [sku for sku, _ in req.items]
    if len(set(skus)) != len(skus):
        raise ReturnRefused("duplicate_sku", "each SKU may appear once")
    with session_scope(engine) as session:
        known = session.get(Return, req.return_id)
        if known is not None:
            return known, False
        order = session.get(Order, req.order_no, with_for_update=True)
        if order is None:
            raise ReturnRefused("unknown_order", f"no order {req.order_no}",
                                {"order_no": req.order_no})
        if order.delivered_at is None:
            raise ReturnRefused("not_delivered", f"order {req.order_no} is not delivered "
                                f"({order.status}); a return starts after delivery",
                                {"status": order.status})
        window = settings.quality_return_window if shop_at_fault else settings.return_window
        since = now - order.delivered_at
        if since > window:
            raise ReturnRefused(
                "outside_return_window",
                f"delivered {since.days} days ago; returns are accepted within "
                f"{window.days} days" + ("" if shop_at_fault else
                                         " (longer for a quality issue)"),
                {"delivered_at": order.delivered_at.isoformat(),
                 "window_days": window.total_seconds() / 86400,
                 "days_since_delivery": round(since.total_seconds() / 86400, 1)})
        lines = {line.sku: line for line in session.exec(
            select(OrderLine).where(OrderLine.order_no == req.order_no))}
        if category == ReturnReason.NO_REASON:
            _refuse_non_returnable(session, skus)
        other = _exchange_products(session, req, skus)
        already = claimed(session, req.order_no)
        items = []
        for i, (sku, qty) in enumerate(req.items):
            line = lines.get(sku)
            ordered = line.quantity if line else 0
            left = ordered - already.get(sku, 0)
            if qty > left:
                raise ReturnRefused(
                    "quantity_exceeds_order",
                    f"{qty} of {sku} is more than the {max(left, 0)} that can still be "
                    f"returned (delivered {ordered}, already claimed {already.get(sku, 0)})",
                    {"loc": ["body", "items", i], "sku": sku, "delivered": ordered,
                     "already_claimed": already.get(sku, 0), "requested": qty})
            assert line is not None
            items.append({"sku": sku, "name": line.name, "quantity": qty,
                          "unit_price": line.unit_price, "result": None, "resaleable": None,
                          "notes": ""})
            wanted = req.exchange_for.get(sku)
            if wanted is not None:
                name, listed = other[wanted.sku]
                # the price asked, else the catalogue's, else the price paid for the line
                price = next(p for p in (wanted.unit_price_cents, listed,
                                         line.unit_price_cents) if p is not None)
                items[-1].update(exchange_sku=wanted.sku, exchange_name=name,
                                 exchange_unit_price=decimal(price))
        ret = Return(
            id=req.return_id, workflow_id=workflow_id_of(req.return_id), order_no=req.order_no,
            customer_id=order.customer_id, kind=req.kind, reason=req.reason.strip(),
            category=category, quality_issue=quality_issue, evidence=list(req.evidence),
            items=items, policy=policy_of(settings, shop_at_fault), status="requested",
            stage="review",
            requested_by=req.requested_by, created_at=now, updated_at=now)
        session.add(ret)
        session.flush()
        insert_ignore(session, Case, [{
            "id": ret.id, "kind": "return", "workflow_id": ret.workflow_id,
            "status": "requested", "stage": "review", "customer_id": ret.customer_id,
            "data": {"id": ret.id, "order_no": ret.order_no, "kind": ret.kind,
                     "reason": ret.reason, "category": ret.category,
                     "quality_issue": ret.quality_issue, "items": items},
            "version": 0, "created_at": now, "updated_at": now}], ["id"])
        return ret, True


def _exchange_products(session: Session, req: ReturnRequest,
                       skus: list[str]) -> dict[str, tuple[str, int | None]]:
    """The other SKUs an exchange asks for: only in an exchange, each a catalogue product.
    Their names and catalogue prices (cents, None: none) by SKU."""
    if not req.exchange_for:
        return {}
    for sku in req.exchange_for:
        if req.kind != ReturnKind.EXCHANGE:
            raise ReturnRefused(
                "exchange_sku_needs_exchange", "another SKU is only for kind exchange",
                {"loc": ["body", "items", skus.index(sku), "exchange_sku"]})
    wanted = sorted({w.sku for w in req.exchange_for.values()})
    names = {sku: (name, price) for sku, name, price in session.exec(select(
        Product.sku, Product.name, Product.price_cents).where(col(Product.sku).in_(wanted))).all()}
    for sku, w in req.exchange_for.items():
        if w.sku not in names:
            raise ReturnRefused("unknown_sku", f"no product {w.sku} to exchange for",
                                {"loc": ["body", "items", skus.index(sku), "exchange_sku"],
                                 "sku": w.sku})
    return names


def _refuse_non_returnable(session: Session, skus: list[str]) -> None:
    """A return without a reason takes only returnable products (not opened cosmetics …)."""
    refused = session.exec(select(Product.sku).where(
        col(Product.sku).in_(skus), col(Product.returnable).is_(False))).all()
    if refused:
        first = sorted(refused)[0]
        raise ReturnRefused(
            "not_returnable",
            f"{', '.join(sorted(refused))} cannot be returned without a reason (a product "
            "taken back only with a fault); choose the category that names the fault",
            {"loc": ["body", "items", skus.index(first), "sku"], "skus": sorted(refused),
             "category": ReturnReason.NO_REASON.value})


def return_input(engine: Engine, settings: Settings, ret: Return) -> ReturnInput:
    with session_scope(engine, write=False) as session:
        order = session.get(Order, ret.order_no)
        assert order is not None and order.delivered_at is not None
        customer = session.get(Customer, ret.customer_id)
    policy = ret.policy
    return ReturnInput(
        return_id=ret.id, order_no=ret.order_no,
        customer=CustomerData(id=ret.customer_id, name=customer.name if customer else ""),
        kind=ret.kind, reason=ret.reason, quality_issue=ret.quality_issue,
        evidence=list(ret.evidence), category=ret.category,
        lines=[ReturnLineData(i["sku"], int(i["quantity"]), round(float(i["unit_price"]) * 100),
                              i.get("name", ""), i.get("exchange_sku", ""),
                              i.get("exchange_name", ""),
                              round(float(i.get("exchange_unit_price", 0)) * 100))
               for i in ret.items],
        policy=ReturnPolicy(policy["return_window_days"], policy["quality_return_window_days"],
                            policy["ship_timeout_days"], policy["return_shipping_paid_by"],
                            policy["return_address"]),
        timers=timers_for(ReturnTimers, settings,
                          ship_timeout=timedelta(days=policy["ship_timeout_days"])),
        delivered_at=order.delivered_at, payment_method=order.payment_method,
        shipping_fee_cents=order.shipping_fee_cents,
        shipping_address=dict(order.shipping_address), requested_by=ret.requested_by)


async def start_return(client: Client, settings: Settings, engine: Engine, ret: Return) -> bool:
    """Start ``return-<id>``; a second start of the same return starts nothing (False)."""
    inp = await asyncio.to_thread(return_input, engine, settings, ret)
    try:
        await client.start_workflow(
            ReturnHandling.run, inp, id=ret.workflow_id, task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
    except WorkflowAlreadyStartedError:  # a retry: it runs already
        return False
    return True


async def start_return_for_complaint(client: Client, settings: Settings, engine: Engine,
                                     req: ReturnStart) -> ReturnStarted:
    """The entry point for the complaint process (``complaints.start_return``): the same checks
    as ``POST /returns``; a refusal is an answer, not an error."""
    request = ReturnRequest(
        return_id=return_id_for(f"complaint|{req.key}"), order_no=req.order_no,
        items=[(str(i["sku"]), int(i["quantity"])) for i in req.items], kind=req.kind,
        reason=req.reason, quality_issue=True, requested_by=req.actor,
        category=ReturnReason.QUALITY)
    try:
        ret, _ = await asyncio.to_thread(open_return, engine, settings, request)
    except ReturnRefused as refused:
        return ReturnStarted("refused", req.order_no, code=refused.code,
                             message=refused.message)
    await start_return(client, settings, engine, ret)
    return ReturnStarted("started", ret.order_no, id=ret.id, workflow_id=ret.workflow_id)


async def create(client: Client, settings: Settings, engine: Engine, body: ReturnCreate,
                 requested_by: str, seed: str | None) -> tuple[dict[str, Any], bool]:
    """Open a return and start its workflow (``POST /returns`` and the return form), all or
    nothing: a refusal (422 with the rule's code) or a start Temporal never took leaves no
    return behind. The answer, and whether this call opened it (False: the same request
    again)."""
    req = ReturnRequest(
        return_id=return_id_for(seed or uuid.uuid4().hex), order_no=body.order_no,
        items=[(i.sku, i.quantity) for i in body.items], kind=body.kind,
        reason=body.reason, quality_issue=body.quality_issue, evidence=list(body.evidence),
        requested_by=requested_by, category=body.category,
        exchange_for={i.sku: ExchangeFor(i.exchange_sku, None if i.exchange_unit_price is None
                                         else round(i.exchange_unit_price * 100))
                      for i in body.items if i.exchange_sku})
    try:
        ret, new = await asyncio.to_thread(open_return, engine, settings, req)
    except ReturnRefused as refused:
        raise Refused(422, refused.code, refused.message, refused.details) from None
    try:
        with temporal_errors():
            await start_return(client, settings, engine, ret)
    except BaseException as err:
        if new and never_reached_temporal(err):
            await asyncio.to_thread(forget, engine, ret.id)
        raise
    return {"id": ret.id, "workflow_id": ret.workflow_id, "status": "requested"}, new


def forget(engine: Engine, return_id: str) -> None:
    """Undo the request's rows when its workflow could not be started: nothing half-done."""
    with session_scope(engine) as session:
        session.execute(delete(Return).where(col(Return.id) == return_id))
        session.execute(delete(Case).where(col(Case.id) == return_id, col(Case.kind) == "return",
                                           col(Case.version) == 0))


# --- kept current by the workflow ----------------------------------------------------------

def apply_update(engine: Engine, req: ReturnUpdate) -> None:
    with session_scope(engine) as session:
        ret = session.get(Return, req.return_id, with_for_update=True)
        if ret is None:
            raise LookupError(req.return_id)
        newer = req.version > ret.version
        fields = dict(req.fields)
        if "refund_amount" in fields:  # the decimal amount the workflow shows: stored in cents
            fields["refund_cents"] = round(float(fields.pop("refund_amount")) * 100)
        for name, value in fields.items():
            if name in RETURN_FIELDS and (newer or getattr(ret, name) in (None, [], 0)):
                setattr(ret, name, value)
        keep_current(ret, version=req.version, status=req.status, stage=req.stage,
                     times=req.times, time_names=RETURN_TIMES, fields=bool(fields))
        session.add(ret)


def review_context(engine: Engine, req: ReturnContextRequest) -> dict[str, Any]:
    """What the reviewer and finance need: the order and its money, the customer's earlier
    returns and return rate."""
    with session_scope(engine, write=False) as session:
        order = session.get(Order, req.order_no)
        assert order is not None
        earlier = [r for r in session.exec(
            select(Return).where(Return.customer_id == req.customer_id)
            .order_by(col(Return.created_at))) if r.id != req.return_id]
        orders = len(session.exec(select(Order.order_no).where(
            Order.customer_id == req.customer_id, Order.status != "cancelled")).all())
        refunds = session.exec(select(Refund).where(Refund.order_no == req.order_no)).all()
        mine = f"{workflow_id_of(req.return_id)}:refund"
        claimed_cents = sum(r.amount_cents for r in refunds if r.key != mine)
        shipping_refunded = any(
            r.quality_issue and r.status == "refunded" and r.order_no == req.order_no
            for r in earlier)
        returns_total = len(earlier) + 1
        return {
            "order": {
                "order_no": order.order_no, "status": order.status, "total": order.total,
                "shipping_fee": order.shipping_fee, "payment_method": order.payment_method,
                "delivered_at": order.delivered_at.isoformat() if order.delivered_at else None,
                "items": [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                           "unit_price": line.unit_price}
                          for line in session.exec(select(OrderLine).where(
                              OrderLine.order_no == order.order_no)
                              .order_by(col(OrderLine.line_no)))],
            },
            "customer_returns": [
                {"id": r.id, "order_no": r.order_no, "kind": r.kind, "reason": r.reason,
                 "category": r.category, "status": r.status, "created_at": r.created_at.isoformat()}
                for r in earlier],
            "customer_orders": orders,
            "return_rate": round(returns_total / orders, 2) if orders else None,
            "paid": order.paid_amount,
            "refunded": round(claimed_cents / 100, 2),
            "refundable_cents": max(order.paid_cents - claimed_cents, 0),
            "shipping_refunded": shipping_refunded,
        }


def restock(engine: Engine, req: Restock) -> dict[str, int]:
    """Resaleable goods back on hand; faulty ones to the damaged count; once per SKU."""
    with session_scope(engine) as session:
        items = lock_items(session, [line.sku for line in req.lines])
        booked: dict[str, int] = {}
        now = utcnow()
        for line in req.lines:
            item = items.get(line.sku)
            if item is None:
                insert_ignore(session, InventoryItem, [{
                    "sku": line.sku, "on_hand": 0, "reserved": 0, "damaged": 0,
                    "updated_at": now}], ["sku"])
                item = lock_items(session, [line.sku])[line.sku]
            outcome = "restock" if line.resaleable else "damaged"
            new = insert_ignore(session, StockMovement, [{
                "dedup_key": f"{req.key}:{line.sku}:{outcome}", "sku": line.sku,
                "on_hand_delta": line.quantity if line.resaleable else 0,
                "reserved_delta": 0,
                "damaged_delta": 0 if line.resaleable else line.quantity,
                "reason": f"return_{outcome}", "ref": req.ref, "actor": req.actor,
                "at": now}], ["dedup_key"])
            if new:
                if line.resaleable:
                    item.on_hand += line.quantity
                else:
                    item.damaged += line.quantity
                item.updated_at = now
                session.add(item)
                booked[line.sku] = line.quantity
        return booked


def record_followup_due(engine: Engine, req: FollowupDueRecord) -> None:
    with session_scope(engine) as session:
        insert_ignore(session, FollowupDue, [{
            "workflow_id": req.workflow_id, "source_kind": req.source_kind,
            "source_id": req.source_id, "order_no": req.order_no,
            "customer_id": req.customer_id, "reason": req.reason, "due_at": req.due_at,
            "status": req.status, "created_at": utcnow()}], ["workflow_id"])


# --- reading -------------------------------------------------------------------------------

def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def get_return(engine: Engine, return_id: str) -> Return:
    with session_scope(engine, write=False) as session:
        ret = session.get(Return, return_id)
    if ret is None:
        raise Refused(404, "not_found", f"no return {return_id}")
    return ret


def summary(ret: Return) -> dict[str, Any]:
    return {"id": ret.id, "workflow_id": ret.workflow_id, "order_no": ret.order_no,
            "customer_id": ret.customer_id, "kind": ret.kind, "reason": ret.reason,
            "category": ret.category,
            "quality_issue": ret.quality_issue, "status": ret.status, "stage": ret.stage,
            "outcome": ret.outcome, "refund_amount": ret.refund_amount,
            "created_at": ret.created_at.isoformat(), "updated_at": ret.updated_at.isoformat()}


def return_view(session: Session, ret: Return, temporal_url: str) -> dict[str, Any]:
    parcels = {s.direction: s for s in session.exec(
        select(Shipment).where(Shipment.case_kind == "return", Shipment.case_id == ret.id))}

    def parcel(direction: str) -> dict[str, Any] | None:
        s = parcels.get(direction)
        return shipment_with_events(session, s) if s else None

    followup = session.exec(select(FollowupDue).where(FollowupDue.source_kind == "return",
                                                      FollowupDue.source_id == ret.id)).first()
    # A repair (its due time, result and the parcel back), as the workflow records it; the
    # outbound parcel of a repaired item is the repair's, not an exchange's.
    case = session.get(Case, ret.id)
    repair = dict(case.data["repair"]) if case and case.data.get("repair") else None
    outbound = parcel("outbound")
    if repair is not None and repair.get("status") == "repaired":
        repair["parcel"], outbound = outbound or repair.get("parcel"), None
    return {
        **summary(ret),
        "items": ret.items, "evidence": ret.evidence, "policy": ret.policy,
        "parcel": parcel("return"), "exchange": outbound, "repair": repair,
        # an exchange for another SKU: the price difference paid or refunded
        "difference": case.data.get("difference") if case else None,
        "refunds": refunds_of_case(session, "return", ret.id),
        "followup": ({"workflow_id": followup.workflow_id, "status": followup.status,
                      "due_at": followup.due_at.isoformat()} if followup else None),
        "kpi": {"requested_at": ret.created_at.isoformat(),
                **{name: _iso(getattr(ret, name)) for name in RETURN_TIMES}},
        "tasks": [task_view(t) for t in tasks_of(session, ret.id)],
        "timeline": timeline_of(session, ret.id),
        "temporal_url": temporal_url,
    }


def load_return_view(engine: Engine, return_id: str, temporal_url: str) -> dict[str, Any]:
    with session_scope(engine, write=False) as session:
        ret = session.get(Return, return_id)
        if ret is None:
            raise Refused(404, "not_found", f"no return {return_id}")
        return return_view(session, ret, temporal_url)


def replacement_slip(engine: Engine, return_id: str, temporal_url: str) -> dict[str, Any]:
    """An exchange's replacement or a repaired item: the return's view with the order's
    shipping address."""
    with session_scope(engine, write=False) as session:
        ret = session.get(Return, return_id)
        if ret is None:
            raise Refused(404, "not_found", f"no return {return_id}")
        if ret.kind not in (ReturnKind.EXCHANGE, ReturnKind.REPAIR):
            raise Refused(409, "not_an_exchange",
                          "only an exchange or a repair ships goods to the customer")
        order = session.get(Order, ret.order_no)
        assert order is not None
        view = return_view(session, ret, temporal_url)
        view["shipping_address"] = order.shipping_address
        view["address_text"] = address_text(order.shipping_address)
        # what goes out: the same SKUs (a repair, an exchange) or the other SKUs chosen
        view["sent"] = replacements([i for i in ret.items if i.get("result") != "fail"])
        return view


def list_returns(engine: Engine, offset: int, limit: int, *, status: str | None = None,
                 reason: str | None = None, customer_id: str | None = None,
                 order_no: str | None = None, kind: str | None = None,
                 category: str | None = None, scope: Any = None
                 ) -> tuple[int, list[dict[str, Any]]]:
    conds: list[Any] = [] if scope is None else [scope]  # a channel token's own returns
    if status:
        conds.append(Return.status == status)
    if reason:
        conds.append(func.lower(Return.reason).contains(reason.lower()))
    if customer_id:
        conds.append(Return.customer_id == customer_id)
    if order_no:
        conds.append(Return.order_no == order_no)
    if kind:
        conds.append(Return.kind == kind)
    if category:
        conds.append(Return.category == category)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Return).where(*conds)).one()
        rows = session.exec(select(Return).where(*conds)
                            .order_by(col(Return.created_at).desc(), col(Return.id))
                            .offset(offset).limit(limit)).all()
        return int(total), [summary(r) for r in rows]


# --- a person's commands (the API and the pages) --------------------------------------------

async def record_parcel(client: Client, engine: Engine, return_id: str, courier: str,
                        tracking_no: str, actor: str) -> dict[str, Any]:
    """The customer's parcel; its "delivered" courier event opens the inspection."""
    ret = await asyncio.to_thread(get_return, engine, return_id)
    result = await send_update(client, ret.workflow_id, "parcel_sent",
                               ParcelInput(courier, tracking_no, actor), dict)
    return {"id": return_id, "status": result["status"], "parcel": result["parcel"]}


async def book_in(client: Client, engine: Engine, return_id: str, actor: str,
                  note: str = "") -> dict[str, Any]:
    """The warehouse booked the customer's parcel in: the inspection opens."""
    ret = await asyncio.to_thread(get_return, engine, return_id)
    await send_update(client, ret.workflow_id, "parcel_received", ReceivedInput(actor, note), dict)
    return {"id": return_id, "status": "received"}


async def pay_difference(client: Client, engine: Engine, return_id: str, transaction_id: str,
                         cents: int, actor: str) -> tuple[int, dict[str, Any]]:
    """The customer paid an exchange's price difference: the return's workflow confirms it
    with the provider and books it on the order, once per transaction (200 again for a
    repeat)."""
    ret = await asyncio.to_thread(get_return, engine, return_id)
    result = await send_update(client, ret.workflow_id, "pay_difference",
                               DifferencePayment(transaction_id, cents, actor), dict)
    return (200 if result.get("duplicate") else 201), {
        "id": return_id, "transaction_id": transaction_id, "amount": result["amount"],
        "status": result["status"], "duplicate": result.get("duplicate", False)}


async def cancel(client: Client, engine: Engine, return_id: str, reason: str,
                 actor: Actor) -> dict[str, Any]:
    """Withdraw the return before the parcel arrives."""
    ret = await asyncio.to_thread(get_return, engine, return_id)
    if ret.received_at is not None:
        raise Refused(409, "parcel_arrived",
                      "the parcel has arrived; the return can no longer be cancelled")
    if ret.status in RETURN_END_STATUSES:
        raise Refused(409, "invalid_state", f"return {return_id} is {ret.status}",
                      {"status": ret.status})
    await send_update(client, ret.workflow_id, "request_cancel", CancelInput(reason, actor), str)
    return {"id": return_id, "status": "cancelled"}


def packing_slip(engine: Engine, settings: Settings, return_id: str) -> dict[str, Any]:
    """An exchange's replacement as its pick list and packing slip show it."""
    return replacement_slip(engine, return_id,
                            temporal_url(settings, workflow_id_of(return_id)))
