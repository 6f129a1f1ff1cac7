"""Setting the scene for process tests through the API, written once: an order placed, paid,
shipped, its courier events, an order delivered. The products they use come from conftest's
``catalogue`` fixture (TEA: 10 in stock, CUP: 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import auth, case, complete, open_task, wait_case


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


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def delivered_order(api: httpx.AsyncClient, no: str = "WEB-1", days_ago: float | None = 2,
                          method: str = "online", customer_id: str = "c-1",
                          items: list[dict[str, Any]] | None = None,
                          shipping_fee: float = 0) -> str:
    """An order paid (online), shipped with tracking number ``T-<no>`` and delivered ``days_ago``
    (the courier's time of delivery; None: the event carries no time, delivered now)."""
    items = items or [{"sku": "TEA", "quantity": 2, "unit_price": 68},
                      {"sku": "CUP", "quantity": 1, "unit_price": 25.5}]
    await place(api, order_no=no, method=method, customer_id=customer_id, items=items,
                shipping_fee=shipping_fee)
    if method == "online":
        total = sum(i["quantity"] * i["unit_price"] for i in items) + shipping_fee
        r = await pay(api, no, amount=total, tx=f"PAY-{no}")
        assert r.status_code == 201, r.text
    await ship(api, no, tracking=f"T-{no}")
    r = await event(api, f"T-{no}", "delivered",
                    at=None if days_ago is None else ago(days_ago))
    assert r.status_code == 201, r.text
    await wait_order(api, no, "completed")
    return no
