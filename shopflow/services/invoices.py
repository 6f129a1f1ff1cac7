"""Tax invoices on request (发票) and credit notes (红字发票), issue 18.

- A customer (through a channel, or customer service for them) asks for an invoice on an order
  with a title and, for a company, its tax ID (统一社会信用代码, 18 characters with a check
  character). The tax lines are fixed at the request: one per order line and one for the
  shipping fee, each with its VAT rate (``SHOPFLOW_TAX_RATES`` by SKU or SKU prefix,
  ``shipping``, else ``SHOPFLOW_TAX_RATE_DEFAULT``). Prices include the tax: a line's tax is
  ``gross * rate / (1 + rate)`` rounded half up to the cent, its net the rest.
- The invoice is issued (numbered) once the order is paid in full: at once when it already is,
  else when the payment is captured (online) or collected (cash on delivery, at delivery). No
  workflow event: the payment's booking (services/refunds.book_payment) issues it in the same
  transaction.
- Every refund that completes on an invoiced order issues a credit note for the refunded amount
  (services/refunds._complete), against the lines of the goods returned first, then shipping,
  then the rest; a line is never credited above its invoiced amount, so credit notes never
  exceed the invoice. A line's tax on credit notes is the tax of what has been credited so far
  minus the tax of what had been before: credited in full, it equals the line's invoiced tax.
- Numbers (``FP00000001`` …) come from one counter row (``number_counters``) incremented in
  the same transaction as the row that takes the number: invoices and credit notes share one
  series without gaps, under concurrency on SQLite (writes serialised) and PostgreSQL (the
  UPDATE holds the counter row until commit).
- Asking twice gives the same invoice (one row per order). Before it is issued another title or
  tax ID replaces the request; after, it is a 409 ``already_invoiced``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Invoice, NumberCounter, Order, OrderLine, Refund, Return
from shopflow.models.orders import decimal
from shopflow.models.types import utcnow
from shopflow.services.audit import audit
from shopflow.services.errors import Refused
from shopflow.settings import Settings
from shopflow.workflows.shared import Actor

RATE_SCALE = 10_000  # rates in basis points: 13% is 1300
SERIES = "invoice"
NUMBER_PREFIX = "FP"
SHIPPING = "shipping"
REFUNDED = ("succeeded", "transfer_due")  # refunds that moved (or are owed by transfer)

# --- tax arithmetic (pure) ------------------------------------------------------------------

def rate_bp(rate: Decimal) -> int:
    return int((rate * RATE_SCALE).to_integral_value(ROUND_HALF_UP))


def rate_for(sku: str, rates: Mapping[str, Decimal], default: Decimal) -> Decimal:
    """The SKU's own rate, else the longest matching ``PREFIX*``, else the default."""
    if sku in rates:
        return rates[sku]
    prefixes = [k for k in rates if k.endswith("*") and sku.startswith(k[:-1])]
    return rates[max(prefixes, key=len)] if prefixes else default


def tax_in(gross_cents: int, bp: int) -> int:
    """The tax inside a tax-inclusive amount, half up to the cent (gross >= 0)."""
    return (2 * gross_cents * bp + RATE_SCALE + bp) // (2 * (RATE_SCALE + bp))


def tax_line(line: int, sku: str, name: str, quantity: int | None, gross_cents: int,
             bp: int, tax_cents: int | None = None) -> dict[str, Any]:
    tax = tax_in(gross_cents, bp) if tax_cents is None else tax_cents
    return {"line": line, "sku": sku, "name": name, "quantity": quantity,
            "rate_bp": bp, "gross_cents": gross_cents, "tax_cents": tax,
            "net_cents": gross_cents - tax}


