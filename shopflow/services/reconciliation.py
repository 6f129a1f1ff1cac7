"""Finance's reconciliation (issue 17.6): one day's money per provider, and settling it.

Definitions (a day is midnight to midnight in the schedule's time zone, ``reports.day_start``):
- provider ``online``: the payment provider. Its payments are the ``online`` payments received
  that day; its refunds the refunds through the provider (``original``) that succeeded that day.
- provider ``cod``: cash on delivery, collected by the courier. Its payments are the ``cod``
  collections received that day; its transfers the refunds finance pays back by bank transfer
  (``bank_transfer``: ``transfer_due`` or done) booked that day.
- refused and pending refunds move no money and are not listed.
- net = payments - refunds - transfers. Amounts are decimals (cents inside).
- settling a (day, provider) records who, when, a note and the totals as they stood, audited;
  it happens once: a second settle is a 409 ``already_settled`` naming who settled it. A
  settled day whose totals changed since shows ``changed_since_settled``.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Payment, Refund, Settlement
from shopflow.models.orders import decimal
from shopflow.models.types import utcnow
from shopflow.security.csvsafe import safe_rows
from shopflow.services.audit import audit
from shopflow.services.care import local_day
from shopflow.services.errors import Refused
from shopflow.services.reports import day_start
from shopflow.settings import Settings
from shopflow.workflows.shared import Actor

PROVIDERS = ("online", "cod")
REFUND_METHOD = {"online": "original", "cod": "bank_transfer"}
REFUND_STATUSES = {"online": ("succeeded",), "cod": ("transfer_due", "succeeded")}
CSV_HEADER = ["date", "provider", "kind", "order_no", "reference", "status", "at", "amount"]


def day_bounds(settings: Settings, day: date) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of ``day`` in UTC; 422 naming ``date`` past the calendar."""
    try:
        return day_start(settings, day), day_start(settings, day + timedelta(days=1))
    except OverflowError:
        raise Refused(422, "invalid_date", "the date is out of range of the calendar",
                      {"date": str(day)}) from None


def _payments(session: Session, provider: str, start: datetime,
              end: datetime) -> list[dict[str, Any]]:
    rows = session.exec(select(Payment).where(
        col(Payment.method) == provider, col(Payment.received_at) >= start,
        col(Payment.received_at) < end).order_by(col(Payment.received_at), col(Payment.id)))
    return [{"order_no": p.order_no, "reference": p.transaction_id, "status": p.status,
             "at": p.received_at.isoformat(), "amount_cents": p.amount_cents} for p in rows]


def _refunds(session: Session, provider: str, start: datetime,
             end: datetime) -> list[dict[str, Any]]:
    rows = session.exec(select(Refund).where(
        col(Refund.method) == REFUND_METHOD[provider],
        col(Refund.status).in_(REFUND_STATUSES[provider]),
        col(Refund.completed_at) >= start, col(Refund.completed_at) < end)
        .order_by(col(Refund.completed_at), col(Refund.id)))
    return [{"order_no": r.order_no, "reference": r.provider_ref or r.key, "status": r.status,
             "at": r.completed_at.isoformat() if r.completed_at else None,
             "case": f"{r.case_kind}:{r.case_id}" if r.case_id else r.case_kind,
             "amount_cents": r.amount_cents} for r in rows]


def _shown(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in line.items() if k != "amount_cents"},
             "amount": decimal(line["amount_cents"])} for line in lines]


def _settlement_view(row: Settlement) -> dict[str, Any]:
    return {"settled_by": row.settled_by, "settled_at": row.settled_at.isoformat(),
            "note": row.note, "payments": decimal(row.payments_cents),
            "refunds": decimal(row.refunds_cents), "transfers": decimal(row.transfers_cents)}


