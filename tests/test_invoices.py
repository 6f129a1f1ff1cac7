"""Tax invoices on request (发票) and credit notes (红字发票), issue 18: the tax ID check, the
request through the API (422 naming the field, idempotent, 409 once issued), issue at payment
(online: the capture; COD: the collection at delivery), a credit note per refund, numbers
without gaps under concurrent issues (SQLite and PostgreSQL), the printable page, and
properties of the tax arithmetic (hypothesis)."""

from __future__ import annotations

import threading
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import col, select

from shopflow.api.app import create_app
from shopflow.db import session_scope
from shopflow.models import Invoice, Notice, Order, OrderLine, Product
from shopflow.models.finance import TAX_ID_CHARS, check_tax_id, tax_id_check_char
from shopflow.models.types import utcnow
from shopflow.security.links import status_url
from shopflow.services import invoices
from shopflow.settings import Settings
from shopflow.workflows.shared import Actor
from tests.helpers import auth
from tests.scenes import TOTAL, event, order, pay, place, ship, wait_order
from tests.test_ui_pages import csrf_of, sign_in

FAST = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
CS = Actor("carol", "cs")


def tax_id(body17: str = "91330100MA2B3C4D5") -> str:
    return body17 + tax_id_check_char(body17)


COMPANY = {"title": "杭州西湖茶馆有限公司", "tax_id": tax_id()}


# --- the tax ID ----------------------------------------------------------------------------

def test_tax_id_check_character() -> None:
    assert check_tax_id("91350100M000100Y43") == "91350100M000100Y43"  # a published example
    assert check_tax_id(" " + tax_id().lower() + " ") == tax_id()
    for wrong, why in (("9133010", "18 characters"), ("91330100MA2B3C4D5I", "capital letters"),
                       ("9133AB00MA2B3C4D50", "digits in places 3 to 8")):
        with pytest.raises(ValueError, match=why):
            check_tax_id(wrong)
    good = tax_id()
    other = TAX_ID_CHARS[(TAX_ID_CHARS.index(good[-1]) + 1) % 31]
    with pytest.raises(ValueError, match="check character"):
        check_tax_id(good[:-1] + other)


# --- through the API and the order's process -------------------------------------------------