def invoice_lines(lines: Iterable[tuple[str, str, int, int]], shipping_cents: int,
                  rates: Mapping[str, Decimal], default: Decimal) -> list[dict[str, Any]]:
    """One tax line per order line (sku, name, quantity, amount in cents) and one for the
    shipping fee when there is one."""
    out = [tax_line(n, sku, name, qty, gross, rate_bp(rate_for(sku, rates, default)))
           for n, (sku, name, qty, gross) in enumerate(lines, 1)]
    if shipping_cents:
        out.append(tax_line(len(out) + 1, SHIPPING, "运费 Shipping", None, shipping_cents,
                            rate_bp(rate_for(SHIPPING, rates, default))))
    return out


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    rows = list(lines)
    return {"net_cents": sum(int(x["net_cents"]) for x in rows),
            "tax_cents": sum(int(x["tax_cents"]) for x in rows),
            "gross_cents": sum(int(x["gross_cents"]) for x in rows)}


def credit_lines(invoiced: Sequence[Mapping[str, Any]], credited: Mapping[int, int],
                 amount_cents: int, first: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The credit note's lines for ``amount_cents`` against an invoice's lines, given what each
    line (by number) has been credited so far: the lines of the SKUs in ``first`` (goods that
    came back), then shipping, then the rest, each up to what is left of it. The sum is the
    amount, or what is left of the whole invoice if less."""
    preferred = set(first)

    def order(x: Mapping[str, Any]) -> tuple[int, int]:
        rank = 0 if x["sku"] in preferred else 1 if x["sku"] == SHIPPING else 2
        return rank, int(x["line"])

    left, out = max(amount_cents, 0), []
    for x in sorted(invoiced, key=order):
        before = credited.get(int(x["line"]), 0)
        take = min(left, int(x["gross_cents"]) - before)
        if take <= 0:
            continue
        bp = int(x["rate_bp"])
        tax = tax_in(before + take, bp) - tax_in(before, bp)
        out.append(tax_line(int(x["line"]), x["sku"], x["name"], None, take, bp, tax))
        left -= take
        if not left:
            break
    return sorted(out, key=lambda x: x["line"])


# --- numbers --------------------------------------------------------------------------------

def next_number(session: Session, series: str = SERIES) -> str:
    """The series' next number, in the caller's transaction (rolled back with it: no gap)."""
    insert_ignore(session, NumberCounter, [{"name": series, "last_no": 0}], ["name"])
    stmt = (update(NumberCounter).where(col(NumberCounter.name) == series)
            .values(last_no=NumberCounter.last_no + 1).returning(col(NumberCounter.last_no)))
    value = int(session.execute(stmt).scalar_one())
    return f"{NUMBER_PREFIX}{value:08d}"


# --- views ----------------------------------------------------------------------------------

def _line_view(x: Mapping[str, Any]) -> dict[str, Any]:
    return {"line": x["line"], "sku": x["sku"], "name": x["name"], "quantity": x["quantity"],
            "rate": f"{Decimal(x['rate_bp']) / 100:g}%", "amount": decimal(x["gross_cents"]),
            "tax": decimal(x["tax_cents"]), "net": decimal(x["net_cents"])}


def invoice_view(row: Invoice) -> dict[str, Any]:
    return {"invoice_no": row.invoice_no, "kind": row.kind, "status": row.status,
            "order_no": row.order_no, "title": row.title, "tax_id": row.tax_id,
            "credits_invoice_no": row.credits_invoice_no,
            "lines": [_line_view(x) for x in row.lines],
            "net": decimal(row.net_cents), "tax": decimal(row.tax_cents),
            "total": decimal(row.gross_cents),
            "requested_by": row.requested_by, "requested_at": row.requested_at.isoformat(),
            "issued_at": row.issued_at.isoformat() if row.issued_at else None}


def of_order(session: Session, order_no: str) -> dict[str, Any] | None:
    """The order's tax invoice with its credit notes and what is left after them (None when
    nobody asked for one)."""
    rows = session.exec(select(Invoice).where(col(Invoice.order_no) == order_no)
                        .order_by(col(Invoice.id))).all()
    invoice = next((r for r in rows if r.kind == "invoice"), None)
    if invoice is None:
        return None
    credits = [r for r in rows if r.kind == "credit_note"]
    credited = sum(r.gross_cents for r in credits)
    return {**invoice_view(invoice), "credit_notes": [invoice_view(r) for r in credits],
            "credited": decimal(credited), "balance": decimal(invoice.gross_cents - credited),
            "url": f"/api/v1/orders/{order_no}/invoice"}


def load(engine: Engine, order_no: str) -> dict[str, Any] | None:
    with session_scope(engine, write=False) as session:
        return of_order(session, order_no)


def list_invoices(engine: Engine, offset: int, limit: int, status: str | None = None,
                  kind: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Invoices and credit notes, newest first (finance's page)."""
    from sqlalchemy import func

    conds = []
    if status:
        conds.append(col(Invoice.status) == status)
    if kind:
        conds.append(col(Invoice.kind) == kind)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Invoice).where(*conds)).one()
        rows = session.exec(select(Invoice).where(*conds).order_by(col(Invoice.id).desc())
                            .offset(offset).limit(limit)).all()
        return int(total), [invoice_view(r) for r in rows]


