"""Finance's reconciliation (issue 17.6): one day's money per provider, and settling it.

Definitions (a day is midnight to midnight in the schedule's time zone, ``reports.day_start``):
- provider ``online``: the payment provider. Its payments are the ``online`` payments received
  that day; its refunds the refunds through the provider (``original``) that succeeded that day.
- provider ``cod``: cash on delivery, collected by the courier. Its payments are the ``cod``
  collections received that day; its transfers the refunds finance pays back by bank transfer
  (``bank_transfer``: ``transfer_due`` or done) booked that day.
- refused and pending refunds move no money and are not listed.
- each transfer line carries ``bank_details``: finance's latest request for the customer's
  account (services/bank_details.py: who asked, its status, the account masked), or null.
- net = payments - refunds - transfers. Amounts are decimals (cents inside).
- settling a (day, provider) records who, when, a note and the totals as they stood, audited;
  it happens once: a second settle is a 409 ``already_settled`` naming who settled it. A
  settled day whose totals changed since shows ``changed_since_settled``.
- the provider's own report (issue 18): ``check`` compares the online provider's
  ``daily_report(day)`` with the books (payments by transaction id, refunds by the provider's
  refund id) and keeps each difference once (``reconciliation_differences``): a line only one
  side has (``missing_at_provider``/``missing_in_books``) or other amounts
  (``amount_differs``). Each opens a ``ReconciliationDifference`` case with a finance task
  (workflows/finance.py); ``resolve`` records finance's decision (``accept_provider`` books an
  adjustment line). A day with an open difference cannot be settled (409
  ``open_differences``). Cash on delivery is the courier's: it has no report to compare here.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Payment, Reconciliation, ReconciliationDifference, Refund, Settlement
from shopflow.models.orders import decimal
from shopflow.models.types import utcnow
from shopflow.providers.payments import PaymentProvider
from shopflow.security.csvsafe import safe_rows
from shopflow.services import bank_details
from shopflow.services.audit import audit
from shopflow.services.care import local_day
from shopflow.services.cases import start_once
from shopflow.services.errors import Refused, business_error, temporal_errors
from shopflow.services.reports import day_start
from shopflow.settings import Settings
from shopflow.workflows.finance import (
    DifferenceInput,
    DifferenceResolve,
    ReconcileResult,
    ReconcileRun,
)
from shopflow.workflows.finance_rules import difference_case_id
from shopflow.workflows.shared import Actor, ErrorType

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
    return [{"refund_id": r.id, "order_no": r.order_no, "reference": r.provider_ref or r.key,
             "status": r.status,
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
    differences = [difference_view(d) for d in _differences(session, day, provider)]
    transfers = _shown(refunds) if provider == "cod" else []
    asked = bank_details.latest(session, [t["refund_id"] for t in transfers])
    for line in transfers:  # the customer's account for each, masked (services/bank_details)
        line["bank_details"] = asked.get(line["refund_id"])
    return {
        "provider": provider,
        "differences": differences,
        "open_differences": sum(1 for d in differences if d["status"] == "open"),
        "payments": _shown(payments),
        "refunds": _shown(refunds) if provider == "online" else [],
        "transfers": transfers,
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
        if figures["open_differences"]:
            raise Refused(409, "open_differences",
                          f"{figures['open_differences']} difference(s) with the provider's "
                          "report are still open: finance decides each first",
                          {"open_differences": figures["open_differences"]})
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


# --- the provider's own report, and the differences (issue 18) ------------------------------

def compare(books: list[dict[str, Any]], report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The differences between the books' lines and the provider's (each ``{kind, reference,
    amount_cents}``, the books' with ``order_no``): a line only one side has, or the same
    reference with other amounts. Sorted by kind and reference."""
    ours = {(x["kind"], x["reference"]): x for x in books}
    theirs = {(x["kind"], x["reference"]): x for x in report}
    out = []
    for key in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(key), theirs.get(key)
        if mine is not None and other is not None and mine["amount_cents"] == other["amount_cents"]:
            continue
        what = ("missing_at_provider" if other is None else "missing_in_books" if mine is None
                else "amount_differs")
        out.append({"kind": key[0], "reference": key[1], "what": what,
                    "order_no": mine["order_no"] if mine else "",
                    "books_cents": mine["amount_cents"] if mine else None,
                    "provider_cents": other["amount_cents"] if other else None})
    return out


