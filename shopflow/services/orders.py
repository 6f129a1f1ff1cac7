"""Orders (seeds 001 and 002): intake checks, order numbers, the order row and its lines, the one
start path of ``order-<order_no>``, the row kept current by the workflow, settlement on
delivery, and the views the API, the web UI and the documents share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.db import insert_ignore, session_scope
from shopflow.models import (
    Case,
    FollowupDue,
    Order,
    OrderLine,
    OrderNumber,
    Payment,
    Product,
    Reconciliation,
    Return,
    Shipment,
)
from shopflow.models.order_schemas import OrderCreate, ShippingAddressIn
from shopflow.models.types import utcnow
from shopflow.services import invoices
from shopflow.services.case_rows import keep_current
from shopflow.services.cases import send_update, task_view, tasks_of, temporal_url, timeline_of
from shopflow.services.errors import Refused, never_reached_temporal, temporal_errors
from shopflow.services.inventory import backorder_waits
from shopflow.services.refunds import find_payment, payment_view, payments_of, refunds_of_order
from shopflow.services.shipments import shipment_with_events
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.order_fulfilment import OrderFulfilment, OrderInput, OrderTimers, PaymentInput
from shopflow.workflows.order_rules import address_text
from shopflow.workflows.shared import (
    Actor,
    CancelInput,
    CustomerData,
    OrderLineData,
    OrderSettle,
    OrderUpdate,
)
from shopflow.workflows.vocab import ORDER_TIMES

KPI_TIMES = ("backordered_at", "stock_secured_at", "paid_at", "shipped_at", "delivered_at",
             "completed_at", "cancelled_at", "first_exception_at")


def workflow_id_of(order_no: str) -> str:
    return f"order-{order_no}"


def to_cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


# --- intake --------------------------------------------------------------------------------

def intake(engine: Engine, body: OrderCreate, request_key: str | None,
           digest_of: Callable[[str], str], submitted_by: str
           ) -> tuple[bool, Order, list[OrderLine]]:
    """The whole intake in one write transaction (one database round trip on the create path):
    the contract's checks, the order number (when the channel sent none), the order row and its
    lines, and the case row that makes it visible at once. Returns whether the order is new, the
    row and its lines; the same number with other content is refused (409). ``digest_of`` gives
    the request's hash once its number is known."""
    check_shape(body)
    for _ in range(20):
        try:
            with session_scope(engine) as session:
                names, prices = product_names(session, body)
                order_no = body.order_no or next_order_no(session, request_key or uuid4().hex)
                digest = digest_of(order_no)
                new, order, lines = _insert_order(session, order_no, body, digest, submitted_by,
                                                  names, prices)
                if new:
                    _register_case(session, order)
            break
        except IntegrityError:
            continue  # another intake took that number at the same moment: take the next
    else:
        raise Refused(503, "unavailable", "could not allocate an order number; try again",
                      headers={"Retry-After": "1"})
    if not new and order.request_hash != digest:
        raise Refused(409, "order_exists", f"order {order_no} exists with different content",
                      {"order_no": order_no})
    return new, order, lines


def check_shape(body: OrderCreate) -> None:
    """The contract's 422s that need no database."""
    skus = [i.sku for i in body.items]
    if len(set(skus)) != len(skus):
        raise Refused(422, "duplicate_sku", "each SKU may appear once; add up the quantities")
    address = shipping_address(body)
    if not (body.customer.email or body.customer.phone or address.get("phone")):
        raise Refused(422, "missing_contact",
                      "the customer needs an email or a phone number (or the address a phone)",
                      {"loc": ["body", "customer"]})
    if not address.get("name"):
        raise Refused(422, "incomplete_address", "the shipping address needs a recipient name",
                      {"loc": ["body", "shipping_address", "name"]})


