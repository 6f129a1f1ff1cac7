"""Orders (seeds 001 and 002): intake, payments, cancellation, lookups, and the printable pick
list, packing slip and invoice. Each order is the workflow ``order-<order_no>``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from shopflow.activities.cases import task_view, tasks_of, timeline_of
from shopflow.activities.orders import waiting_for
from shopflow.activities.payments import payment_view, refund_view
from shopflow.activities.shipping import shipment_view
from shopflow.api.auth import User
from shopflow.api.cases import send_update, temporal_url
from shopflow.api.deps import PageDep, Services, ServicesDep, require
from shopflow.api.errors import ApiError, from_temporal
from shopflow.api.idempotency import body_hash, idempotent
from shopflow.api.metrics import WORKFLOWS_STARTED
from shopflow.api.pages import render_page
from shopflow.db import insert_ignore, session_scope
from shopflow.models import (
    BackorderWait,
    Case,
    FollowupDue,
    InventoryItem,
    Order,
    OrderLine,
    OrderNumber,
    Payment,
    Product,
    Refund,
    Shipment,
    ShipmentEvent,
)
from shopflow.models.order_schemas import (
    OrderCancel,
    OrderCancelled,
    OrderCreate,
    OrderCreated,
    OrderPublic,
    OrderSummary,
    PaymentIn,
    PaymentPublic,
    ShippingAddressIn,
)
from shopflow.models.schemas import PageOf
from shopflow.models.types import utcnow
from shopflow.services.timers import timers_for
from shopflow.workflows.order_fulfilment import (
    OrderFulfilment,
    OrderInput,
    OrderTimers,
    PaymentInput,
    address_text,
)
from shopflow.workflows.shared import Actor, CancelInput, CustomerData, OrderLineData, StockArrived
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import CaseKind

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/orders", tags=["orders"])
READ_ROLES = CASE_READ_ROLES[CaseKind.ORDER]
SHIPPED_STATUSES = ("shipped", "exception", "completed", "refunded")
CLOSED_STATUSES = ("cancelled", "completed", "refunded")


def workflow_id_of(order_no: str) -> str:
    return f"order-{order_no}"


def to_cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


# --- intake --------------------------------------------------------------------------------

def _check_order(svc: Services, body: OrderCreate) -> dict[str, str]:
    """The 422s of the contract, before anything is written; returns the product names."""
    skus = [i.sku for i in body.items]
    if len(set(skus)) != len(skus):
        raise ApiError(422, "duplicate_sku", "each SKU may appear once; add up the quantities")
    with session_scope(svc.engine, write=False) as session:
        names = {p.sku: p.name for p in session.exec(
            select(Product).where(col(Product.sku).in_(skus)))}
    for i, item in enumerate(body.items):
        if item.sku not in names:
            raise ApiError(422, "unknown_sku", f"unknown SKU {item.sku}",
                           {"loc": ["body", "items", i, "sku"], "sku": item.sku})
    address = _address(body)
    if not (body.customer.email or body.customer.phone or address.get("phone")):
        raise ApiError(422, "missing_contact",
                       "the customer needs an email or a phone number (or the address a phone)",
                       {"loc": ["body", "customer"]})
    if not address.get("name"):
        raise ApiError(422, "incomplete_address", "the shipping address needs a recipient name",
                       {"loc": ["body", "shipping_address", "name"]})
    return names


def _address(body: OrderCreate) -> dict[str, Any]:
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


def allocate_order_no(svc: Services, request_key: str) -> str:
    """``SO-YYYYMMDD-NNNNNN``, the day's next number; the same request key gets the same one."""
    for _ in range(20):
        try:
            with session_scope(svc.engine) as session:
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
                session.add(OrderNumber(request_key=request_key, order_no=order_no, day=day,
                                        seq=seq))
            return order_no
        except IntegrityError:
            continue  # another intake took that number at the same moment: take the next
    raise ApiError(503, "unavailable", "could not allocate an order number; try again",
                   headers={"Retry-After": "1"})


def _created(order: Order) -> dict[str, Any]:
    # The same answer for the first request and every repeat of it.
    return {"order_no": order.order_no, "workflow_id": order.workflow_id, "status": "received",
            "total": order.total}


