"""Bank details for a COD transfer refund (issue 17.6): finance asks, the customer answers once.

A cash-on-delivery order's refund cannot go back through the payment provider: it is a bank
transfer (services/refunds.py, ``bank_transfer`` / ``transfer_due``). Finance (ops, admin) asks
the customer for the account (``POST /api/v1/refunds/{id}/bank-details-request``, the
reconciliation page's button):

- the refund must be a transfer still due (409 ``no_transfer_due``); one open request at a time
  (409 ``bank_details_requested`` naming who asked), none once the details came (409
  ``bank_details_received``); an expired request may be asked again;
- the request row (who asked, when, the expiry, the SHA-256 of the link: security/links.py) and
  its audit event are written in one transaction, then the ``BankDetailsNotice`` workflow
  (``bank-details-<id>``) sends the customer one notice through the outbox (dedup key
  ``bank-details:<id>``); the link's ref is only in that notice's data. If Temporal cannot take
  the start, the request is withdrawn (nothing half-applied) and the answer is a 503;
- the customer's form (``/bank-details/<token>``, no sign-in) takes account holder, bank name
  and account number (digits, 8 to 30 after spaces and dashes are dropped); a bad field is a
  422 naming it; the link works once (410 ``link_used``) until it expires (410
  ``link_expired``); the answer is audited (actor ``customer``);
- finance sees the details on the reconciliation page with the account number masked (its
  last 4 digits); the whole number is only in the table, for the transfer itself;
- once the details came, finance records the transfer as made (``POST
  /api/v1/refunds/{id}/transfer-paid {reference}``): the refund becomes ``succeeded`` with the
  bank's reference, audited (it stays on the day it was booked); 409 ``bank_details_missing``
  before the details came, ``transfer_paid`` the second time.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from shopflow.db import session_scope
from shopflow.models import BankDetailsRequest, Order, Refund
from shopflow.models.orders import decimal
from shopflow.models.types import utcnow
from shopflow.security.links import bank_token, link_key, token_hash
from shopflow.services.audit import audit
from shopflow.services.bulk import invalid
from shopflow.services.errors import Refused, temporal_errors
from shopflow.services.people import local_text
from shopflow.settings import Settings
from shopflow.workflows.finance import BankDetailsNotice, bank_details_workflow_id
from shopflow.workflows.shared import Actor, NoticeRequest

NOTICE_KIND = "bank_details_request"
ACCOUNT_DIGITS = re.compile(r"[0-9]{8,30}")
TEXT_MAX = 100


def mask(number: str | None) -> str | None:
    """An account number as finance sees it: its last 4 digits."""
    return f"****{number[-4:]}" if number else None


def _status(row: BankDetailsRequest, now: datetime) -> str:
    if row.status == "received":
        return "received"
    return "requested" if row.expires_at > now else "expired"


def request_view(row: BankDetailsRequest, now: datetime | None = None) -> dict[str, Any]:
    """A request as finance sees it (never the link, never the whole account number)."""
    return {"id": row.id, "refund_id": row.refund_id, "status": _status(row, now or utcnow()),
            "requested_by": row.requested_by, "requested_at": row.requested_at.isoformat(),
            "expires_at": row.expires_at.isoformat(), "account_holder": row.account_holder,
            "bank_name": row.bank_name, "account": mask(row.account_number),
            "received_at": row.received_at.isoformat() if row.received_at else None}


def latest(session: Session, refund_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each refund's latest request, as finance sees it."""
    if not refund_ids:
        return {}
    found: dict[int, dict[str, Any]] = {}
    now = utcnow()
    for row in session.exec(select(BankDetailsRequest).where(
            col(BankDetailsRequest.refund_id).in_(refund_ids))
            .order_by(col(BankDetailsRequest.id))):
        found[row.refund_id] = request_view(row, now)
    return found


def _request(engine: Engine, settings: Settings, refund_id: int,
             actor: Actor) -> tuple[dict[str, Any], NoticeRequest]:
    now = utcnow()
    with session_scope(engine) as session:
        refund = session.get(Refund, refund_id, with_for_update=True)
        if refund is None:
            raise Refused(404, "not_found", f"no refund {refund_id}")
        if refund.method != "bank_transfer" or refund.status != "transfer_due":
            raise Refused(409, "no_transfer_due",
                          "only a refund paid back by bank transfer, still due, needs the "
                          "customer's bank details", {"method": refund.method,
                                                      "status": refund.status})
        before = latest(session, [refund_id]).get(refund_id)
        if before is not None and before["status"] == "received":
            raise Refused(409, "bank_details_received",
                          "the customer has sent the bank details already",
                          {"received_at": before["received_at"]})
        if before is not None and before["status"] == "requested":
            raise Refused(409, "bank_details_requested",
                          f"{before['requested_by']} asked already; the link works until "
                          f"{before['expires_at']}", {"requested_by": before["requested_by"],
                                                      "expires_at": before["expires_at"]})
        order = session.get(Order, refund.order_no)
        if order is None:
            raise Refused(409, "no_transfer_due", f"the refund's order {refund.order_no} is gone")
        ref = secrets.token_urlsafe(32)
        row = BankDetailsRequest(
            refund_id=refund_id, token=token_hash(bank_token(link_key(settings), ref)),
            status="open", requested_by=actor.name, requested_at=now,
            expires_at=now + settings.bank_link_ttl)
        session.add(row)
        session.flush()
        assert row.id is not None
        view = request_view(row, now)
        audit(session, actor.name, "refund", str(refund_id), "bank_details_request", None, view)
        notice = NoticeRequest(
            dedup_key=f"bank-details:{row.id}", kind=NOTICE_KIND, case_id=None,
            customer_id=order.customer_id,
            data={"order_no": refund.order_no, "amount": f"{decimal(refund.amount_cents):.2f}",
                  "expires_local": local_text(settings, row.expires_at), "bank_ref": ref})
    return view, notice