def product_names(session: Session, body: OrderCreate) -> tuple[dict[str, str], list[int]]:
    """The ordered products' names, and each line's unit price in cents: the line's own, else
    the product's catalogue price. An unknown SKU, or a line without a price whose product has
    none, is a 422 naming the line."""
    skus = [i.sku for i in body.items]
    products = {p.sku: p for p in session.exec(
        select(Product).where(col(Product.sku).in_(skus)))}
    prices = []
    for i, item in enumerate(body.items):
        product = products.get(item.sku)
        if product is None:
            raise Refused(422, "unknown_sku", f"unknown SKU {item.sku}",
                          {"loc": ["body", "items", i, "sku"], "sku": item.sku})
        if item.unit_price is not None:
            prices.append(to_cents(item.unit_price))
        elif product.price_cents is None:
            raise Refused(422, "no_price", f"{item.sku} has no catalogue price: give the "
                          "line's unit_price", {"loc": ["body", "items", i, "unit_price"],
                                                "sku": item.sku})
        else:
            prices.append(product.price_cents)
    return {sku: p.name for sku, p in products.items()}, prices


def check_order(engine: Engine, body: OrderCreate) -> tuple[dict[str, str], list[int]]:
    """The 422s of the contract, before anything is written; returns the product names and
    the lines' prices."""
    check_shape(body)
    with session_scope(engine, write=False) as session:
        return product_names(session, body)


def shipping_address(body: OrderCreate) -> dict[str, Any]:
    """The shipping address as stored: an object, with name and phone from the customer when
    the address leaves them out."""
    addr = body.shipping_address
    if isinstance(addr, ShippingAddressIn):
        data = addr.model_dump()
    else:
        data = {"line1": addr, "line2": None, "city": None, "region": None, "postcode": None,
                "country": None, "name": None, "phone": None}
    data["name"] = data.get("name") or body.customer.name
    data["phone"] = data.get("phone") or body.customer.phone
    return data


def next_order_no(session: Session, request_key: str) -> str:
    """``SO-YYYYMMDD-NNNNNN``, the day's next number; the same request key gets the same one.
    Two intakes taking one number at once: the second's commit fails (IntegrityError)."""
    known = session.get(OrderNumber, request_key)
    if known is not None:
        return known.order_no
    day = utcnow().strftime("%Y%m%d")
    seq = int(session.exec(select(func.coalesce(func.max(OrderNumber.seq), 0))
                           .where(OrderNumber.day == day)).one()) + 1
    order_no = f"SO-{day}-{seq:06d}"
    while session.get(Order, order_no) is not None:  # a channel used that number
        seq += 1
        order_no = f"SO-{day}-{seq:06d}"
    session.add(OrderNumber(request_key=request_key, order_no=order_no, day=day, seq=seq))
    session.flush()
    return order_no


def allocate_order_no(engine: Engine, request_key: str) -> str:
    """``next_order_no`` in a transaction of its own."""
    for _ in range(20):
        try:
            with session_scope(engine) as session:
                return next_order_no(session, request_key)
        except IntegrityError:
            continue  # another intake took that number at the same moment: take the next
    raise Refused(503, "unavailable", "could not allocate an order number; try again",
                  headers={"Retry-After": "1"})


def created_answer(order: Order) -> dict[str, Any]:
    # The same answer for the first request and every repeat of it.
    return {"order_no": order.order_no, "workflow_id": order.workflow_id, "status": "received",
            "total": order.total}


