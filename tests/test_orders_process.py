"""The order fulfilment process end to end: API, worker with real activities and the provider
simulators, time-skipping Temporal. Each test walks an order the way its users would and checks
stock and money at every step."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import FollowupDue, Notice, Reconciliation, Refund
from shopflow.providers import PaymentSimulator, Providers
from tests.helpers import (
    auth,
    complete,
    eventually,
    make_product,
    open_task,
    record_history,
    stock,
)
from tests.scenes import TOTAL, event, order, order_body, pay, place, ship, wait_order

pytestmark = pytest.mark.asyncio


def notices(engine: Engine, no: str) -> list[str]:
    with Session(engine) as s:
        return [n.kind for n in s.exec(select(Notice).where(Notice.case_id == no)
                                       .order_by(Notice.id)) if n.kind.startswith("order_")]


def refunds(engine: Engine, no: str) -> list[Refund]:
    with Session(engine) as s:
        return list(s.exec(select(Refund).where(Refund.order_no == no)))


def inv(on_hand: int, reserved: int) -> dict[str, int]:
    return {"on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved}


async def levels(api: httpx.AsyncClient, sku: str) -> dict[str, int]:
    s = await stock(api, sku)
    return {k: s[k] for k in ("on_hand", "reserved", "available")}


async def test_online_order_from_intake_to_completed(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Engine,
        providers: Providers) -> None:
    r = await api.post("/api/v1/orders", headers=auth("channel"), json=order_body())
    assert r.status_code == 201, r.text
    assert r.json() == {"order_no": "WEB-1001", "workflow_id": "order-WEB-1001",
                        "status": "received", "total": TOTAL}
    o = await wait_order(api, "WEB-1001", "awaiting_payment")
    assert o["stage"] == "payment" and o["paid_amount"] == 0
    assert await levels(api, "TEA") == inv(10, 2)
    assert await levels(api, "CUP") == inv(5, 1)
    await eventually(lambda: notices(engine, "WEB-1001") == ["order_confirmed"])

    wrong = await pay(api, "WEB-1001", amount=100)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "amount_mismatch"
    paid = await pay(api, "WEB-1001")
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount"] == TOTAL and paid.json()["transaction_id"] == "PAY-1"
    again = await pay(api, "WEB-1001")
    assert again.status_code == 200 and again.json() == paid.json()
    other = await pay(api, "WEB-1001", tx="PAY-2")
    assert other.status_code == 409 and other.json()["error"]["code"] == "already_paid"
    assert list(providers.payments.captures) == ["PAY-1"]

    task = await open_task(api, "WEB-1001", "order.fulfil")
    assert task["role"] == "warehouse"
    ctx = task["context"]
    assert [(i["sku"], i["quantity"]) for i in ctx["pick_list"]] == [("TEA", 2), ("CUP", 1)]
    assert ctx["pick_list_url"] == "/api/v1/orders/WEB-1001/pick-list"
    for url in (ctx["pick_list_url"], ctx["packing_slip_url"]):
        page = await api.get(url, headers=auth("warehouse"))
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "Product TEA" in page.text and "data-print" in page.text
    o = await order(api, "WEB-1001")
    assert o["status"] == "fulfilling" and o["paid_amount"] == TOTAL
    assert o["kpi"]["paid_at"] and o["kpi"]["stock_secured_at"]

    r = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF1001")
    assert r.status_code == 200, r.text
    assert await levels(api, "TEA") == inv(8, 0)
    assert await levels(api, "CUP") == inv(4, 0)
    o = await wait_order(api, "WEB-1001", "shipped")
    assert o["shipments"][0]["tracking_no"] == "SF1001"
    assert o["shipments"][0]["tracking_url"] == "https://track.example.com/sf/SF1001"
    await eventually(lambda: "order_shipped" in notices(engine, "WEB-1001"))

    r = await event(api, "SF1001", "in_transit", "left Hangzhou hub")
    assert r.status_code == 201, r.text
    assert (await event(api, "SF1001", "delivered", "signed by Li",
                        at="2030-01-02T10:00:00+00:00")).status_code == 201
    o = await wait_order(api, "WEB-1001", "completed")
    assert o["kpi"]["delivered_at"] == "2030-01-02T10:00:00+00:00"
    assert o["kpi"]["completed_at"] and o["kpi"]["shipped_at"] and o["kpi"]["received_at"]
    assert o["invoice"]["invoice_no"] == "INV-WEB-1001"
    assert o["followup"]["workflow_id"] == "followup-WEB-1001"
    assert [s["status"] for s in o["shipments"]] == ["delivered"]
    assert [e["type"] for e in o["shipments"][0]["events"]] == ["in_transit", "delivered"]
    assert o["paid_amount"] == TOTAL and o["refunded_amount"] == 0 and o["refunds"] == []

    invoice = await api.get("/api/v1/orders/WEB-1001/invoice", headers=auth("finance"))
    assert invoice.status_code == 200 and "INV-WEB-1001" in invoice.text
    assert "161.50" in invoice.text and "PAY-1" in invoice.text
    with Session(engine) as s:
        rec = s.exec(select(Reconciliation).where(Reconciliation.order_no == "WEB-1001")).all()
        due = s.get(FollowupDue, "followup-WEB-1001")
    assert [(x.kind, x.amount, x.method, x.reference) for x in rec] == [
        ("sale", TOTAL, "online", "PAY-1")]
    assert due is not None and due.source_id == "WEB-1001"
    # started when the worker runs the follow-up process, else left due for it
    assert due.status in ("due", "started")
    assert o["followup"]["status"] == due.status
    await eventually(lambda: "order_delivered" in notices(engine, "WEB-1001"))
    assert notices(engine, "WEB-1001") == ["order_confirmed", "order_paid", "order_shipped",
                                           "order_delivered"]
    types = [e["type"] for e in (await order(api, "WEB-1001"))["timeline"]]
    for expected in ("received", "awaiting_payment", "paid", "ready", "task_completed",
                     "shipped", "shipment_in_transit", "shipment_delivered", "completed"):
        assert expected in types, expected
    await record_history(tenv, "order-WEB-1001", "order_online_local")


async def test_cod_order_collects_at_delivery(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment,
        engine: Engine) -> None:
    no = await place(api, order_no="APP-2001", method="cod", channel="app")
    o = await wait_order(api, no, "fulfilling")
    assert o["paid_amount"] == 0 and o["payment_method"] == "cod"
    r = await pay(api, no)
    assert r.status_code == 409 and r.json()["error"]["code"] == "cod_order"
    task = await open_task(api, no, "order.fulfil")
    assert task["context"]["collect_on_delivery"] == "161.50"
    slip = await api.get(f"/api/v1/orders/{no}/packing-slip", headers=auth("warehouse"))
    assert "161.50" in slip.text and "Collect on delivery" in slip.text
    early = await api.get(f"/api/v1/orders/{no}/invoice", headers=auth("finance"))
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_invoiced"
    await ship(api, no, tracking="JD500")
    assert await levels(api, "TEA") == inv(8, 0)
    assert (await order(api, no))["paid_amount"] == 0
    assert (await event(api, "JD500", "delivered", role="channel")).status_code == 201
    o = await wait_order(api, no, "completed")
    assert o["paid_amount"] == TOTAL and o["refunded_amount"] == 0
    assert [(p["method"], p["transaction_id"], p["amount"], p["status"])
            for p in o["payments"]] == [("cod", "COD-JD500", TOTAL, "collected")]
    invoice = await api.get(f"/api/v1/orders/{no}/invoice", headers=auth("cs"))
    assert invoice.status_code == 200 and "Cash on delivery" in invoice.text
    with Session(engine) as s:
        rec = s.exec(select(Reconciliation).where(Reconciliation.order_no == no)).one()
    assert (rec.kind, rec.amount, rec.method, rec.reference) == ("sale", TOTAL, "cod",
                                                                 "COD-JD500")
    await eventually(lambda: "order_delivered" in notices(engine, no))
    assert notices(engine, no) == ["order_confirmed", "order_shipped", "order_delivered"]
    await record_history(tenv, f"order-{no}", "order_cod_local")


async def test_unpaid_order_is_reminded_then_cancelled_and_stock_released(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment,
        engine: Engine) -> None:
    no = await place(api)
    await wait_order(api, no, "awaiting_payment")
    assert await levels(api, "TEA") == inv(10, 2)
    await tenv.sleep(timedelta(minutes=16))
    await eventually(lambda: "order_payment_reminder" in notices(engine, no))
    assert (await order(api, no))["status"] == "awaiting_payment"
    await tenv.sleep(timedelta(minutes=15))
    o = await wait_order(api, no, "cancelled")
    assert o["cancel_reason"] == "no payment received in time"
    assert o["kpi"]["cancelled_at"] and o["refunds"] == []
    assert await levels(api, "TEA") == inv(10, 0)
    assert await levels(api, "CUP") == inv(5, 0)
    await eventually(lambda: "order_cancelled" in notices(engine, no))
    assert notices(engine, no) == ["order_confirmed", "order_payment_reminder",
                                   "order_cancelled"]
    late = await pay(api, no)
    assert late.status_code == 409 and late.json()["error"]["code"] == "order_closed"
    history = (await api.get("/api/v1/customers/c-1", headers=auth("cs"))).json()
    assert history["purchase_history"] == {"orders_count": 0, "orders_value": 0.0}


async def test_backorder_is_served_by_receipts_oldest_first(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Engine) -> None:
    await make_product(api, "TEA", stock=1)
    await make_product(api, "CUP", stock=5)
    first = await place(api, order_no="BO-1", method="cod",
                        items=[{"sku": "TEA", "quantity": 3, "unit_price": 10},
                               {"sku": "CUP", "quantity": 1, "unit_price": 5}])
    o = await wait_order(api, first, "backordered")
    assert [(w["sku"], w["quantity"], w["status"]) for w in o["backorder"]] == [
        ("TEA", 3, "waiting")]
    assert o["kpi"]["backordered_at"] and o["kpi"]["stock_secured_at"] is None
    # the line in stock is held meanwhile; the short one is not
    assert await levels(api, "CUP") == inv(5, 1)
    assert await levels(api, "TEA") == inv(1, 0)
    await eventually(lambda: "order_backordered" in notices(engine, first))
    second = await place(api, order_no="BO-2", method="cod", customer_id="c-2",
                         items=[{"sku": "TEA", "quantity": 2, "unit_price": 10}])
    await wait_order(api, second, "backordered")

    # 3 arrive: 4 available; the older order takes its 3, the newer (2) must wait for more
    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "TEA", "quantity": 3, "note": "PO-77"})
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("on_hand", "reserved", "available")} == inv(4, 3)
    o = await wait_order(api, first, "fulfilling")
    assert o["backorder"][0]["status"] == "released" and o["kpi"]["stock_secured_at"]
    assert (await order(api, second))["status"] == "backordered"
    await open_task(api, first, "order.fulfil")

    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "TEA", "quantity": 1, "note": "PO-78"})
    assert r.status_code == 201
    await wait_order(api, second, "fulfilling")
    assert await levels(api, "TEA") == inv(5, 5)
    await ship(api, first, tracking="BO1-T")
    assert await levels(api, "TEA") == inv(2, 2)
    assert await levels(api, "CUP") == inv(4, 0)


async def test_backorder_not_served_in_time_cancels_and_refunds(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Engine,
        providers: Providers) -> None:
    await make_product(api, "TEA", stock=1)
    await make_product(api, "CUP", stock=5)
    no = await place(api, items=[{"sku": "TEA", "quantity": 2, "unit_price": 30},
                                 {"sku": "CUP", "quantity": 2, "unit_price": 5}])
    await wait_order(api, no, "backordered")
    assert (await pay(api, no, amount=70)).status_code == 201
    o = await order(api, no)
    assert o["status"] == "backordered" and o["paid_amount"] == 70
    assert await levels(api, "CUP") == inv(5, 2)
    await tenv.sleep(timedelta(days=7, hours=1))
    o = await wait_order(api, no, "cancelled")
    assert o["cancel_reason"] == "TEA not back in stock in time"
    assert o["refunded_amount"] == 70
    assert [(r["amount"], r["status"], r["method"]) for r in o["refunds"]] == [
        (70.0, "succeeded", "original")]
    assert providers.payments.refunded_cents(["PAY-1"]) == 7000
    assert await levels(api, "CUP") == inv(5, 0)
    assert await levels(api, "TEA") == inv(1, 0)
    assert o["backorder"][0]["status"] == "closed"
    await eventually(lambda: "order_cancelled" in notices(engine, no))
    # a receipt after the end wakes nobody
    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "TEA", "quantity": 5, "note": "late"})
    assert r.status_code == 201 and r.json()["reserved"] == 0


async def test_cancel_unpaid_order_before_shipment_releases_stock(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        providers: Providers) -> None:
    no = await place(api, method="cod")
    await open_task(api, no, "order.fulfil")
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"),
                       json={"reason": "customer changed their mind"})
    assert r.status_code == 200, r.text
    assert r.json() == {"order_no": no, "status": "cancelled", "refunded_amount": 0.0}
    assert await levels(api, "TEA") == inv(10, 0)
    o = await order(api, no)
    assert o["status"] == "cancelled" and o["refunds"] == []
    assert all(t["status"] == "cancelled" for t in o["tasks"])
    assert providers.payments.refunds == {}
    await eventually(lambda: "order_cancelled" in notices(engine, no))
    again = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("ops"),
                           json={"reason": "twice"})
    assert again.status_code == 409


@pytest.fixture
def flaky_refunds(providers: Providers) -> PaymentSimulator:
    """The gateway refunds, then the reply is lost: the activity fails and is retried."""
    assert isinstance(providers.payments, PaymentSimulator)
    providers.payments.script["refund"] = ["after"]
    return providers.payments


async def test_cancel_paid_order_refunds_exactly_once_when_the_refund_is_retried(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        flaky_refunds: PaymentSimulator) -> None:
    no = await place(api)
    assert (await pay(api, no, tx="PAY-77")).status_code == 201
    await open_task(api, no, "order.fulfil")
    assert await levels(api, "TEA") == inv(10, 2)
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("ops"),
                       json={"reason": "address cannot be served"})
    assert r.status_code == 200, r.text
    assert r.json()["refunded_amount"] == TOTAL
    # the provider was called twice (the first reply lost) and refunded once
    assert flaky_refunds.calls.count("refund") == 2
    assert len(flaky_refunds.refunds) == 1
    assert flaky_refunds.refunded_cents(["PAY-77"]) == 16150
    rows = refunds(engine, no)
    assert [(x.amount, x.status, x.key) for x in rows] == [
        (TOTAL, "succeeded", f"order-{no}:cancel")]
    o = await order(api, no)
    assert o["paid_amount"] == TOTAL and o["refunded_amount"] == TOTAL
    assert await levels(api, "TEA") == inv(10, 0)
    assert await levels(api, "CUP") == inv(5, 0)
    with Session(engine) as s:
        rec = s.exec(select(Reconciliation).where(Reconciliation.order_no == no)).all()
    assert [(x.kind, x.amount) for x in rec] == [("refund", -TOTAL)]
    await eventually(lambda: "order_cancelled" in notices(engine, no))
    assert notices(engine, no).count("order_cancelled") == 1


async def test_cancel_after_shipment_is_409_with_a_hint_to_return(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api, method="cod")
    await ship(api, no)
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"),
                       json={"reason": "too late"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "already_shipped" and err["details"]["hint"] == "POST /api/v1/returns"
    assert (await order(api, no))["status"] == "shipped"
    assert await levels(api, "TEA") == inv(8, 0)


async def test_delayed_parcel_sends_an_apology_and_is_recorded_as_exception(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    no = await place(api, method="cod")
    await ship(api, no)
    r = await event(api, "SF1001", "delayed", "typhoon", at="2030-01-01T08:00:00Z")
    assert r.status_code == 201 and r.json()["shipment_status"] == "delayed"
    same = await event(api, "SF1001", "delayed", "typhoon", at="2030-01-01T08:00:00Z")
    assert same.status_code == 200 and same.json()["duplicate"] is True
    await eventually(lambda: "order_delayed" in notices(engine, no))
    o = await order(api, no)
    assert o["kpi"]["exception_count"] == 1 and o["kpi"]["first_exception_at"]
    assert o["kpi"]["exceptions"][0]["type"] == "delayed"
    assert (await event(api, "SF1001", "delivered")).status_code == 201
    o = await wait_order(api, no, "completed")
    assert notices(engine, no).count("order_delayed") == 1
    late = await event(api, "SF1001", "lost")
    assert late.status_code == 409


async def test_lost_parcel_reshipped_takes_stock_again_and_completes(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    await ship(api, no, tracking="SF1")
    assert await levels(api, "TEA") == inv(8, 0)
    assert (await event(api, "SF1", "lost", "scanned nowhere for 5 days")).status_code == 201
    o = await wait_order(api, no, "exception")
    assert o["stage"] == "lost_parcel" and o["kpi"]["exception_count"] == 1
    await eventually(lambda: "order_lost" in notices(engine, no))
    task = await open_task(api, no, "order.lost_parcel")
    assert task["role"] == "cs" and task["context"]["stock_available"] == {"TEA": 8, "CUP": 4}
    bad = await complete(api, task, "resend")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_decision"
    r = await complete(api, task, "reship")
    assert r.status_code == 200, r.text
    assert await levels(api, "TEA") == inv(8, 2)
    fulfil = await open_task(api, no, "order.fulfil")
    assert fulfil["context"]["round"] == 2 and fulfil["context"]["reship_of"] == "SF1"
    dup = await complete(api, fulfil, "shipped", courier="SF Express", tracking_no="SF1")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "tracking_no_in_use"
    r = await complete(api, fulfil, "shipped", courier="SF Express", tracking_no="SF2")
    assert r.status_code == 200
    assert await levels(api, "TEA") == inv(6, 0)
    assert await levels(api, "CUP") == inv(3, 0)
    assert (await event(api, "SF2", "delivered")).status_code == 201
    o = await wait_order(api, no, "completed")
    assert [(s["tracking_no"], s["status"], s["round"]) for s in o["shipments"]] == [
        ("SF1", "lost", 1), ("SF2", "delivered", 2)]
    assert o["paid_amount"] == TOTAL and o["refunded_amount"] == 0
    await eventually(lambda: notices(engine, no).count("order_shipped") == 2)


async def test_lost_parcel_refunded_closes_the_order(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        providers: Providers) -> None:
    no = await place(api)
    assert (await pay(api, no, tx="PAY-9")).status_code == 201
    await ship(api, no, tracking="SF9")
    assert (await event(api, "SF9", "lost")).status_code == 201
    task = await open_task(api, no, "order.lost_parcel")
    r = await complete(api, task, "refund")
    assert r.status_code == 200, r.text
    o = await wait_order(api, no, "refunded")
    assert o["refunded_amount"] == TOTAL and o["paid_amount"] == TOTAL
    assert [(x["amount"], x["status"]) for x in o["refunds"]] == [(TOTAL, "succeeded")]
    assert providers.payments.refunded_cents(["PAY-9"]) == 16150
    # the lost goods left the stock at shipment; nothing is held any more
    assert await levels(api, "TEA") == inv(8, 0)
    await eventually(lambda: "order_refunded" in notices(engine, no))
    assert (await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"),
                           json={"reason": "x"})).status_code == 409


async def test_same_order_again_is_200_and_starts_nothing(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    first = await api.post("/api/v1/orders", headers=auth("channel"), json=order_body())
    assert first.status_code == 201
    # the same content written differently (12.5 vs 12.50) is the same order
    same_body = order_body()
    same_body["items"][1]["unit_price"] = "25.50"
    again = await api.post("/api/v1/orders", headers=auth("channel"), json=same_body)
    assert again.status_code == 200 and again.json() == first.json()
    changed = order_body(items=[{"sku": "TEA", "quantity": 3, "unit_price": 68}])
    conflict = await api.post("/api/v1/orders", headers=auth("channel"), json=changed)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "order_exists"
    await wait_order(api, "WEB-1001", "awaiting_payment")
    assert await levels(api, "TEA") == inv(10, 2)
    await eventually(lambda: notices(engine, "WEB-1001") == ["order_confirmed"])
    listed = (await api.get("/api/v1/orders", headers=auth("ops"))).json()
    assert listed["total"] == 1


async def test_generated_order_numbers_and_idempotency_key(
        api: httpx.AsyncClient, catalogue: None) -> None:
    headers = {**auth("channel"), "Idempotency-Key": "checkout-42"}
    r1 = await api.post("/api/v1/orders", headers=headers, json=order_body(order_no=None))
    assert r1.status_code == 201, r1.text
    no = r1.json()["order_no"]
    import re
    assert re.fullmatch(r"SO-\d{8}-000001", no), no
    r2 = await api.post("/api/v1/orders", headers=headers, json=order_body(order_no=None))
    assert r2.status_code == 201 and r2.json() == r1.json()
    other = await api.post("/api/v1/orders", headers=auth("channel"),
                           json=order_body(order_no=None, customer_id="c-9"))
    assert other.json()["order_no"].endswith("-000002")
    await wait_order(api, no, "awaiting_payment")
    await wait_order(api, other.json()["order_no"], "awaiting_payment")  # its stock too
    assert await levels(api, "TEA") == inv(10, 4)


async def test_duplicate_payment_reported_twice_books_once(
        api: httpx.AsyncClient, catalogue: None, engine: Engine, providers: Providers) -> None:
    import asyncio

    no = await place(api)
    await wait_order(api, no, "awaiting_payment")
    answers = await asyncio.gather(pay(api, no, tx="TX-DUP"), pay(api, no, tx="TX-DUP"),
                                   pay(api, no, tx="TX-DUP", role="finance"))
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len({a.json()["transaction_id"] for a in answers}) == 1
    o = await order(api, no)
    assert o["paid_amount"] == TOTAL and len(o["payments"]) == 1
    assert list(providers.payments.captures) == ["TX-DUP"]
    await eventually(lambda: "order_paid" in notices(engine, no))
    assert notices(engine, no).count("order_paid") == 1