def _insert_order(svc: Services, order_no: str, body: OrderCreate, digest: str, user: User,
                  names: dict[str, str]) -> tuple[int, dict[str, Any], Order]:
    now = utcnow()
    lines = [(i + 1, item) for i, item in enumerate(body.items)]
    total = sum((item.unit_price * item.quantity for item in body.items),
                body.shipping_fee)
    with session_scope(svc.engine) as session:
        inserted = insert_ignore(session, Order.__table__, [{
            "order_no": order_no, "customer_id": body.customer.id, "status": "received",
            "total": float(round(total, 2)), "created_at": now,
            "workflow_id": workflow_id_of(order_no), "stage": "intake", "channel": body.channel,
            "payment_method": body.payment_method, "currency": "CNY",
            "shipping_fee": float(body.shipping_fee),
            "customer": body.customer.model_dump(mode="json"),
            "shipping_address": _address(body), "request_hash": digest,
            "submitted_by": user.name, "paid_amount": 0.0, "refunded_amount": 0.0, "version": 0,
            "exception_count": 0, "exceptions": [], "updated_at": now,
        }], ["order_no"])
        if inserted:
            for line_no, item in lines:
                session.add(OrderLine(
                    order_no=order_no, line_no=line_no, sku=item.sku, name=names[item.sku],
                    quantity=item.quantity, unit_price=float(item.unit_price),
                    amount=float(round(item.unit_price * item.quantity, 2))))
        order = session.get(Order, order_no)
        assert order is not None
    if not inserted and order.request_hash != digest:
        raise ApiError(409, "order_exists",
                       f"order {order_no} exists with different content",
                       {"order_no": order_no})
    return (201 if inserted else 200), _created(order), order


def _register_case(svc: Services, order: Order) -> None:
    # The workflow writes the case too; this row only makes it visible at once.
    with session_scope(svc.engine) as session:
        insert_ignore(session, Case.__table__, [{
            "id": order.order_no, "kind": "order", "workflow_id": order.workflow_id,
            "status": "received", "stage": "intake", "customer_id": order.customer_id,
            "data": {"order_no": order.order_no, "total": f"{order.total:.2f}",
                     "payment_method": order.payment_method, "channel": order.channel},
            "version": 0, "created_at": order.created_at, "updated_at": order.created_at,
        }], ["id"])


