"""The order fulfilment process end to end: API, worker with real activities and the provider
simulators, time-skipping Temporal. Each test walks an order the way its users would and checks
stock and money at every step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shopflow.models import FollowupDue, Notice, Reconciliation, Refund
from shopflow.providers import CourierSimulator, PaymentSimulator, Providers
from shopflow.settings import Settings
from shopflow.worker import build_worker
from tests.helpers import (
    auth,
    case,
    complete,
    eventually,
    make_product,
    open_task,
    record_history,
    stock,
    wait_case,
)

pytestmark = pytest.mark.asyncio


@pytest.fixture
def providers() -> Providers:
    return Providers(payments=PaymentSimulator(seed=7), courier=CourierSimulator(seed=7))


@pytest.fixture
async def worker(client: Client, settings: Settings, engine: Engine,
                 providers: Providers) -> AsyncIterator[Worker]:
    """The real worker, with provider simulators the test can look into (and script)."""
    async with build_worker(client, settings, engine, providers=providers) as w:
        yield w


@pytest.fixture
async def catalogue(api: httpx.AsyncClient) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)


def order_body(order_no: str | None = "WEB-1001", method: str = "online",
               items: list[dict[str, Any]] | None = None, customer_id: str = "c-1",
               **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "web",
        "customer": {"id": customer_id, "name": "Li Wei", "email": "li@example.com",
                     "phone": "13800000000"},
        "items": items or [{"sku": "TEA", "quantity": 2, "unit_price": 68.0},
                           {"sku": "CUP", "quantity": 1, "unit_price": 25.5}],
        "shipping_address": {"name": "Li Wei", "phone": "13800000000",
                             "line1": "1 West Lake Rd", "city": "Hangzhou", "region": "Zhejiang",
                             "postcode": "310000"},
        "payment_method": method,
    }
    if order_no is not None:
        body["order_no"] = order_no
    body.update(overrides)
    return body


TOTAL = 161.5  # 2 × 68.00 + 1 × 25.50


async def place(api: httpx.AsyncClient, **kwargs: Any) -> str:
    r = await api.post("/api/v1/orders", headers=auth("channel"), json=order_body(**kwargs))
    assert r.status_code == 201, r.text
    return r.json()["order_no"]  # type: ignore[no-any-return]


async def order(api: httpx.AsyncClient, no: str) -> dict[str, Any]:
    return await case(api, f"/api/v1/orders/{no}")


async def wait_order(api: httpx.AsyncClient, no: str, status: str) -> dict[str, Any]:
    return await wait_case(api, f"/api/v1/orders/{no}", lambda o: o["status"] == status)


async def pay(api: httpx.AsyncClient, no: str, amount: float = TOTAL, tx: str = "PAY-1",
              role: str = "channel") -> httpx.Response:
    return await api.post(f"/api/v1/orders/{no}/payments", headers=auth(role),
                          json={"transaction_id": tx, "amount": amount})


async def ship(api: httpx.AsyncClient, no: str, tracking: str = "SF1001",
               courier: str = "SF Express") -> dict[str, Any]:
    task = await open_task(api, no, "order.fulfil")
    r = await complete(api, task, "shipped", courier=courier, tracking_no=tracking)
    assert r.status_code == 200, r.text
    return task


async def event(api: httpx.AsyncClient, tracking: str, type_: str, note: str = "",
                at: str | None = None, role: str = "warehouse") -> httpx.Response:
    body: dict[str, Any] = {"type": type_, "note": note}
    if at:
        body["at"] = at
    return await api.post(f"/api/v1/shipments/{tracking}/events", headers=auth(role), json=body)


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
        assert "Product TEA" in page.text and "window.print()" in page.text
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
    assert due is not None and due.status == "due" and due.source_id == "WEB-1001"
    await eventually(lambda: "order_delivered" in notices(engine, "WEB-1001"))
    assert notices(engine, "WEB-1001") == ["order_confirmed", "order_paid", "order_shipped",
                                           "order_delivered"]
    types = [e["type"] for e in o["timeline"]]
    for expected in ("received", "awaiting_payment", "paid", "ready", "task_completed",
                     "shipped", "shipment_in_transit", "shipment_delivered", "completed"):
        assert expected in types, expected
    await record_history(tenv, "order-WEB-1001", "order_online_happy_path")