# Customer notices that show the order's invoice and credit notes once issued (added when the
# notice is rendered, like its status link: activities/notices.write_outbox).
NOTICE_KINDS = frozenset({"order_paid", "order_delivered", "order_refunded", "order_cancelled",
                          "return_refunded"})


def for_customer(session: Session, order_no: str) -> dict[str, Any] | None:
    """The issued invoice as a notice or the customer's status page shows it (None before)."""
    view = of_order(session, order_no)
    if view is None or view["status"] != "issued":
        return None
    return {"invoice_no": view["invoice_no"], "title": view["title"],
            "total": f"{view['total']:.2f}", "issued": (view["issued_at"] or "")[:10],
            "credit_notes": [{"invoice_no": n["invoice_no"], "total": f"{n['total']:.2f}"}
                             for n in view["credit_notes"]]}


# --- commands -------------------------------------------------------------------------------

def request(engine: Engine, settings: Settings, order_no: str, title: str,
            tax_id: str | None, actor: Actor) -> tuple[bool, dict[str, Any]]:
    """Ask for the order's invoice (``title``, ``tax_id`` checked by the request model).
    Returns (new request, the invoice as it stands: issued at once if the order is paid)."""
    title = title.strip()
    with session_scope(engine) as session:
        order = session.get(Order, order_no, with_for_update=True)
        if order is None:
            raise Refused(404, "not_found", f"no order {order_no}")
        row = session.exec(select(Invoice).where(col(Invoice.key) == f"invoice:{order_no}")
                           .with_for_update()).first()
        if row is not None:
            if (row.title, row.tax_id) == (title, tax_id):
                return False, _shown(session, order_no)
            if row.status == "issued":
                raise Refused(409, "already_invoiced",
                              f"invoice {row.invoice_no} was issued to {row.title!r}; another "
                              "title or tax ID needs a credit note first",
                              {"invoice_no": row.invoice_no, "title": row.title,
                               "tax_id": row.tax_id})
            before = {"title": row.title, "tax_id": row.tax_id}
            row.title, row.tax_id = title, tax_id
            session.add(row)
            audit(session, actor.name, "invoice", order_no, "change_request", before,
                  {"title": title, "tax_id": tax_id})
            return False, _shown(session, order_no)
        if order.status == "cancelled" and order.paid_cents <= order.refunded_cents:
            raise Refused(409, "order_cancelled",
                          f"order {order_no} was cancelled with nothing paid: nothing to invoice",
                          {"status": order.status})
        lines = invoice_lines(
            ((x.sku, x.name, x.quantity, x.amount_cents) for x in session.exec(
                select(OrderLine).where(col(OrderLine.order_no) == order_no)
                .order_by(col(OrderLine.line_no)))),
            order.shipping_fee_cents, settings.tax_rates, settings.tax_rate_default)
        row = Invoice(key=f"invoice:{order_no}", kind="invoice", order_no=order_no,
                      title=title, tax_id=tax_id, lines=lines, requested_by=actor.name,
                      requested_at=utcnow())
        _set_totals(row, lines)
        session.add(row)
        session.flush()
        audit(session, actor.name, "invoice", order_no, "request", None,
              {"title": title, "tax_id": tax_id})
        if order.paid_cents >= order.total_cents:
            _issue(session, row, utcnow())
        return True, _shown(session, order_no)