@pytest.mark.asyncio
async def test_bad_requests_name_the_field(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api, order_no="INV-BAD")
    url = f"/api/v1/orders/{no}/invoice"
    for body, field in (({"title": "X", "tax_id": "123"}, "tax_id"),
                        ({"title": "X", "tax_id": tax_id()[:-1] + "Z"}, "tax_id"),
                        ({"tax_id": tax_id()}, "title"), ({"title": " "}, "title"),
                        ({"title": "X", "amount": 1}, "amount")):
        r = await api.post(url, headers=auth("cs"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text, r.text
    r = await api.post("/api/v1/orders/NOPE/invoice", headers=auth("cs"), json=COMPANY)
    assert r.status_code == 404, r.text
    r = await api.post(url, headers=auth("warehouse"), json=COMPANY)
    assert r.status_code == 403, r.text


@pytest.mark.asyncio
async def test_online_invoice_issued_at_payment_then_credited_on_refund(
        api: httpx.AsyncClient, catalogue: None, engine: Engine, settings: Settings) -> None:
    no = await place(api, order_no="INV-ON")
    url = f"/api/v1/orders/{no}/invoice"
    r = await api.post(url, headers=auth("channel"), json=COMPANY)
    assert r.status_code == 201, r.text
    asked = r.json()
    assert asked["status"] == "requested" and asked["invoice_no"] is None
    # the tax lines are fixed at the request: 13% inside each line, half up per line
    assert [(x["sku"], x["amount"], x["tax"], x["net"], x["rate"]) for x in asked["lines"]] == [
        ("TEA", 136.0, 15.65, 120.35, "13%"), ("CUP", 25.5, 2.93, 22.57, "13%")]
    assert (asked["total"], asked["tax"], asked["net"]) == (TOTAL, 18.58, 142.92)
    # before it is issued another title replaces the request
    r = await api.post(url, headers=auth("cs"), json={"title": "李伟"})
    assert r.status_code == 200 and r.json()["title"] == "李伟" and r.json()["tax_id"] is None
    r = await api.post(url, headers=auth("cs"), json=COMPANY)
    assert r.status_code == 200, r.text
    page = await api.get(url, headers=auth("finance"))
    assert page.status_code == 409  # nothing issued yet

    assert (await pay(api, no)).status_code == 201
    issued = (await wait_order(api, no, "fulfilling"))["tax_invoice"]
    assert issued["status"] == "issued" and issued["invoice_no"] == "FP00000001"
    assert issued["title"] == COMPANY["title"] and issued["tax_id"] == COMPANY["tax_id"]
    # asking again gives the same invoice; another title now is a 409
    r = await api.post(url, headers=auth("channel"), json=COMPANY)
    assert r.status_code == 200 and r.json()["invoice_no"] == "FP00000001"
    r = await api.post(url, headers=auth("channel"), json={"title": "Someone else"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_invoiced", r.text

    page = await api.get(url, headers=auth("finance"))
    assert page.status_code == 200
    for text in ("FP00000001", COMPANY["tax_id"], "15.65", "13%"):
        assert text in page.text

    # cancelled before shipment: the whole payment refunded, one credit note for it
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"),
                       json={"reason": "customer changed their mind"})
    assert r.status_code == 200, r.text
    credited = (await order(api, no))["tax_invoice"]
    [note] = credited["credit_notes"]
    assert note["kind"] == "credit_note" and note["invoice_no"] == "FP00000002"
    assert note["credits_invoice_no"] == "FP00000001"
    assert (note["total"], note["tax"]) == (TOTAL, 18.58)
    assert (credited["credited"], credited["balance"]) == (TOTAL, 0.0)
    page = await api.get(url, headers=auth("finance"))
    assert "红字发票" in page.text and "FP00000002" in page.text

    # the customer's side: the notices name the invoice and the credit note, and the status
    # page behind the notices' link shows them and opens the invoice
    with session_scope(engine, write=False) as s:
        sent = {n.kind: n.body_text for n in s.exec(select(Notice).where(
            col(Notice.case_id) == no))}
    assert "FP00000001" in sent["order_paid"] and "FP00000002" not in sent["order_paid"]
    assert "FP00000002" in sent["order_cancelled"] and "/invoice" in sent["order_cancelled"]
    link = status_url(settings, no, utcnow()).removeprefix(settings.public_url)
    status = await api.get(link)
    assert status.status_code == 200 and 'data-testid="invoice"' in status.text
    assert "FP00000001" in status.text and "FP00000002" in status.text
    shown = await api.get(f"{link}/invoice")
    assert shown.status_code == 200 and COMPANY["tax_id"] in shown.text
    assert (await api.get(f"{link}x/invoice")).status_code == 404


@pytest.mark.asyncio
async def test_cod_invoice_issued_at_delivery_and_asking_after_payment_issues_at_once(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    no = await place(api, order_no="INV-COD", method="cod")
    r = await api.post(f"/api/v1/orders/{no}/invoice", headers=auth("cs"), json=COMPANY)
    assert r.status_code == 201 and r.json()["status"] == "requested"
    await ship(api, no, tracking="T-INV-COD")
    assert (await order(api, no))["tax_invoice"]["status"] == "requested"
    assert (await event(api, "T-INV-COD", "delivered")).status_code == 201
    done = await wait_order(api, no, "completed")
    assert done["tax_invoice"]["invoice_no"] == "FP00000001"
    # the delivery names the same number (not the receipt INV-<no> of an order nobody asked
    # an invoice for)
    assert done["invoice"]["invoice_no"] == "FP00000001"
    with session_scope(engine, write=False) as s:
        delivered = s.exec(select(Notice).where(col(Notice.case_id) == no,
                                                col(Notice.kind) == "order_delivered")).one()
    assert "FP00000001" in delivered.body_text and "INV-INV-COD" not in delivered.body_text

    paid = await place(api, order_no="INV-LATE")
    assert (await pay(api, paid)).status_code == 201
    await wait_order(api, paid, "fulfilling")
    r = await api.post(f"/api/v1/orders/{paid}/invoice", headers=auth("channel"),
                       json={"title": "李伟"})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["invoice_no"]) == ("issued", "FP00000002")


@pytest.mark.asyncio
async def test_a_cancelled_unpaid_order_has_nothing_to_invoice(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api, order_no="INV-CXL")
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"), json={"reason": "x"})
    assert r.status_code == 200, r.text
    r = await api.post(f"/api/v1/orders/{no}/invoice", headers=auth("cs"), json=COMPANY)
    assert r.status_code == 409 and r.json()["error"]["code"] == "order_cancelled", r.text


@pytest.mark.asyncio
async def test_the_order_page_asks_for_the_invoice_and_shows_it(
        api: httpx.AsyncClient, catalogue: None, settings: Settings, engine: Engine) -> None:
    """Customer service keys the customer's request in on the order's page (a bad tax ID is
    a 422 on the page naming the field); once paid the page shows the number and the invoice
    document."""
    no = await place(api, order_no="INV-UI")
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as ui:
        await sign_in(ui, "dev-cs")
        path = f"/ui/cases/order/{no}"
        page = await ui.get(path)
        assert 'name="invoice.title"' in page.text and 'name="invoice.tax_id"' in page.text
        bad = await ui.post(f"{path}/actions/invoice", data={
            "csrf_token": csrf_of(page.text), "invoice.title": "茶馆", "invoice.tax_id": "12345"})
        assert bad.status_code == 422 and "tax_id" in bad.text
        done = await ui.post(f"{path}/actions/invoice", data={
            "csrf_token": csrf_of(page.text), **{f"invoice.{k}": v for k, v in COMPANY.items()}})
        assert done.status_code == 303, done.text
        assert (await order(api, no))["tax_invoice"]["status"] == "requested"
        assert (await pay(api, no)).status_code == 201
        await wait_order(api, no, "fulfilling")
        shown = await ui.get(path)
        assert "FP00000001" in shown.text and 'data-testid="doc-invoice"' in shown.text
        assert 'name="invoice.title"' not in shown.text  # issued: nothing more to ask
        doc = await ui.get(f"{path}/docs/invoice")
        assert doc.status_code == 200 and COMPANY["tax_id"] in doc.text
        ui.cookies.clear()
        await sign_in(ui, "dev-finance")
        listed = await ui.get("/ui/invoices", params={"status": "issued"})
        assert listed.status_code == 200 and 'href="/ui/invoices"' in listed.text
        assert "FP00000001" in listed.text and COMPANY["title"] in listed.text
        none = await ui.get("/ui/invoices", params={"kind": "credit_note"})
        assert 'data-testid="no-invoices"' in none.text
        assert (await ui.get("/ui/invoices", params={"kind": "bogus"})).status_code == 422
        ui.cookies.clear()
        await sign_in(ui, "dev-warehouse")
        assert (await ui.get("/ui/invoices")).status_code == 403


# --- numbers without gaps under concurrency --------------------------------------------------

def _paid_orders(engine: Engine, n: int) -> list[str]:
    nos = [f"SO-C{i:03d}" for i in range(n)]
    with session_scope(engine) as s:
        s.add(Product(sku="TEA", name="Tea"))
        s.flush()
        for no in nos:
            s.add(Order(order_no=no, customer_id="c-1", total_cents=1000, paid_cents=1000,
                        status="fulfilling", workflow_id=f"order-{no}"))
            s.flush()
            s.add(OrderLine(order_no=no, line_no=1, sku="TEA", name="Tea", quantity=1,
                            unit_price_cents=1000, amount_cents=1000))
    return nos


def test_concurrent_issues_number_without_gaps(engine: Engine, settings: Settings) -> None:
    """Twelve threads ask for invoices on eight paid orders at once (each order twice, some
    with another title): one invoice per order, numbered 1..8, none twice, none skipped."""
    nos = _paid_orders(engine, 8)
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def ask(no: str) -> None:
        barrier.wait()
        try:
            invoices.request(engine, settings, no, "Buyer", None, CS)
        except BaseException as err:  # noqa: BLE001 - collected and failed on below
            errors.append(err)

    threads = [threading.Thread(target=ask, args=(no,)) for no in nos + nos[:4]]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    with session_scope(engine, write=False) as s:
        rows = s.exec(select(Invoice).order_by(col(Invoice.invoice_no))).all()
    assert sorted(r.order_no for r in rows) == sorted(nos)
    assert [r.invoice_no for r in rows] == [f"FP{i:08d}" for i in range(1, 9)]


def test_a_rolled_back_issue_leaves_no_gap(engine: Engine, settings: Settings) -> None:
    nos = _paid_orders(engine, 2)
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        assert invoices.next_number(s) == "FP00000001"
        raise RuntimeError("the insert failed")
    invoices.request(engine, settings, nos[0], "Buyer", None, CS)
    assert invoices.load(engine, nos[0])["invoice_no"] == "FP00000001"  # type: ignore[index]


def test_rates_by_sku_prefix_and_shipping(engine: Engine) -> None:
    rates = {"TEA-*": Decimal("0.09"), "TEA-GOLD": Decimal("0.13"), "shipping": Decimal("0.06")}
    lines = invoices.invoice_lines([("TEA-1", "t", 1, 10900), ("TEA-GOLD", "g", 1, 11300),
                                    ("CUP", "c", 2, 2000)], 1060, rates, Decimal("0.03"))
    assert [(x["sku"], x["rate_bp"], x["tax_cents"]) for x in lines] == [
        ("TEA-1", 900, 900), ("TEA-GOLD", 1300, 1300), ("CUP", 300, 58), ("shipping", 600, 60)]


# --- the arithmetic (hypothesis) -------------------------------------------------------------

rates_bp = st.sampled_from([0, 100, 300, 500, 600, 900, 1300, 1700])
order_lines = st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 50),
                                 st.integers(0, 1_000_000)), min_size=1, max_size=6)