def _insert_order(session: Session, order_no: str, body: OrderCreate, digest: str,
                  submitted_by: str, names: dict[str, str], prices: list[int]
                  ) -> tuple[bool, Order, list[OrderLine]]:
    now = utcnow()
    total_cents = sum(price * item.quantity for price, item in zip(prices, body.items,
                                                                   strict=True))
    total_cents += to_cents(body.shipping_fee)
    inserted = insert_ignore(session, Order, [{
        "order_no": order_no, "customer_id": body.customer.id, "status": "received",
        "total_cents": total_cents, "created_at": now,
        "workflow_id": workflow_id_of(order_no), "stage": "intake", "channel": body.channel,
        "payment_method": body.payment_method, "currency": "CNY",
        "shipping_fee_cents": to_cents(body.shipping_fee),
        "customer": body.customer.model_dump(mode="json"),
        "shipping_address": shipping_address(body), "request_hash": digest,
        "submitted_by": submitted_by, "paid_cents": 0, "refunded_cents": 0,
        "version": 0, "exception_count": 0, "exceptions": [], "updated_at": now,
    }], ["order_no"])
    if inserted:
        lines = [OrderLine(order_no=order_no, line_no=line_no, sku=item.sku, name=names[item.sku],
                           quantity=item.quantity, unit_price_cents=price,
                           amount_cents=price * item.quantity)
                 for line_no, (item, price) in enumerate(zip(body.items, prices, strict=True),
                                                         start=1)]
        session.add_all(lines)
        session.flush()
    order = session.get(Order, order_no)
    assert order is not None
    return bool(inserted), order, (lines if inserted else order_lines(session, order_no))


def insert_order(engine: Engine, order_no: str, body: OrderCreate, digest: str,
                 submitted_by: str, names: dict[str, str], prices: list[int]
                 ) -> tuple[bool, Order, list[OrderLine]]:
    """The order row and its lines, once per order number. Returns whether it is new, the row
    and its lines; the same number with other content is refused (409)."""
    with session_scope(engine) as session:
        inserted, order, lines = _insert_order(session, order_no, body, digest, submitted_by,
                                               names, prices)
    if not inserted and order.request_hash != digest:
        raise Refused(409, "order_exists", f"order {order_no} exists with different content",
                      {"order_no": order_no})
    return inserted, order, lines


def _register_case(session: Session, order: Order) -> None:
    # The workflow writes the case too; this row only makes it visible at once.
    insert_ignore(session, Case, [{
        "id": order.order_no, "kind": "order", "workflow_id": order.workflow_id,
        "status": "received", "stage": "intake", "customer_id": order.customer_id,
        "data": {"order_no": order.order_no, "total": f"{order.total:.2f}",
                 "payment_method": order.payment_method, "channel": order.channel},
        "version": 0, "created_at": order.created_at, "updated_at": order.created_at,
    }], ["id"])


def register_case(engine: Engine, order: Order) -> None:
    with session_scope(engine) as session:
        _register_case(session, order)


# --- the one start path --------------------------------------------------------------------

def order_input(settings: Settings, order: Order, lines: list[OrderLine]) -> OrderInput:
    """The workflow input of an order, from its row: clocks from the settings now."""
    c = order.customer
    address = order.shipping_address
    return OrderInput(
        order_no=order.order_no,
        channel=order.channel,
        customer=CustomerData(
            id=order.customer_id, name=c.get("name") or "", company=c.get("company"),
            email=c.get("email"), phone=c.get("phone"),
            address=c.get("address") or address_text(address), locale=c.get("locale"),
            source=order.submitted_by),  # a channel: a known customer's details become a proposal
        lines=[OrderLineData(line.sku, line.quantity, line.unit_price_cents, line.name)
               for line in lines],
        shipping_address=address,
        payment_method=order.payment_method,
        timers=timers_for(OrderTimers, settings),
        submitted_by=order.submitted_by,
        shipping_fee_cents=order.shipping_fee_cents,
    )


def forget_order(engine: Engine, order_no: str, digest: str) -> None:
    """Undo ``intake`` for an order whose workflow never started (all or nothing)."""
    with session_scope(engine) as session:
        order = session.get(Order, order_no)
        if order is None or order.request_hash != digest:
            return
        for line in session.exec(select(OrderLine).where(OrderLine.order_no == order_no)):
            session.delete(line)
        case = session.get(Case, order_no)
        if case is not None and case.kind == "order" and case.version == 0:
            session.delete(case)
        session.flush()
        session.delete(order)