def _withdraw(engine: Engine, request_id: int, actor: Actor) -> None:
    """Undo a request whose notice could not be started (so finance can simply ask again)."""
    with session_scope(engine) as session:
        row = session.get(BankDetailsRequest, request_id, with_for_update=True)
        if row is None:
            return
        view = request_view(row)
        session.execute(delete(BankDetailsRequest).where(
            col(BankDetailsRequest.id) == request_id))
        audit(session, actor.name, "refund", str(row.refund_id), "bank_details_withdrawn",
              view, None)


async def ask(client: Client, engine: Engine, settings: Settings, refund_id: int,
              actor: Actor) -> dict[str, Any]:
    """Finance asks for the bank details of a transfer refund: the request, audited, and its one
    notice to the customer (module docstring)."""
    view, notice = await asyncio.to_thread(_request, engine, settings, refund_id, actor)
    try:
        with temporal_errors():
            await client.start_workflow(
                BankDetailsNotice.run, notice, id=bank_details_workflow_id(view["id"]),
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except BaseException:
        await asyncio.to_thread(_withdraw, engine, view["id"], actor)
        raise
    return view


# --- the customer's side: the form behind the link -------------------------------------------

def _find(session: Session, token: str, lock: bool = False) -> BankDetailsRequest:
    query = select(BankDetailsRequest).where(
        col(BankDetailsRequest.token) == token_hash(token[:200]))
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise Refused(404, "not_found", "unknown link")
    if row.status == "received":
        raise Refused(410, "link_used", "this link was used already: we have your bank details")
    if row.expires_at <= utcnow():
        raise Refused(410, "link_expired", "this link has expired: please contact us")
    return row


def open_request(engine: Engine, token: str) -> dict[str, Any]:
    """What the form shows (the order and the amount), or 404/410 for a link that cannot be
    used."""
    with session_scope(engine, write=False) as session:
        row = _find(session, token)
        refund = session.get(Refund, row.refund_id)
        return {"order_no": refund.order_no if refund else "",
                "amount": decimal(refund.amount_cents) if refund else None}


def clean(account_holder: str, bank_name: str, account_number: str) -> tuple[str, str, str]:
    """The form's fields checked; a 422 naming the first bad one."""
    holder, bank = account_holder.strip(), bank_name.strip()
    number = re.sub(r"[\s-]", "", account_number)
    if not holder or len(holder) > TEXT_MAX:
        raise invalid("account_holder", f"account_holder: the account holder's name is needed "
                                        f"(at most {TEXT_MAX} characters)")
    if not bank or len(bank) > TEXT_MAX:
        raise invalid("bank_name", f"bank_name: the bank's name is needed (at most {TEXT_MAX} "
                                   "characters)")
    if not ACCOUNT_DIGITS.fullmatch(number):
        raise invalid("account_number", "account_number: digits only, 8 to 30 of them (spaces "
                                        "and dashes are ignored)")
    return holder, bank, number


def submit(engine: Engine, token: str, account_holder: str, bank_name: str,
           account_number: str) -> dict[str, Any]:
    """The customer's answer, once: stored and audited; a used or expired link is a 410."""
    with session_scope(engine) as session:
        row = _find(session, token, lock=True)  # a used or expired link first: 410
        holder, bank, number = clean(account_holder, bank_name, account_number)
        row.account_holder, row.bank_name, row.account_number = holder, bank, number
        row.status, row.received_at = "received", utcnow()
        session.add(row)
        view = request_view(row)
        audit(session, "customer", "refund", str(row.refund_id), "bank_details_received", None,
              view)
    return view


def mark_paid(engine: Engine, refund_id: int, reference: str, actor: Actor) -> dict[str, Any]:
    """The transfer made: the refund ``succeeded`` with the bank's reference, once, audited."""
    with session_scope(engine) as session:
        refund = session.get(Refund, refund_id, with_for_update=True)
        if refund is None:
            raise Refused(404, "not_found", f"no refund {refund_id}")
        if refund.method == "bank_transfer" and refund.status == "succeeded":
            raise Refused(409, "transfer_paid", "this transfer was recorded as made already",
                          {"reference": refund.provider_ref})
        if refund.method != "bank_transfer" or refund.status != "transfer_due":
            raise Refused(409, "no_transfer_due", "only a refund paid back by bank transfer, "
                          "still due, can be marked transferred",
                          {"method": refund.method, "status": refund.status})
        asked = latest(session, [refund_id]).get(refund_id)
        if asked is None or asked["status"] != "received":
            raise Refused(409, "bank_details_missing",
                          "the customer's bank details have not come yet: ask for them first")
        before = {"status": refund.status, "reference": refund.provider_ref}
        refund.status, refund.provider_ref = "succeeded", reference
        session.add(refund)
        after = {"status": refund.status, "reference": reference}
        audit(session, actor.name, "refund", str(refund_id), "transfer_paid", before, after)
    return {"refund_id": refund_id, **after, "paid_by": actor.name}
