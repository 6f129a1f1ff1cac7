"""Money on the books: payments (online, cash on delivery), refunds and reconciliation lines.

A refund is written as ``pending`` under its key before the provider is called with that key as
its idempotency key, and marked done after; a retry (lost reply, crash, timeout) finds the row
and asks the provider again with the same key, which answers with the first refund. So a refund
happens once however often the activity runs. The provider calls are the activities' part
(activities/payments.py); the books are here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Order, Payment, Reconciliation, Refund
from shopflow.models.orders import decimal
from shopflow.models.types import utcnow
from shopflow.services import invoices
from shopflow.services.errors import business_error
from shopflow.workflows.money import amount
from shopflow.workflows.shared import ErrorType, PaymentCapture, RefundRequest


def payment_view(p: Payment) -> dict[str, Any]:
    return {"order_no": p.order_no, "transaction_id": p.transaction_id, "method": p.method,
            "amount": p.amount, "status": p.status, "provider_ref": p.provider_ref,
            "received_at": p.received_at.isoformat(), "recorded_by": p.recorded_by}


def refund_view(r: Refund) -> dict[str, Any]:
    return {"id": r.id, "key": r.key, "order_no": r.order_no, "case_kind": r.case_kind,
            "case_id": r.case_id, "amount": r.amount, "method": r.method, "status": r.status,
            "transaction_id": r.transaction_id, "provider_ref": r.provider_ref,
            "reason": r.reason, "requested_by": r.requested_by,
            "created_at": r.created_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None}


def payments_of(session: Session, order_no: str) -> list[dict[str, Any]]:
    return [payment_view(p) for p in session.exec(
        select(Payment).where(Payment.order_no == order_no).order_by(col(Payment.id)))]


def refunds_of_order(session: Session, order_no: str) -> list[dict[str, Any]]:
    return [refund_view(r) for r in session.exec(
        select(Refund).where(Refund.order_no == order_no).order_by(col(Refund.id)))]


def refunds_of_case(session: Session, case_kind: str, case_id: str) -> list[dict[str, Any]]:
    return [refund_view(r) for r in session.exec(
        select(Refund).where(Refund.case_kind == case_kind, Refund.case_id == case_id)
        .order_by(col(Refund.id)))]


def find_payment(session: Session, transaction_id: str) -> Payment | None:
    return session.exec(select(Payment).where(Payment.transaction_id == transaction_id)).first()


def known_payment(engine: Engine, req: PaymentCapture) -> dict[str, Any] | None:
    """The payment if this transaction was booked already (for this order; refused if for
    another)."""
    with session_scope(engine, write=False) as session:
        known = find_payment(session, req.transaction_id)
        return same_order(known, req) if known is not None else None


def book_payment(engine: Engine, req: PaymentCapture, status: str,
                 provider_ref: str) -> dict[str, Any]:
    """Book a payment on the order once per transaction id."""
    with session_scope(engine) as session:
        inserted = insert_ignore(session, Payment, [{
            "order_no": req.order_no, "transaction_id": req.transaction_id,
            "method": req.method, "amount_cents": req.amount_cents, "status": status,
            "provider_ref": provider_ref, "received_at": req.at, "recorded_by": req.actor,
        }], ["transaction_id"])
        if inserted:
            order = session.get(Order, req.order_no, with_for_update=True)
            assert order is not None
            order.paid_cents += req.amount_cents
            order.paid_at = order.paid_at or req.at
            order.updated_at = utcnow()
            session.add(order)
            invoices.on_paid(session, order, req.at)  # an invoice asked for: issued now
        payment = find_payment(session, req.transaction_id)
        assert payment is not None
        return same_order(payment, req)


def same_order(payment: Payment, req: PaymentCapture) -> dict[str, Any]:
    if payment.order_no != req.order_no:
        raise business_error(ErrorType.CONFLICT, "transaction_used",
                             f"transaction {req.transaction_id} is another order's payment")
    return payment_view(payment)


def find_refund(session: Session, key: str, lock: bool = False) -> Refund | None:
    stmt = select(Refund).where(Refund.key == key)
    if lock:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def open_refund(engine: Engine, req: RefundRequest) -> tuple[dict[str, Any], str | None]:
    """The refund row under its key (written ``pending`` the first time). Returns its view and,
    while the provider still has to pay it, the transaction to refund against.

    The books equal what moves: the provider is asked for the row's amount under the row's
    attempt key (``provider_key``). Another amount under a key still in progress (or done) is
    a clear 409; a refused attempt keeps its row as ``refused`` (under ``<key>~refused<n>``,
    counted nowhere), so the next request is a new attempt with a new provider key."""
    with session_scope(engine) as session:
        row = find_refund(session, req.key, lock=True)
        if row is not None and row.status == "refused":
            row.key = f"{req.key}~refused{_refused_attempts(session, req.key) + 1}"
            session.add(row)
            session.flush()
            row = None
        if row is None:
            row = _new_refund(session, req)
        elif row.amount_cents != req.amount_cents:
            raise business_error(ErrorType.CONFLICT, "refund_in_progress",
                                 f"a refund of {amount(row.amount_cents)} is already "
                                 f"{row.status} under this key; {amount(req.amount_cents)} is "
                                 "another refund", amount=row.amount, status=row.status)
        view = refund_view(row)
        view["provider_key"] = provider_key(req.key, _refused_attempts(session, req.key))
        return view, (row.transaction_id if row.status == "pending" else None)


def provider_key(key: str, refused: int) -> str:
    """The idempotency key the provider sees: the case's key for the first attempt, a new one
    for each attempt after a refusal (the provider may remember the refusal)."""
    return key if refused == 0 else f"{key}#{refused + 1}"


def _refused_attempts(session: Session, key: str) -> int:
    return len(session.exec(select(Refund.id).where(
        col(Refund.key).startswith(f"{key}~refused"))).all())


def refuse_refund(engine: Engine, req: RefundRequest, reason: str) -> None:
    """The provider refused: the row stops blocking later refunds and says why."""
    with session_scope(engine) as session:
        row = find_refund(session, req.key, lock=True)
        if row is not None and row.status == "pending":
            row.status, row.completed_at = "refused", req.at
            row.reason = f"{row.reason} (refused: {reason})"[:500]
            session.add(row)


def complete_refund(engine: Engine, req: RefundRequest, provider_ref: str) -> dict[str, Any]:
    with session_scope(engine) as session:
        row = find_refund(session, req.key, lock=True)
        assert row is not None
        if row.status == "pending":
            _complete(session, row, "succeeded", provider_ref, req)
        return refund_view(row)


def _new_refund(session: Session, req: RefundRequest) -> Refund:
    order = session.get(Order, req.order_no, with_for_update=True)
    if order is None:
        raise business_error(ErrorType.NOT_FOUND, "not_found", f"no order {req.order_no}")
    # Pending refunds count too: two cases refunding at once never give back more than paid.
    claimed = sum(r.amount_cents for r in session.exec(
        select(Refund).where(Refund.order_no == req.order_no, Refund.status != "refused")))
    refundable = order.paid_cents - claimed
    if req.amount_cents <= 0 or req.amount_cents > refundable:
        raise business_error(ErrorType.INVALID, "refund_exceeds_paid",
                             f"{amount(req.amount_cents)} is more than the "
                             f"{amount(refundable)} refundable",
                             refundable=decimal(refundable), amount=decimal(req.amount_cents))
    online = session.exec(select(Payment).where(Payment.order_no == req.order_no,
                                                Payment.method == "online")
                          .order_by(col(Payment.id))).first()
    insert_ignore(session, Refund, [{
        "key": req.key, "order_no": req.order_no, "case_kind": req.case_kind,
        "case_id": req.case_id, "amount_cents": req.amount_cents,
        # Cash on delivery went to the courier: finance pays it back by bank transfer.
        "method": "original" if online else "bank_transfer",
        "status": "pending", "transaction_id": online.transaction_id if online else None,
        "reason": req.reason, "requested_by": req.actor, "created_at": req.at,
    }], ["key"])
    row = find_refund(session, req.key)
    assert row is not None
    if row.method == "bank_transfer" and row.status == "pending":
        _complete(session, row, "transfer_due", None, req)
    return row


def _complete(session: Session, row: Refund, status: str, provider_ref: str | None,
              req: RefundRequest) -> None:
    row.status, row.provider_ref, row.completed_at = status, provider_ref, req.at
    session.add(row)
    order = session.get(Order, row.order_no, with_for_update=True)
    assert order is not None
    order.refunded_cents += row.amount_cents
    order.updated_at = utcnow()
    session.add(order)
    invoices.on_refunded(session, order, row, req.at)  # an issued invoice: its credit note
    insert_ignore(session, Reconciliation, [{
        "key": f"refund:{row.key}", "order_no": row.order_no, "kind": "refund",
        "amount_cents": -row.amount_cents, "method": row.method,
        "reference": provider_ref or row.transaction_id or "", "invoice_no": order.invoice_no,
        "status": "open", "created_at": req.at,
    }], ["key"])