@FAST
@given(order_lines, st.integers(0, 5000), st.dictionaries(st.sampled_from(["A", "B", "shipping"]),
                                                          rates_bp))
def test_invoice_lines_add_up(lines: list[tuple[str, int, int]], shipping: int,
                              rates: dict[str, int]) -> None:
    as_rates = {k: Decimal(v) / 10_000 for k, v in rates.items()}
    made = invoices.invoice_lines([(sku, sku, q, q * unit) for sku, q, unit in lines], shipping,
                                  as_rates, Decimal("0.13"))
    for x in made:
        gross, bp = x["gross_cents"], x["rate_bp"]
        assert x["net_cents"] + x["tax_cents"] == gross
        # the tax is the exact tax rounded half up to the cent: within half a cent
        assert abs(Decimal(x["tax_cents"]) - Decimal(gross * bp) / (10_000 + bp)) <= Decimal("0.5")
    total = invoices.totals(made)
    assert total["gross_cents"] == sum(q * unit for _, q, unit in lines) + shipping
    assert total["net_cents"] + total["tax_cents"] == total["gross_cents"]


@FAST
@given(order_lines, st.integers(0, 5000), st.lists(st.integers(1, 3_000_000), max_size=6),
       st.lists(st.sampled_from(["A", "B", "C", "D"]), max_size=2))