async def _start(svc: Services, order: Order, body: OrderCreate, names: dict[str, str],
                 user: User) -> None:
    s = svc.settings
    address = order.shipping_address
    inp = OrderInput(
        order_no=order.order_no,
        channel=body.channel,
        customer=CustomerData(
            id=body.customer.id, name=body.customer.name, company=body.customer.company,
            email=body.customer.email, phone=body.customer.phone,
            address=body.customer.address or address_text(address), locale=body.customer.locale),
        lines=[OrderLineData(i.sku, i.quantity, to_cents(i.unit_price), names[i.sku])
               for i in body.items],
        shipping_address=address,
        payment_method=body.payment_method,
        timers=timers_for(OrderTimers, s),
        submitted_by=user.name,
        shipping_fee_cents=to_cents(body.shipping_fee),
    )
    try:
        await svc.client().start_workflow(
            OrderFulfilment.run, inp, id=order.workflow_id, task_queue=s.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        WORKFLOWS_STARTED.labels("order").inc()
    except WorkflowAlreadyStartedError:
        pass  # the same order again: its workflow runs (or ran) already
    except RPCError as err:
        raise from_temporal(err) from None


@router.post("", status_code=201, response_model=OrderCreated,
             responses={200: {"model": OrderCreated, "description": "the same order again"},
                        409: {}, 422: {}, 503: {}})
async def create_order(
    body: OrderCreate, svc: ServicesDep, user: Annotated[User, Depends(require("channel"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Take an order from a channel. The same order again (same number, same content) answers
    200 with the first answer and starts nothing; the same number with other content is 409."""
    names = await svc.db(_check_order, svc, body)
    request = body.model_dump(mode="json")

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        order_no = body.order_no or await svc.db(allocate_order_no, svc,
                                                 seed or uuid.uuid4().hex)
        digest = body_hash({**request, "order_no": order_no})
        status, payload, order = await svc.db(_insert_order, svc, order_no, body, digest, user,
                                               names)
        # Started on a repeat too: should the first request have stopped between the row and
        # the start, its retry finishes the job (the workflow id keeps it to one).
        await _start(svc, order, body, names, user)
        if status == 201:
            await svc.db(_register_case, svc, order)
        return status, payload

    return await idempotent(svc, user, "POST /orders", idempotency_key, request, create)


# --- payments, cancellation ----------------------------------------------------------------

def _order(svc: Services, order_no: str) -> Order:
    with session_scope(svc.engine, write=False) as session:
        order = session.get(Order, order_no)
    if order is None:
        raise ApiError(404, "not_found", f"no order {order_no}")
    return order


def _payment_public(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("order_no", "transaction_id", "method", "amount", "status",
                              "received_at")}


def _known_payment(svc: Services, order: Order, transaction_id: str) -> dict[str, Any] | None:
    with session_scope(svc.engine, write=False) as session:
        payment = session.exec(select(Payment).where(
            Payment.transaction_id == transaction_id)).first()
    if payment is None:
        return None
    if payment.order_no != order.order_no:
        raise ApiError(409, "transaction_used",
                       f"transaction {transaction_id} is another order's payment")
    return _payment_public(payment_view(payment))


@router.post("/{order_no}/payments", status_code=201, response_model=PaymentPublic,
             responses={200: {"model": PaymentPublic, "description": "the same payment again"},
                        404: {}, 409: {}, 422: {}, 503: {}})
async def record_payment(
    order_no: str, body: PaymentIn, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "finance"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """An online payment for the order (the whole total). A transaction id is booked once: the
    same one again answers 200 with the same payment."""
    order = await svc.db(_order, svc, order_no)

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        known = await svc.db(_known_payment, svc, order, body.transaction_id)
        if known is not None:
            return 200, known
        if order.payment_method != "online":
            raise ApiError(409, "cod_order",
                           "a cash-on-delivery order is paid to the courier on delivery")
        if order.status in CLOSED_STATUSES:
            raise ApiError(409, "order_closed", f"order {order_no} is {order.status}",
                           {"status": order.status})
        cents = to_cents(body.amount)
        if cents != round(order.total * 100):
            raise ApiError(422, "amount_mismatch",
                           f"the order total is {order.total:.2f}, not {body.amount:.2f}",
                           {"expected": order.total, "received": float(body.amount)})
        result = await send_update(svc, order.workflow_id, "record_payment",
                                   PaymentInput(body.transaction_id, cents, user.name), dict)
        return (200 if result.get("duplicate") else 201), _payment_public(result)

    return await idempotent(svc, user, f"POST /orders/{order_no}/payments", idempotency_key,
                            body.model_dump(mode="json"), create)


@router.post("/{order_no}/cancel", response_model=OrderCancelled,
             responses={404: {}, 409: {}, 422: {}, 503: {}})
async def cancel_order(order_no: str, body: OrderCancel, svc: ServicesDep,
                       user: Annotated[User, Depends(require("cs", "ops"))]) -> dict[str, Any]:
    """Cancel before shipment: stock released, a paid order refunded, the customer told. After
    shipment it is 409: the customer returns the goods instead."""
    order = await svc.db(_order, svc, order_no)
    if order.status in SHIPPED_STATUSES or order.shipped_at is not None:
        raise ApiError(409, "already_shipped",
                       f"order {order_no} has shipped; ask for a return instead",
                       {"hint": "POST /api/v1/returns", "order_no": order_no,
                        "status": order.status})
    if order.status == "cancelled":
        raise ApiError(409, "already_cancelled", f"order {order_no} is cancelled already")
    await send_update(svc, order.workflow_id, "request_cancel",
                      CancelInput(body.reason, Actor(user.name, user.role)), str)
    done = await svc.db(_order, svc, order_no)
    return {"order_no": order_no, "status": "cancelled", "refunded_amount": done.refunded_amount}


# --- reading -------------------------------------------------------------------------------

def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def summary(order: Order) -> dict[str, Any]:
    return {"order_no": order.order_no, "workflow_id": order.workflow_id, "status": order.status,
            "stage": order.stage, "channel": order.channel, "customer_id": order.customer_id,
            "payment_method": order.payment_method, "total": order.total,
            "shipping_fee": order.shipping_fee, "paid_amount": order.paid_amount,
            "refunded_amount": order.refunded_amount,
            "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat()}


def order_view(svc: Services, session: Session, order: Order) -> dict[str, Any]:
    no = order.order_no
    lines = session.exec(select(OrderLine).where(OrderLine.order_no == no)
                         .order_by(col(OrderLine.line_no))).all()
    shipments = session.exec(select(Shipment).where(Shipment.order_no == no,
                                                    Shipment.case_kind == "order")
                             .order_by(col(Shipment.shipped_at))).all()
    followup = session.exec(select(FollowupDue).where(FollowupDue.source_kind == "order",
                                                      FollowupDue.source_id == no)).first()
    waits = session.exec(select(BackorderWait).where(BackorderWait.workflow_id == order.workflow_id)
                         .order_by(col(BackorderWait.id))).all()
    return {
        **summary(order),
        "currency": order.currency,
        "customer": order.customer,
        "shipping_address": order.shipping_address,
        "items": [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                   "unit_price": line.unit_price, "amount": line.amount} for line in lines],
        "payments": [payment_view(p) for p in session.exec(
            select(Payment).where(Payment.order_no == no).order_by(col(Payment.id)))],
        "shipments": [{**shipment_view(s), "events": _events(session, s.tracking_no)}
                      for s in shipments],
        "refunds": [refund_view(r) for r in session.exec(
            select(Refund).where(Refund.order_no == no).order_by(col(Refund.id)))],
        "returns": _returns_of(session, order),
        "complaints": _complaints_of(session, order),
        "backorder": [{"sku": w.sku, "quantity": w.quantity, "status": w.status,
                       "since": w.since.isoformat()} for w in waits],
        "invoice": ({"invoice_no": order.invoice_no, "invoiced_at": _iso(order.invoiced_at),
                     "url": f"/api/v1/orders/{no}/invoice"} if order.invoice_no else None),
        "followup": ({"workflow_id": followup.workflow_id, "status": followup.status,
                      "due_at": followup.due_at.isoformat()} if followup else None),
        "kpi": {"received_at": order.created_at.isoformat(),
                **{name: _iso(getattr(order, name)) for name in (
                    "backordered_at", "stock_secured_at", "paid_at", "shipped_at",
                    "delivered_at", "completed_at", "cancelled_at", "first_exception_at")},
                "exception_count": order.exception_count, "exceptions": order.exceptions},
        "cancel_reason": order.cancel_reason,
        "tasks": [task_view(t) for t in tasks_of(session, no)],
        "timeline": timeline_of(session, no),
        "temporal_url": temporal_url(svc, order.workflow_id),
    }


def _events(session: Session, tracking_no: str) -> list[dict[str, Any]]:
    return [{"type": e.type, "at": e.at.isoformat(), "note": e.note, "by": e.recorded_by}
            for e in session.exec(select(ShipmentEvent).where(
                ShipmentEvent.tracking_no == tracking_no).order_by(col(ShipmentEvent.at),
                                                                   col(ShipmentEvent.id)))]


def _returns_of(session: Session, order: Order) -> list[dict[str, Any]]:
    from shopflow.models import Return

    return [{"id": r.id, "kind": r.kind, "status": r.status, "outcome": r.outcome,
             "reason": r.reason, "quality_issue": r.quality_issue,
             "items": [{"sku": i["sku"], "quantity": i["quantity"], "result": i.get("result")}
                       for i in r.items],
             "refund_amount": r.refund_amount, "created_at": r.created_at.isoformat()}
            for r in session.exec(select(Return).where(Return.order_no == order.order_no)
                                  .order_by(col(Return.created_at)))]


def _complaints_of(session: Session, order: Order) -> list[dict[str, Any]]:
    try:
        from shopflow.models.care import Complaint
    except ImportError:  # pragma: no cover - customer care not installed
        return []
    return [{"id": c.id, "status": c.status, "category": c.category,
             "created_at": c.created_at.isoformat(),
             "resolved_at": _iso(c.resolved_at)}
            for c in session.exec(select(Complaint).where(Complaint.order_no == order.order_no)
                                  .order_by(col(Complaint.created_at)))]


@router.get("", response_model=PageOf[OrderSummary])
async def list_orders(
    svc: ServicesDep, page: PageDep, _: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    def query() -> dict[str, Any]:
        conds = []
        if status:
            conds.append(Order.status == status)
        if customer_id:
            conds.append(Order.customer_id == customer_id)
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Order).where(*conds)).one()
            rows = session.exec(select(Order).where(*conds)
                                .order_by(col(Order.created_at).desc(), col(Order.order_no))
                                .offset(page.offset).limit(page.page_size)).all()
            return {"items": [summary(o) for o in rows], "total": total, "page": page.page,
                    "page_size": page.page_size}

    return await svc.db(query)


@router.get("/{order_no}", response_model=OrderPublic, responses={404: {}})
async def get_order(order_no: str, svc: ServicesDep,
                    _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            order = session.get(Order, order_no)
            if order is None:
                raise ApiError(404, "not_found", f"no order {order_no}")
            return order_view(svc, session, order)

    return await svc.db(load)


def _document(svc: Services, order_no: str) -> dict[str, Any]:
    with session_scope(svc.engine, write=False) as session:
        order = session.get(Order, order_no)
        if order is None:
            raise ApiError(404, "not_found", f"no order {order_no}")
        view = order_view(svc, session, order)
        view["address_text"] = address_text(order.shipping_address)
        return view


@router.get("/{order_no}/pick-list", response_class=HTMLResponse, responses={404: {}})
async def pick_list(order_no: str, request: Request, svc: ServicesDep,
                    _: Annotated[User, Depends(require("warehouse", "cs", "ops"))]
                    ) -> HTMLResponse:
    """Printable pick list of the order's lines."""
    return render_page(request, "order_pick_list.html", order=await svc.db(_document, svc,
                                                                           order_no))


@router.get("/{order_no}/packing-slip", response_class=HTMLResponse, responses={404: {}})
async def packing_slip(order_no: str, request: Request, svc: ServicesDep,
                       _: Annotated[User, Depends(require("warehouse", "cs", "ops"))]
                       ) -> HTMLResponse:
    """Printable packing slip (goes in the parcel): recipient, lines, cash to collect."""
    return render_page(request, "order_packing_slip.html",
                       order=await svc.db(_document, svc, order_no))


@router.get("/{order_no}/invoice", response_class=HTMLResponse, responses={404: {}, 409: {}})
async def invoice(order_no: str, request: Request, svc: ServicesDep,
                  _: Annotated[User, Depends(require("channel", "cs", "finance", "ops"))]
                  ) -> HTMLResponse:
    """The invoice of a delivered order (HTML, printable)."""
    order = await svc.db(_document, svc, order_no)
    if not order["invoice"]:
        raise ApiError(409, "not_invoiced", "the invoice is issued when the order is delivered",
                       {"status": order["status"]})
    return render_page(request, "order_invoice.html", order=order)


# --- backorders ----------------------------------------------------------------------------

async def wake_backorders(svc: Services, sku: str) -> int:
    """A receipt of ``sku`` was booked: offer it to the cases waiting for it, oldest first, one
    after the other (each takes what it needs before the next is asked). Returns how many took
    stock. A case that cannot be reached is left waiting: it looks again before giving up."""

    def waiting() -> list[tuple[str, str]]:
        with session_scope(svc.engine, write=False) as session:
            return [(w.workflow_id, w.case_id) for w in waiting_for(session, sku)]

    def available() -> int:
        with session_scope(svc.engine, write=False) as session:
            item = session.get(InventoryItem, sku)
            return item.available if item else 0

    def close_wait(workflow_id: str) -> None:
        with session_scope(svc.engine) as session:
            wait = session.exec(select(BackorderWait).where(
                BackorderWait.workflow_id == workflow_id, BackorderWait.sku == sku)).first()
            if wait is not None and wait.status == "waiting":
                wait.status, wait.updated_at = "closed", utcnow()
                session.add(wait)

    woken = 0
    for workflow_id, case_id in await svc.db(waiting):
        if await svc.db(available) <= 0:
            break
        try:
            handle = svc.client().get_workflow_handle(workflow_id)
            result = await handle.execute_update("stock_arrived", StockArrived(sku),
                                                 result_type=dict)
        except WorkflowUpdateFailedError as err:
            log.info("backorder not woken", workflow_id=workflow_id, sku=sku,
                     error=str(err.cause))
            continue
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the case ended meanwhile
                await svc.db(close_wait, workflow_id)
                continue
            log.warning("backorder wake-up failed", workflow_id=workflow_id, sku=sku,
                        error=str(err))
            continue
        except ApiError as err:  # Temporal unreachable: the cases look again at their deadline
            log.warning("backorder wake-up skipped", sku=sku, error=err.message)
            break
        if result.get("reserved"):
            woken += 1
            log.info("backorder served", workflow_id=workflow_id, case_id=case_id, sku=sku)
    return woken