def _provider_day(session: Session, provider: str, day: date, start: datetime,
                  end: datetime) -> dict[str, Any]:
    payments = _payments(session, provider, start, end)
    refunds = _refunds(session, provider, start, end)
    cents = {"payments": sum(p["amount_cents"] for p in payments),
             "refunds": sum(r["amount_cents"] for r in refunds) if provider == "online" else 0,
             "transfers": sum(r["amount_cents"] for r in refunds) if provider == "cod" else 0}
    settled = session.exec(select(Settlement).where(
        col(Settlement.day) == day, col(Settlement.provider) == provider)).first()
    as_settled = (settled.payments_cents, settled.refunds_cents,
                  settled.transfers_cents) if settled else None
    return {
        "provider": provider,
        "payments": _shown(payments),
        "refunds": _shown(refunds) if provider == "online" else [],
        "transfers": _shown(refunds) if provider == "cod" else [],
        "totals": {**{k: decimal(v) for k, v in cents.items()},
                   "net": decimal(cents["payments"] - cents["refunds"] - cents["transfers"]),
                   "lines": len(payments) + len(refunds)},
        "totals_cents": cents,
        "settlement": _settlement_view(settled) if settled else None,
        "changed_since_settled": as_settled is not None and as_settled != (
            cents["payments"], cents["refunds"], cents["transfers"]),
    }


def day_view(engine: Engine, settings: Settings, day: date | None,
             provider: str | None = None) -> dict[str, Any]:
    """The day's (default today's) payments, refunds and COD transfer refunds with totals, per
    provider (one, or each of ``PROVIDERS``), and whether each is settled."""
    day = day or local_day(settings, utcnow())
    start, end = day_bounds(settings, day)
    with session_scope(engine, write=False) as session:
        found = [_provider_day(session, p, day, start, end) for p in (
            [provider] if provider else PROVIDERS)]
    for p in found:
        p.pop("totals_cents")
    return {"date": day.isoformat(), "period_start": start.isoformat(),
            "period_end": end.isoformat(), "providers": found}


def settle(engine: Engine, settings: Settings, day: date, provider: str, note: str,
           actor: Actor) -> dict[str, Any]:
    """Mark (day, provider) settled once, audited in the same transaction; 409
    ``already_settled`` the second time, 422 naming ``date`` for a day not begun yet."""
    start, end = day_bounds(settings, day)
    if day > local_day(settings, utcnow()):
        raise Refused(422, "invalid_date", "a day that has not begun cannot be settled",
                      {"date": day.isoformat()})
    with session_scope(engine) as session:
        figures = _provider_day(session, provider, day, start, end)
        cents = figures["totals_cents"]
        inserted = insert_ignore(session, Settlement, [{
            "day": day, "provider": provider, "note": note.strip(),
            "payments_cents": cents["payments"], "refunds_cents": cents["refunds"],
            "transfers_cents": cents["transfers"], "settled_by": actor.name,
        }], ["day", "provider"])
        row = session.exec(select(Settlement).where(
            col(Settlement.day) == day, col(Settlement.provider) == provider)).one()
        view = {"date": day.isoformat(), "provider": provider, **_settlement_view(row)}
        if not inserted:
            raise Refused(409, "already_settled",
                          f"{day.isoformat()} ({provider}) was settled by {row.settled_by}",
                          {"settled_by": row.settled_by, "settled_at": view["settled_at"]})
        audit(session, actor.name, "reconciliation", f"{day.isoformat()}:{provider}", "settle",
              None, view)
    return view


def render_csv(view: dict[str, Any]) -> str:
    """The day as CSV: one line per payment, refund and transfer, then each provider's totals
    (kind ``total``, the figure in ``reference``); text cells made formula-safe."""
    rows: list[list[Any]] = [CSV_HEADER]
    for p in view["providers"]:
        for kind, section in (("payment", "payments"), ("refund", "refunds"),
                              ("transfer", "transfers")):
            rows += [[view["date"], p["provider"], kind, line["order_no"], line["reference"],
                      line["status"], line["at"], f"{line['amount']:.2f}"]
                     for line in p[section]]
        for figure in ("payments", "refunds", "transfers", "net"):
            rows.append([view["date"], p["provider"], "total", "", figure,
                         "settled" if p["settlement"] else "open", "",
                         f"{p['totals'][figure]:.2f}"])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(safe_rows(rows))
    return out.getvalue()
