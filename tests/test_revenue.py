"""Sales revenue by channel and by product (issue 18) in the KPIs: sales count at delivery,
refunds when they moved, exact cents; in the API, the stored report (HTML, CSV) and the
dashboard, from the same figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from shopflow.api.app import create_app
from shopflow.models import Order, OrderLine, Product, Refund
from shopflow.services import reports
from shopflow.settings import Settings
from shopflow.ui.kpis import compute
from tests.helpers import auth
from tests.test_ui_pages import sign_in

pytestmark = pytest.mark.asyncio
FEB = datetime(2025, 2, 10, tzinfo=UTC)
START, END = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)


def seed(engine: Engine) -> None:
    """Delivered in February: web SO-1 (2 TEA 68.00 + 1 CUP 25.51, shipping 10.00), web SO-2
    (1 TEA 68.00), phone SO-3 (3 CUP 25.51). Not sales of February: SO-4 delivered in March,
    SO-5 never delivered. Refunds that moved in February: 20.00 on SO-1 (web), 5.00 owed by
    transfer on SO-4 (phone, delivered in March: the refund still counts in February). Not
    counted: a pending and a refused refund."""
    orders = [("SO-1", "web", [("TEA", 2, 6800), ("CUP", 1, 2551)], 1000, FEB),
              ("SO-2", "web", [("TEA", 1, 6800)], 0, FEB + timedelta(days=5)),
              ("SO-3", "phone", [("CUP", 3, 2551)], 0, FEB),
              ("SO-4", "phone", [("TEA", 1, 6800)], 0, datetime(2025, 3, 2, tzinfo=UTC)),
              ("SO-5", "web", [("TEA", 1, 6800)], 0, None)]
    with Session(engine) as s:
        s.add(Product(sku="TEA", name="Tea"))
        s.add(Product(sku="CUP", name="Cup"))
        s.flush()
        for no, channel, lines, fee, delivered in orders:
            total = sum(q * p for _, q, p in lines) + fee
            s.add(Order(order_no=no, customer_id="c-1", channel=channel, total_cents=total,
                        shipping_fee_cents=fee, paid_cents=total, status="completed",
                        created_at=FEB - timedelta(days=3), delivered_at=delivered))
            s.flush()
            for n, (sku, q, p) in enumerate(lines, 1):
                s.add(OrderLine(order_no=no, line_no=n, sku=sku, name=sku.title(), quantity=q,
                                unit_price_cents=p, amount_cents=q * p))
        for key, no, cents, status, method in (("r1", "SO-1", 2000, "succeeded", "original"),
                                               ("r2", "SO-4", 500, "transfer_due", "bank_transfer"),
                                               ("r3", "SO-2", 700, "pending", "original"),
                                               ("r4", "SO-3", 900, "refused", "original")):
            s.add(Refund(key=key, order_no=no, amount_cents=cents, status=status, method=method,
                         created_at=FEB, completed_at=FEB + timedelta(days=1)))
        s.commit()


async def test_revenue_by_channel_and_product(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as s:
        got = reports.compute_kpis(s, START, END)["revenue"]
    # SO-1 16151 + 1000 shipping, SO-2 6800, SO-3 7653
    assert (got["gross"], got["shipping"], got["refunded"], got["net"]) == (
        316.04, 10.0, 25.0, 291.04)
    assert got["by_channel"] == {
        "phone": {"orders": 1, "gross": 76.53, "refunded": 5.0, "net": 71.53},
        "web": {"orders": 2, "gross": 239.51, "refunded": 20.0, "net": 219.51}}
    assert list(got["by_product"].items()) == [
        ("TEA", {"name": "Tea", "quantity": 3, "revenue": 204.0}),
        ("CUP", {"name": "Cup", "quantity": 4, "revenue": 102.04})]
    with Session(engine) as s:
        empty = reports.compute_kpis(s, datetime(2024, 1, 1, tzinfo=UTC),
                                     datetime(2024, 2, 1, tzinfo=UTC))["revenue"]
    assert empty == {"gross": 0.0, "shipping": 0.0, "refunded": 0.0, "net": 0.0,
                     "by_channel": {}, "by_product": {}}


async def test_revenue_in_the_api_the_report_and_the_dashboard(
        engine: Engine, settings: Settings) -> None:
    seed(engine)
    with Session(engine) as s:
        figures = reports.compute_kpis(s, START, END)
    html = reports.render_html("monthly-2025-02", "monthly", figures, "now")
    assert "Sales revenue" in html and "219.51" in html and "TEA Tea" in html
    csv_text = reports.render_csv(figures)
    assert "revenue,by_channel.web.net,219.51" in csv_text
    assert "revenue,by_product.CUP.quantity,4" in csv_text
    board = compute(engine, START, END)
    assert board["revenue"] == figures["revenue"]
    net = {k.key: k for k in board["figures"]}["net_revenue"]
    assert net.value == 291.04 and net.detail == "gross 316.04 · refunded 25.00"

    app = create_app(settings, engine=engine)
    app.state.ui.kpis.wait = 30
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as http:
        r = await http.get("/api/v1/reports/kpis", params={"from": "2025-02-01",
                                                           "to": "2025-02-28"},
                           headers=auth("ops"))
        assert r.status_code == 200 and r.json()["revenue"] == figures["revenue"]
        # the dashboard's period is the last days: a sale delivered yesterday
        with Session(engine) as s:
            s.add(Order(order_no="SO-NOW", customer_id="c-1", channel="wechat",
                        total_cents=4321, status="completed",
                        delivered_at=datetime.now(UTC) - timedelta(days=1)))
            s.flush()
            s.add(OrderLine(order_no="SO-NOW", line_no=1, sku="CUP", name="Cup", quantity=1,
                            unit_price_cents=4321, amount_cents=4321))
            s.commit()
        await sign_in(http, "dev-ops")
        page = await http.get("/ui/dashboard")
        assert page.status_code == 200
        assert 'data-testid="revenue-channels"' in page.text
        assert "wechat" in page.text and "43.21" in page.text
        assert 'data-testid="revenue-products"' in page.text