async def start_order(client: Client, settings: Settings, order: Order,
                      lines: list[OrderLine]) -> bool:
    """Start ``order-<order_no>``; the same order again starts nothing (False)."""
    try:
        await client.start_workflow(
            OrderFulfilment.run, order_input(settings, order, lines), id=order.workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        return False  # the same order again: its workflow runs (or ran) already
    return True


async def start_taken_order(client: Callable[[], Client], settings: Settings, engine: Engine,
                            new: bool, order: Order, lines: list[OrderLine]) -> bool:
    """Start the workflow of an order ``intake`` took, for the API and the web form alike.
    Started on a repeat too: should the first request have stopped between the row and the
    start, its retry finishes the job (the workflow id keeps it to one). All or nothing: a
    start Temporal never took takes back the order this request wrote (503, no order row); a
    start that may have been taken keeps it. True when this call started the workflow."""
    try:
        with temporal_errors():
            return await start_order(client(), settings, order, lines)
    except BaseException as err:
        if new and never_reached_temporal(err):
            await asyncio.to_thread(forget_order, engine, order.order_no, order.request_hash)
        raise


# --- payments ------------------------------------------------------------------------------

def get_order(engine: Engine, order_no: str) -> Order:
    with session_scope(engine, write=False) as session:
        order = session.get(Order, order_no)
    if order is None:
        raise Refused(404, "not_found", f"no order {order_no}")
    return order


def payment_public(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("order_no", "transaction_id", "method", "amount", "status",
                              "received_at")}


def known_payment(engine: Engine, order: Order, transaction_id: str) -> dict[str, Any] | None:
    with session_scope(engine, write=False) as session:
        payment = find_payment(session, transaction_id)
    if payment is None:
        return None
    if payment.order_no != order.order_no:
        raise Refused(409, "transaction_used",
                      f"transaction {transaction_id} is another order's payment")
    return payment_public(payment_view(payment))


# --- kept current by the workflow ----------------------------------------------------------

def apply_update(engine: Engine, req: OrderUpdate) -> None:
    """Status, stage, KPI times and exceptions of the order row; status only moves forward."""
    with session_scope(engine) as session:
        order = session.get(Order, req.order_no, with_for_update=True)
        if order is None:
            raise LookupError(req.order_no)  # the API writes the row before starting
        if req.exception is not None:
            known = {e.get("key") for e in order.exceptions}
            if req.exception.get("key") not in known:
                order.exceptions = [*order.exceptions, req.exception]
                order.exception_count += 1
                if order.first_exception_at is None:
                    order.first_exception_at = req.at
        if req.cancel_reason is not None and order.cancel_reason is None:
            order.cancel_reason = req.cancel_reason
        keep_current(order, version=req.version, status=req.status, stage=req.stage,
                     times=req.times, time_names=ORDER_TIMES)
        session.add(order)


def settle_delivery(engine: Engine, req: OrderSettle) -> dict[str, Any]:
    """Invoice, the sale line for finance and the follow-up that is now due."""
    with session_scope(engine) as session:
        order = session.get(Order, req.order_no, with_for_update=True)
        if order is None:
            raise LookupError(req.order_no)
        if order.invoice_no is None:
            order.invoice_no = f"INV-{order.order_no}"
            order.invoiced_at = req.at
            session.add(order)
        payments = session.exec(select(Payment).where(Payment.order_no == req.order_no)
                                .order_by(col(Payment.id))).all()
        insert_ignore(session, Reconciliation, [{
            "key": f"sale:{req.order_no}", "order_no": req.order_no, "kind": "sale",
            "amount_cents": sum(p.amount_cents for p in payments),
            "method": order.payment_method,
            "reference": ",".join(p.transaction_id for p in payments),
            "invoice_no": order.invoice_no, "status": "open", "created_at": req.at,
        }], ["key"])
        insert_ignore(session, FollowupDue, [{
            "workflow_id": req.followup_workflow_id, "source_kind": "order",
            "source_id": req.order_no, "order_no": req.order_no,
            "customer_id": order.customer_id, "reason": "delivered",
            "due_at": req.followup_due_at, "status": req.followup_status,
            "created_at": req.at,
        }], ["workflow_id"])
        return {"invoice_no": order.invoice_no,
                "invoiced_at": order.invoiced_at.isoformat() if order.invoiced_at else None}


# --- reading -------------------------------------------------------------------------------

def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def order_lines(session: Session, order_no: str) -> list[OrderLine]:
    return list(session.exec(select(OrderLine).where(OrderLine.order_no == order_no)
                             .order_by(col(OrderLine.line_no))))


def summary(order: Order) -> dict[str, Any]:
    return {"order_no": order.order_no, "workflow_id": order.workflow_id, "status": order.status,
            "stage": order.stage, "channel": order.channel, "customer_id": order.customer_id,
            "payment_method": order.payment_method, "total": order.total,
            "shipping_fee": order.shipping_fee, "paid_amount": order.paid_amount,
            "refunded_amount": order.refunded_amount,
            "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat()}


def order_view(session: Session, order: Order, temporal_url: str) -> dict[str, Any]:
    no = order.order_no
    shipments = session.exec(select(Shipment).where(Shipment.order_no == no,
                                                    Shipment.case_kind == "order")
                             .order_by(col(Shipment.shipped_at))).all()
    followup = session.exec(select(FollowupDue).where(FollowupDue.source_kind == "order",
                                                      FollowupDue.source_id == no)).first()
    return {
        **summary(order),
        "currency": order.currency,
        "customer": order.customer,
        "shipping_address": order.shipping_address,
        "items": [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                   "unit_price": line.unit_price, "amount": line.amount}
                  for line in order_lines(session, no)],
        "payments": payments_of(session, no),
        "shipments": [shipment_with_events(session, s) for s in shipments],
        "refunds": refunds_of_order(session, no),
        "returns": _returns_of(session, order),
        "complaints": _complaints_of(session, order),
        "backorder": [{"sku": w.sku, "quantity": w.quantity, "status": w.status,
                       "since": w.since.isoformat()}
                      for w in backorder_waits(session, order.workflow_id)],
        "invoice": ({"invoice_no": order.invoice_no, "invoiced_at": _iso(order.invoiced_at),
                     "url": f"/api/v1/orders/{no}/invoice"} if order.invoice_no else None),
        "tax_invoice": invoices.of_order(session, no),
        "followup": ({"workflow_id": followup.workflow_id, "status": followup.status,
                      "due_at": followup.due_at.isoformat()} if followup else None),
        "kpi": {"received_at": order.created_at.isoformat(),
                **{name: _iso(getattr(order, name)) for name in KPI_TIMES},
                "exception_count": order.exception_count, "exceptions": order.exceptions},
        "cancel_reason": order.cancel_reason,
        "tasks": [task_view(t) for t in tasks_of(session, no)],
        "timeline": timeline_of(session, no),
        "temporal_url": temporal_url,
    }


def load_order_view(engine: Engine, order_no: str, temporal_url: str,
                    document: bool = False) -> dict[str, Any]:
    """The order as the API shows it (404 if unknown); ``document`` adds the address as one
    line for the printable pick list, packing slip and invoice."""
    with session_scope(engine, write=False) as session:
        order = session.get(Order, order_no)
        if order is None:
            raise Refused(404, "not_found", f"no order {order_no}")
        view = order_view(session, order, temporal_url)
        if document:
            view["address_text"] = address_text(order.shipping_address)
        return view


def list_orders(engine: Engine, offset: int, limit: int, status: str | None = None,
                customer_id: str | None = None,
                scope: Any = None) -> tuple[int, list[dict[str, Any]]]:
    conds: list[Any] = [] if scope is None else [scope]  # a channel token's own orders
    if status:
        conds.append(Order.status == status)
    if customer_id:
        conds.append(Order.customer_id == customer_id)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Order).where(*conds)).one()
        rows = session.exec(select(Order).where(*conds)
                            .order_by(col(Order.created_at).desc(), col(Order.order_no))
                            .offset(offset).limit(limit)).all()
        return int(total), [summary(o) for o in rows]