def books_lines(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The online provider's movements as the books have them: payments by transaction id,
    refunds by the provider's refund id."""
    return ([{"kind": "payment", "reference": p["reference"], "order_no": p["order_no"],
              "amount_cents": p["amount_cents"]} for p in _payments(session, "online", start, end)]
            + [{"kind": "refund", "reference": r["reference"], "order_no": r["order_no"],
                "amount_cents": r["amount_cents"]} for r in _refunds(session, "online", start, end)])


def difference_view(row: ReconciliationDifference) -> dict[str, Any]:
    return {"id": row.id, "key": row.key, "day": row.day.isoformat(), "provider": row.provider,
            "kind": row.kind, "what": row.what, "reference": row.reference,
            "order_no": row.order_no,
            "books": decimal(row.books_cents) if row.books_cents is not None else None,
            "provider_amount": (decimal(row.provider_cents) if row.provider_cents is not None
                                else None),
            "status": row.status, "decision": row.decision, "note": row.note,
            "resolved_by": row.resolved_by,
            "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
            "case_id": difference_case_id(row.id or 0)}


def _differences(session: Session, day: date, provider: str) -> list[ReconciliationDifference]:
    return list(session.exec(select(ReconciliationDifference).where(
        col(ReconciliationDifference.day) == day, col(ReconciliationDifference.provider) == provider)
        .order_by(col(ReconciliationDifference.id))))


def report_day(settings: Settings, run: ReconcileRun) -> date:
    """The day a run compares: ``as_of``, else yesterday in the schedule's time zone."""
    if run.as_of:
        return date.fromisoformat(run.as_of)
    return local_day(settings, utcnow()) - timedelta(days=1)


def check_day(engine: Engine, settings: Settings, provider: PaymentProvider,
              day: date) -> tuple[int, list[dict[str, Any]]]:
    """Compare the online provider's daily report of ``day`` with the books; keep each
    difference once (``day:online:kind:reference``). Returns the report's line count and every
    difference of the day (new and earlier ones, open or resolved)."""
    start, end = day_bounds(settings, day)
    report = provider.daily_report(day)
    theirs = [{"kind": x.kind, "reference": x.reference, "amount_cents": x.amount_cents}
              for x in report.lines]
    with session_scope(engine) as session:
        found = compare(books_lines(session, start, end), theirs)
        insert_ignore(session, ReconciliationDifference, [{
            "key": f"{day.isoformat()}:online:{d['kind']}:{d['reference']}"[:250],
            "day": day, "provider": "online", "kind": d["kind"], "what": d["what"],
            "reference": d["reference"][:200], "order_no": d["order_no"],
            "books_cents": d["books_cents"], "provider_cents": d["provider_cents"],
            "status": "open", "note": "", "created_at": utcnow(),
        } for d in found], ["key"])
        return len(report.lines), [difference_view(r) for r in _differences(session, day,
                                                                              "online")]


CHECK_WAIT = 30.0  # seconds an on-demand check is waited for before it answers "running"


async def run_check(client: Client, settings: Settings, day: date,
                    actor: Actor) -> tuple[bool, dict[str, Any]]:
    """Finance's on-demand comparison of ``day`` (the page's button, ``POST
    /reconciliation/check``): the same workflow the Schedule runs, under its own id. Returns
    (done, the result), or (False, its workflow id) when it takes longer than CHECK_WAIT."""
    day_bounds(settings, day)
    if day > local_day(settings, utcnow()):
        raise Refused(422, "invalid_date", "a day that has not begun cannot be checked",
                      {"date": day.isoformat()})
    workflow_id = f"reconciliation-check-{day.isoformat()}-{uuid.uuid4().hex[:12]}"
    with temporal_errors():
        handle = await client.start_workflow(
            "ProviderReconciliation", ReconcileRun(day.isoformat(), actor.name),
            id=workflow_id, task_queue=settings.task_queue, result_type=ReconcileResult,
            execution_timeout=timedelta(hours=1))
        try:
            result = await asyncio.wait_for(handle.result(), CHECK_WAIT)
        except TimeoutError:
            return False, {"date": day.isoformat(), "status": "running",
                           "workflow_id": workflow_id}
    return True, {**asdict(result), "status": "done", "workflow_id": workflow_id}


async def check(client: Client, engine: Engine, settings: Settings, provider: PaymentProvider,
                run: ReconcileRun) -> ReconcileResult:
    """The day's comparison, then a ``ReconciliationDifference`` case (a finance task) for each
    open difference, once per difference however often the day is checked."""
    day = report_day(settings, run)
    lines, found = await asyncio.to_thread(check_day, engine, settings, provider, day)
    started = []
    for d in found:
        if d["status"] != "open":
            continue
        if await start_once(client, settings, "ReconciliationDifference",
                            DifferenceInput(d["id"], d, settings.task_due), d["case_id"]):
            started.append(d["case_id"])
    return ReconcileResult(day.isoformat(), "online", lines, found, started)


def resolve(engine: Engine, req: DifferenceResolve) -> dict[str, Any]:
    """Finance's decision on a difference, once (a repeat answers the first): recorded with who
    and when, audited; ``accept_provider`` also books an adjustment line (the provider's figure
    minus the books', negative for refunds as refund lines are) in ``reconciliations``."""
    with session_scope(engine) as session:
        row = session.get(ReconciliationDifference, req.difference_id, with_for_update=True)
        if row is None:
            raise business_error(ErrorType.NOT_FOUND, "not_found",
                                 f"no reconciliation difference {req.difference_id}")
        if row.status == "resolved":
            return difference_view(row)
        before = difference_view(row)
        row.status, row.decision, row.note = "resolved", req.decision, req.note.strip()[:500]
        row.resolved_by, row.resolved_at = req.actor, req.at
        session.add(row)
        if req.decision == "accept_provider":
            delta = (row.provider_cents or 0) - (row.books_cents or 0)
            insert_ignore(session, Reconciliation, [{
                "key": f"adjust:{row.key}"[:200], "order_no": row.order_no or "-",
                "kind": "adjustment", "amount_cents": delta if row.kind == "payment" else -delta,
                "method": "original" if row.kind == "refund" else "online",
                "reference": row.reference, "status": "reconciled", "created_at": req.at,
            }], ["key"])
        view = difference_view(row)
        audit(session, req.actor, "reconciliation", row.key, req.decision, before, view)
        return view