def test_credit_notes_never_exceed_the_invoice(lines: list[tuple[str, int, int]], shipping: int,
                                               refunds: list[int], back: list[str]) -> None:
    invoiced = invoices.invoice_lines([(sku, sku, q, q * unit) for sku, q, unit in lines],
                                      shipping, {"B": Decimal("0.09")}, Decimal("0.13"))
    total = invoices.totals(invoiced)
    credited: dict[int, int] = {}
    tax_credited: dict[int, int] = {}
    for cents in refunds:
        left = total["gross_cents"] - sum(credited.values())
        note = invoices.credit_lines(invoiced, credited, cents, back)
        assert sum(x["gross_cents"] for x in note) == min(cents, left)
        for x in note:
            assert x["net_cents"] + x["tax_cents"] == x["gross_cents"] and x["tax_cents"] >= 0
            credited[x["line"]] = credited.get(x["line"], 0) + x["gross_cents"]
            tax_credited[x["line"]] = tax_credited.get(x["line"], 0) + x["tax_cents"]
    for x in invoiced:
        assert credited.get(x["line"], 0) <= x["gross_cents"]
        assert tax_credited.get(x["line"], 0) <= x["tax_cents"]
        if credited.get(x["line"], 0) == x["gross_cents"]:
            assert tax_credited.get(x["line"], 0) == x["tax_cents"]  # in full: the same tax
    assert sum(credited.values()) <= total["gross_cents"]