def _returns_of(session: Session, order: Order) -> list[dict[str, Any]]:
    return [{"id": r.id, "kind": r.kind, "status": r.status, "outcome": r.outcome,
             "reason": r.reason, "quality_issue": r.quality_issue,
             "items": [{"sku": i["sku"], "quantity": i["quantity"], "result": i.get("result")}
                       for i in r.items],
             "refund_amount": r.refund_amount, "created_at": r.created_at.isoformat()}
            for r in session.exec(select(Return).where(Return.order_no == order.order_no)
                                  .order_by(col(Return.created_at)))]


def _complaints_of(session: Session, order: Order) -> list[dict[str, Any]]:
    from shopflow.models.care import Complaint

    return [{"id": c.id, "status": c.status, "category": c.category,
             "created_at": c.created_at.isoformat(),
             "resolved_at": _iso(c.resolved_at)}
            for c in session.exec(select(Complaint).where(Complaint.order_no == order.order_no)
                                  .order_by(col(Complaint.created_at)))]


# --- a person's commands (the API and the pages) --------------------------------------------

SHIPPED_STATUSES = ("shipped", "exception", "completed", "refunded")
CLOSED_STATUSES = ("cancelled", "completed", "refunded")


async def record_payment(client: Client, engine: Engine, order: Order, transaction_id: str,
                         amount: Decimal, actor: str) -> tuple[int, dict[str, Any]]:
    """An online payment of the whole total; a transaction id is booked once (200 with the same
    payment again)."""
    known = await asyncio.to_thread(known_payment, engine, order, transaction_id)
    if known is not None:
        return 200, known
    if order.payment_method != "online":
        raise Refused(409, "cod_order",
                      "a cash-on-delivery order is paid to the courier on delivery")
    if order.status in CLOSED_STATUSES:
        raise Refused(409, "order_closed", f"order {order.order_no} is {order.status}",
                      {"status": order.status})
    cents = to_cents(amount)
    if cents != order.total_cents:
        raise Refused(422, "amount_mismatch",
                      f"the order total is {order.total:.2f}, not {amount:.2f}",
                      {"expected": order.total, "received": float(amount)})
    result = await send_update(client, order.workflow_id, "record_payment",
                               PaymentInput(transaction_id, cents, actor), dict)
    return (200 if result.get("duplicate") else 201), payment_public(result)


