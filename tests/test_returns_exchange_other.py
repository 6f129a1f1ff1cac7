"""An exchange for another SKU or size (issue 18): the other SKU is reserved and sent, the
returned goods come back in; a dearer one is paid for (the customer told the difference,
confirmed with the payment provider and booked on the order once; unpaid in time: refunded
instead), a cheaper one has the difference refunded through finance's refund (the books, the
provider under the return's key, once). API, worker, time skipping."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice
from shopflow.providers import Providers
from tests.helpers import auth, case, complete, eventually, make_product, open_task, record_history
from tests.scenes import delivered_order
from tests.test_returns_process import approve, inspect, levels, notices, ret, wait_return

pytestmark = pytest.mark.asyncio


async def ask(api: httpx.AsyncClient, no: str, kind: str,
              items: list[dict[str, object]]) -> httpx.Response:
    return await api.post("/api/v1/returns", headers=auth("channel"), json={
        "order_no": no, "items": items, "kind": kind, "reason": "wrong size"})


async def request_return(api: httpx.AsyncClient, no: str, kind: str,
                         items: list[dict[str, object]]) -> str:
    r = await ask(api, no, kind, items)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def inspected(api: httpx.AsyncClient, no: str, sku: str, other: str,
                    price: float) -> str:
    """An exchange of one ``sku`` for ``other`` at ``price``, approved, booked in, passed."""
    rid = await request_return(api, no, "exchange", [{"sku": sku, "quantity": 1,
                                                       "exchange_sku": other,
                                                       "exchange_unit_price": price}])
    await approve(api, rid)
    r = await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"), json={})
    assert r.status_code == 200, r.text
    assert (await inspect(api, rid, "pass")).status_code == 200
    return rid


async def pay(api: httpx.AsyncClient, rid: str, tx: str, amount: float,
              role: str = "channel") -> httpx.Response:
    return await api.post(f"/api/v1/returns/{rid}/payments", headers=auth(role),
                          json={"transaction_id": tx, "amount": amount})


async def test_a_dearer_size_is_paid_for_then_sent(
        api: httpx.AsyncClient, catalogue: None, engine: Engine, tenv: WorkflowEnvironment,
        providers: Providers) -> None:
    await make_product(api, "CUP-L", stock=3)
    no = await delivered_order(api)
    cup = await levels(api, "CUP")
    rid = await inspected(api, no, "CUP", "CUP-L", 30)
    r = await wait_return(api, rid, "exchange_pending")
    await eventually(lambda: "return_exchange_payment" in notices(engine, rid))
    r = await case(api, f"/api/v1/returns/{rid}")
    assert r["difference"]["status"] == "due" and r["difference"]["amount"] == "4.50"
    assert r["items"][0]["exchange_sku"] == "CUP-L"
    assert await levels(api, "CUP-L") == {"on_hand": 3, "reserved": 1, "available": 2,
                                          "damaged": 0}
    assert (await levels(api, "CUP"))["on_hand"] == cup["on_hand"] + 1  # resaleable: back in
    with Session(engine) as s:
        asked = s.exec(select(Notice).where(Notice.kind == "return_exchange_payment")).one()
    assert "4.50" in asked.body_text and rid in asked.body_text
    wrong = await pay(api, rid, "TX-D1", 4)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "amount_mismatch"
    assert wrong.json()["error"]["details"]["field"] == "amount"
    assert (await pay(api, rid, "TX-D1", 4.5, role="warehouse")).status_code == 403
    paid = await pay(api, rid, "TX-D1", 4.5)
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["duplicate"] is False
    again = await pay(api, rid, "TX-D1", 4.5)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    other = await pay(api, rid, "TX-D2", 4.5)
    assert other.status_code == 409 and other.json()["error"]["code"] == "no_difference_due"
    assert "TX-D1" in providers.payments.captures  # confirmed with the provider
    o = await case(api, f"/api/v1/orders/{no}")
    assert o["paid_amount"] == 161.5 + 4.5  # booked on the order, once
    fulfil = await open_task(api, rid, "order.fulfil")
    assert [(i["sku"], i["quantity"]) for i in fulfil["context"]["pick_list"]] == [("CUP-L", 1)]
    slip = await api.get(fulfil["context"]["packing_slip_url"], headers=auth("warehouse"))
    assert slip.status_code == 200 and "Product CUP-L" in slip.text  # what goes out
    r2 = await complete(api, fulfil, "shipped", courier="SF", tracking_no="SFL1")
    assert r2.status_code == 200, r2.text
    r = await wait_return(api, rid, "exchanged")
    assert r["exchange"]["tracking_no"] == "SFL1" and r["refunds"] == []
    assert await levels(api, "CUP-L") == {"on_hand": 2, "reserved": 0, "available": 2,
                                          "damaged": 0}
    await record_history(tenv, f"return-{rid}", "return_exchange_difference_local")


async def test_a_difference_not_paid_in_time_is_refunded_instead(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    await make_product(api, "CUP-L", stock=3)
    no = await delivered_order(api)
    rid = await inspected(api, no, "CUP", "CUP-L", 30)
    await eventually(lambda: "return_exchange_payment" in notices(engine, rid))
    await tenv.sleep(timedelta(days=4))  # past SHOPFLOW_EXCHANGE_PAYMENT_TIMEOUT (P3D)
    refund = await open_task(api, rid, "return.refund")
    assert refund["context"]["proposed"] == "25.50"  # the returned cup, as a plain refund
    assert (await levels(api, "CUP-L"))["reserved"] == 0  # the replacement released
    await eventually(lambda: "return_exchange_unpaid" in notices(engine, rid))
    late = await pay(api, rid, "TX-LATE", 4.5)
    assert late.status_code == 409 and late.json()["error"]["code"] == "no_difference_due"
    assert (await complete(api, refund, "refunded", amount=25.5)).status_code == 200
    r = await wait_return(api, rid, "refunded")
    assert r["difference"]["status"] == "unpaid"


async def test_a_cheaper_size_has_the_difference_refunded_once(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        providers: Providers) -> None:
    await make_product(api, "TEA-S", stock=3)
    no = await delivered_order(api)
    rid = await inspected(api, no, "TEA", "TEA-S", 50)
    refund = await open_task(api, rid, "return.refund")
    assert refund["context"]["difference"] is True
    assert refund["context"]["proposed"] == "18.00"  # 68.00 - 50.00
    assert refund["context"]["sent"] == [{"sku": "TEA-S", "name": "Product TEA-S",
                                          "quantity": 1}]
    assert (await complete(api, refund, "refunded", amount=18)).status_code == 200
    again = await complete(api, refund, "refunded", amount=18)
    assert again.status_code == 409
    assert providers.payments.refunded_cents([f"PAY-{no}"]) == 1800
    await eventually(lambda: "return_refunded" in notices(engine, rid))
    fulfil = await open_task(api, rid, "order.fulfil")
    assert [(i["sku"], i["quantity"]) for i in fulfil["context"]["pick_list"]] == [("TEA-S", 1)]
    assert (await complete(api, fulfil, "shipped", courier="SF",
                           tracking_no="SFS1")).status_code == 200
    r = await wait_return(api, rid, "exchanged")
    assert r["refund_amount"] == 18 and r["difference"]["status"] == "refunded"
    assert [(x["amount"], x["status"]) for x in r["refunds"]] == [(18.0, "succeeded")]
    o = await case(api, f"/api/v1/orders/{no}")
    assert o["refunded_amount"] == 18
    assert (await levels(api, "TEA-S"))["on_hand"] == 2


async def test_another_sku_is_checked_at_the_request(api: httpx.AsyncClient,
                                                     catalogue: None) -> None:
    no = await delivered_order(api)
    line = {"sku": "CUP", "quantity": 1, "exchange_sku": "CUP-L", "exchange_unit_price": 30}
    r = await ask(api, no, "exchange", [line])
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_sku"
    assert r.json()["error"]["details"]["loc"] == ["body", "items", 0, "exchange_sku"]
    await make_product(api, "CUP-L", stock=1)
    r = await ask(api, no, "refund", [line])
    assert r.status_code == 422 and r.json()["error"]["code"] == "exchange_sku_needs_exchange"
    r = await ask(api, no, "exchange", [{**line, "exchange_unit_price": -1}])
    assert r.status_code == 422 and "exchange_unit_price" in r.text
    # no price: the price paid for the line, so nothing to pay or refund
    rid = await request_return(api, no, "exchange",
                               [{"sku": "CUP", "quantity": 1, "exchange_sku": "CUP-L"}])
    r = await ret(api, rid)
    assert r["items"][0]["exchange_unit_price"] == 25.5
    r = await pay(api, rid, "TX-X", 1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_difference_due"
    # no price asked, the product has a catalogue price: that one
    r = await api.post("/api/v1/products", headers=auth("admin"),
                       json={"sku": "TEA-L", "name": "Tea large", "price": 80})
    assert r.status_code == 201, r.text
    rid = await request_return(api, no, "exchange",
                               [{"sku": "TEA", "quantity": 1, "exchange_sku": "TEA-L"}])
    r = await ret(api, rid)
    assert r["items"][0]["exchange_unit_price"] == 80 and r["items"][0]["exchange_name"] == \
        "Tea large"
    assert (await pay(api, "RT-NOPE", "TX-X", 1)).status_code == 404