def test_credit_goes_to_the_goods_that_came_back_first() -> None:
    invoiced = invoices.invoice_lines([("TEA", "t", 2, 13600), ("CUP", "c", 1, 2550)], 1000,
                                      {}, Decimal("0.13"))
    note = invoices.credit_lines(invoiced, {}, 3000, ["CUP"])
    assert [(x["sku"], x["gross_cents"]) for x in note] == [("CUP", 2550), ("shipping", 450)]


def test_requests_are_audited(engine: Engine, settings: Settings) -> None:
    from shopflow.models import AuditEvent

    [no] = _paid_orders(engine, 1)
    invoices.request(engine, settings, no, "Buyer", tax_id(), CS)
    with session_scope(engine, write=False) as s:
        [ev] = s.exec(select(AuditEvent).where(col(AuditEvent.entity) == "invoice")).all()
    assert (ev.actor, ev.entity_id, ev.action) == ("carol", no, "request")


def test_a_returns_refund_credits_the_goods_that_came_back(engine: Engine,
                                                          settings: Settings) -> None:
    """Through the books' own refund path (open, then completed by the provider's answer): the
    credit note takes the returned CUP's line, not the TEA's."""
    from shopflow.models import Payment, Return
    from shopflow.services import refunds
    from shopflow.workflows.shared import RefundRequest

    with session_scope(engine) as s:
        for sku in ("TEA", "CUP"):
            s.add(Product(sku=sku, name=sku.title()))
        s.flush()
        s.add(Order(order_no="SO-R", customer_id="c-1", total_cents=3000, paid_cents=3000,
                    status="completed", workflow_id="order-SO-R"))
        s.flush()
        s.add(OrderLine(order_no="SO-R", line_no=1, sku="TEA", name="Tea", quantity=1,
                        unit_price_cents=2000, amount_cents=2000))
        s.add(OrderLine(order_no="SO-R", line_no=2, sku="CUP", name="Cup", quantity=1,
                        unit_price_cents=1000, amount_cents=1000))
        s.add(Payment(order_no="SO-R", transaction_id="tx-R", method="online",
                      amount_cents=3000))
        s.add(Return(id="RT-1", workflow_id="return-RT-1", order_no="SO-R", customer_id="c-1",
                     kind="refund", reason="cracked", category="quality",
                     items=[{"sku": "CUP", "quantity": 1}]))
    invoices.request(engine, settings, "SO-R", "Buyer", tax_id(), CS)
    req = RefundRequest("return-RT-1:refund", "SO-R", 1000, "cracked", "return", "RT-1",
                        utcnow(), "fiona")
    refunds.open_refund(engine, req)
    assert invoices.load(engine, "SO-R")["credit_notes"] == []  # type: ignore[index]
    refunds.complete_refund(engine, req, "ref-R")
    refunds.complete_refund(engine, req, "ref-R")  # a retried activity: one credit note
    shown = invoices.load(engine, "SO-R")
    assert shown is not None
    [note] = shown["credit_notes"]
    assert [(x["sku"], x["amount"], x["tax"]) for x in note["lines"]] == [("CUP", 10.0, 1.15)]
    assert (note["invoice_no"], shown["balance"]) == ("FP00000002", 20.0)