def _shown(session: Session, order_no: str) -> dict[str, Any]:
    view = of_order(session, order_no)
    assert view is not None
    return view


def on_paid(session: Session, order: Order, at: datetime) -> None:
    """A payment was booked on ``order`` (locked by the caller): paid in full, the invoice asked
    for is issued in the same transaction."""
    if order.paid_cents < order.total_cents:
        return
    row = session.exec(select(Invoice).where(col(Invoice.key) == f"invoice:{order.order_no}",
                                             col(Invoice.status) == "requested")
                       .with_for_update()).first()
    if row is not None:
        _issue(session, row, at)


def on_refunded(session: Session, order: Order, refund: Refund, at: datetime) -> None:
    """A refund completed on ``order`` (locked by the caller): an issued invoice gets a credit
    note for it, in the same transaction."""
    row = session.exec(select(Invoice).where(col(Invoice.key) == f"invoice:{order.order_no}",
                                             col(Invoice.status) == "issued")).first()
    if row is not None:
        _credit(session, row, refund, at)


def _issue(session: Session, row: Invoice, at: datetime) -> None:
    row.invoice_no = next_number(session)
    row.status, row.issued_at = "issued", at
    session.add(row)
    # The order's invoice number is now this one: the delivery's notice and sale line name it
    # (an order nobody asked an invoice for keeps its delivery receipt ``INV-<order_no>``).
    order = session.get(Order, row.order_no)
    if order is not None:
        order.invoice_no, order.invoiced_at = row.invoice_no, at
        session.add(order)
    session.flush()
    # Refunds completed before the invoice existed (asked for after a partial refund).
    for refund in session.exec(select(Refund).where(col(Refund.order_no) == row.order_no,
                                                    col(Refund.status).in_(REFUNDED))
                               .order_by(col(Refund.id))):
        _credit(session, row, refund, at)


def _credit(session: Session, invoice: Invoice, refund: Refund, at: datetime) -> None:
    key = f"credit:{refund.key}"
    if session.exec(select(Invoice.id).where(col(Invoice.key) == key)).first() is not None:
        return
    credited: dict[int, int] = {}
    for note in session.exec(select(Invoice).where(
            col(Invoice.kind) == "credit_note",
            col(Invoice.credits_invoice_no) == invoice.invoice_no)):
        for x in note.lines:
            credited[int(x["line"])] = credited.get(int(x["line"]), 0) + int(x["gross_cents"])
    first: list[str] = []
    if refund.case_kind == "return" and refund.case_id:
        back = session.get(Return, refund.case_id)
        first = [str(i.get("sku")) for i in (back.items if back else [])]
    lines = credit_lines(invoice.lines, credited, refund.amount_cents, first)
    if not lines:
        return  # the invoice is credited in full already
    note = Invoice(
        key=key, kind="credit_note", order_no=invoice.order_no, status="issued",
        invoice_no=next_number(session), credits_invoice_no=invoice.invoice_no,
        refund_key=refund.key, title=invoice.title, tax_id=invoice.tax_id, lines=lines,
        requested_by=refund.requested_by, requested_at=at, issued_at=at)
    _set_totals(note, lines)
    session.add(note)
    session.flush()


def _set_totals(row: Invoice, lines: list[dict[str, Any]]) -> None:
    t = totals(lines)
    row.net_cents, row.tax_cents, row.gross_cents = t["net_cents"], t["tax_cents"], t["gross_cents"]