async def cancel(client: Client, engine: Engine, order_no: str, reason: str,
                 actor: Actor) -> dict[str, Any]:
    """Cancel before shipment (stock released, a paid order refunded, the customer told); after
    shipment 409: the customer returns the goods instead."""
    order = await asyncio.to_thread(get_order, engine, order_no)
    if order.status in SHIPPED_STATUSES or order.shipped_at is not None:
        raise Refused(409, "already_shipped",
                      f"order {order_no} has shipped; ask for a return instead",
                      {"hint": "POST /api/v1/returns", "order_no": order_no,
                       "status": order.status})
    if order.status == "cancelled":
        raise Refused(409, "already_cancelled", f"order {order_no} is cancelled already")
    await send_update(client, order.workflow_id, "request_cancel", CancelInput(reason, actor), str)
    done = await asyncio.to_thread(get_order, engine, order_no)
    return {"order_no": order_no, "status": "cancelled", "refunded_amount": done.refunded_amount}


def document(engine: Engine, settings: Settings, order_no: str) -> dict[str, Any]:
    """The order as its printable documents show it (pick list, packing slip, invoice)."""
    return load_order_view(engine, order_no, temporal_url(settings, workflow_id_of(order_no)),
                           True)


def invoice(engine: Engine, settings: Settings, order_no: str) -> dict[str, Any]:
    """The order as its invoice page shows it: the tax invoice (发票) with its credit notes
    once issued (asked for: ``POST /orders/{no}/invoice``), else the delivery invoice."""
    order = document(engine, settings, order_no)
    tax = order["tax_invoice"]
    if not order["invoice"] and not (tax and tax["status"] == "issued"):
        raise Refused(409, "not_invoiced", "the invoice is issued when the order is paid (an "
                      "invoice asked for) or delivered", {"status": order["status"]})
    return order
