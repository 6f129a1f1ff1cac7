"""The order, payment and shipment routes: who may call them (401/403), what they refuse (404,
409, 422 with the contract's codes) and what they answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import auth, complete, eventually, open_task
from tests.scenes import TOTAL, order_body, pay, place, wait_order

pytestmark = pytest.mark.asyncio


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]  # type: ignore[no-any-return]


async def post_order(api: httpx.AsyncClient, body: dict[str, Any],
                     role: str = "channel") -> httpx.Response:
    return await api.post("/api/v1/orders", headers=auth(role), json=body)


async def test_every_order_route_needs_a_token(api: httpx.AsyncClient) -> None:
    calls = [
        ("POST", "/api/v1/orders", order_body()),
        ("GET", "/api/v1/orders", None),
        ("GET", "/api/v1/orders/X-1", None),
        ("POST", "/api/v1/orders/X-1/payments", {"transaction_id": "T", "amount": 1}),
        ("POST", "/api/v1/orders/X-1/cancel", {"reason": "r"}),
        ("GET", "/api/v1/orders/X-1/invoice", None),
        ("GET", "/api/v1/orders/X-1/pick-list", None),
        ("GET", "/api/v1/orders/X-1/packing-slip", None),
        ("POST", "/api/v1/shipments/T1/events", {"type": "delivered"}),
        ("GET", "/api/v1/shipments/T1", None),
    ]
    for method, path, body in calls:
        r = await api.request(method, path, json=body)
        assert r.status_code == 401 and code(r) == "unauthorized", (method, path)
        bad = await api.request(method, path, json=body,
                                headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, (method, path)


async def test_roles_are_enforced(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api, method="cod")
    forbidden = [
        ("warehouse", "POST", "/api/v1/orders", order_body(order_no="X-3")),
        ("warehouse", "POST", f"/api/v1/orders/{no}/payments",
         {"transaction_id": "T", "amount": TOTAL}),
        ("cs", "POST", f"/api/v1/orders/{no}/payments", {"transaction_id": "T", "amount": TOTAL}),
        ("channel", "POST", f"/api/v1/orders/{no}/cancel", {"reason": "r"}),
        ("warehouse", "POST", f"/api/v1/orders/{no}/cancel", {"reason": "r"}),
        ("cs", "POST", "/api/v1/shipments/T1/events", {"type": "delivered"}),
        ("finance", "POST", "/api/v1/shipments/T1/events", {"type": "delivered"}),
        ("warehouse", "GET", f"/api/v1/orders/{no}/invoice", None),
        ("channel", "GET", f"/api/v1/orders/{no}/pick-list", None),
        ("finance", "GET", f"/api/v1/orders/{no}/packing-slip", None),
    ]
    for role, method, path, body in forbidden:
        r = await api.request(method, path, json=body, headers=auth(role))
        assert r.status_code == 403 and code(r) == "forbidden", (role, method, path, r.text)
    # every staff role reads orders; admin may do everything
    for role in ("channel", "cs", "reviewer", "warehouse", "finance", "ops", "admin"):
        assert (await api.get(f"/api/v1/orders/{no}", headers=auth(role))).status_code == 200
    assert (await post_order(api, order_body(order_no="ADM-1"), role="admin")).status_code == 201


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    for method, path, body, role in [
        ("GET", "/api/v1/orders/NOPE", None, "ops"),
        ("POST", "/api/v1/orders/NOPE/payments", {"transaction_id": "T", "amount": 1}, "channel"),
        ("POST", "/api/v1/orders/NOPE/cancel", {"reason": "r"}, "cs"),
        ("GET", "/api/v1/orders/NOPE/invoice", None, "finance"),
        ("GET", "/api/v1/orders/NOPE/pick-list", None, "warehouse"),
        ("GET", "/api/v1/orders/NOPE/packing-slip", None, "warehouse"),
        ("POST", "/api/v1/shipments/NOPE/events", {"type": "in_transit"}, "warehouse"),
        ("GET", "/api/v1/shipments/NOPE", None, "ops"),
    ]:
        r = await api.request(method, path, json=body, headers=auth(role))
        assert r.status_code == 404 and code(r) == "not_found", (method, path, r.text)


async def test_intake_refuses_bad_orders_with_422_and_starts_nothing(
        api: httpx.AsyncClient, catalogue: None) -> None:
    def with_items(*items: dict[str, Any]) -> dict[str, Any]:
        return order_body(items=list(items)) if items else {**order_body(), "items": []}

    no_address = order_body()
    del no_address["shipping_address"]
    no_city = order_body()
    del no_city["shipping_address"]["city"]
    blank_line = order_body()
    blank_line["shipping_address"]["line1"] = "   "
    no_contact = order_body(customer={"id": "c-1", "name": "Li Wei"})
    no_contact["shipping_address"].pop("phone")
    no_customer = order_body()
    del no_customer["customer"]
    cases: list[tuple[dict[str, Any], str]] = [
        (with_items(), "invalid_input"),
        (with_items({"sku": "TEA", "quantity": 0, "unit_price": 1}), "invalid_input"),
        (with_items({"sku": "TEA", "quantity": -2, "unit_price": 1}), "invalid_input"),
        (with_items({"sku": "TEA", "quantity": 1, "unit_price": -1}), "invalid_input"),
        (with_items({"sku": "TEA", "quantity": 1, "unit_price": 1.234}), "invalid_input"),
        (with_items({"sku": "GHOST", "quantity": 1, "unit_price": 1}), "unknown_sku"),
        (with_items({"sku": "TEA", "quantity": 1, "unit_price": 1},
                    {"sku": "TEA", "quantity": 2, "unit_price": 1}), "duplicate_sku"),
        (no_address, "invalid_input"),
        (no_city, "invalid_input"),
        (blank_line, "invalid_input"),
        (order_body(shipping_address="x"), "invalid_input"),
        (no_contact, "missing_contact"),
        (no_customer, "invalid_input"),
        (order_body(payment_method="cheque"), "invalid_input"),
        (order_body(order_no="has space"), "invalid_input"),
        ({**order_body(), "coupon": "FREE"}, "invalid_input"),
    ]
    for body, expected in cases:
        r = await post_order(api, body)
        assert r.status_code == 422, (body, r.text)
        assert code(r) == expected, (body, r.text)
    r = await api.post("/api/v1/orders", headers={**auth("channel"),
                                                  "Content-Type": "application/json"},
                       content=b"{not json")
    assert r.status_code == 422
    listed = (await api.get("/api/v1/orders", headers=auth("ops"))).json()
    assert listed["total"] == 0
    tea = (await api.get("/api/v1/inventory/TEA", headers=auth("ops"))).json()
    assert tea["reserved"] == 0


async def test_one_line_address_and_customer_contact_are_accepted(
        api: httpx.AsyncClient, catalogue: None) -> None:
    body = order_body(order_no="LINE-1", shipping_address="88 Nanjing Rd, Shanghai 200001")
    r = await post_order(api, body)
    assert r.status_code == 201, r.text
    o = (await api.get("/api/v1/orders/LINE-1", headers=auth("cs"))).json()
    assert o["shipping_address"]["line1"] == "88 Nanjing Rd, Shanghai 200001"
    assert o["shipping_address"]["name"] == "Li Wei"
    assert o["shipping_address"]["phone"] == "13800000000"
    assert o["customer"]["email"] == "li@example.com"
    async def profile() -> dict[str, Any] | None:
        r = await api.get("/api/v1/customers/c-1", headers=auth("cs"))
        return r.json() if r.status_code == 200 else None

    assert (await eventually(profile))["email"] == "li@example.com"


async def test_same_number_different_body_and_reused_idempotency_key_are_409(
        api: httpx.AsyncClient, catalogue: None) -> None:
    assert (await post_order(api, order_body())).status_code == 201
    r = await post_order(api, order_body(payment_method="cod"))
    assert r.status_code == 409 and code(r) == "order_exists"
    headers = {**auth("channel"), "Idempotency-Key": "k-1"}
    first = await api.post("/api/v1/orders", headers=headers, json=order_body(order_no="K-1"))
    assert first.status_code == 201
    replay = await api.post("/api/v1/orders", headers=headers, json=order_body(order_no="K-1"))
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    other = await api.post("/api/v1/orders", headers=headers, json=order_body(order_no="K-2"))
    assert other.status_code == 409 and code(other) == "idempotency_key_reused"
    assert (await api.get("/api/v1/orders/K-2", headers=auth("ops"))).status_code == 404


async def test_payment_refusals(api: httpx.AsyncClient, catalogue: None) -> None:
    online = await place(api, order_no="P-1")
    cod = await place(api, order_no="P-2", method="cod", customer_id="c-2")
    await wait_order(api, online, "awaiting_payment")
    for body in ({"transaction_id": "T", "amount": 0}, {"transaction_id": "T", "amount": -5},
                 {"transaction_id": "T", "amount": 1.001}, {"amount": TOTAL},
                 {"transaction_id": "", "amount": TOTAL},
                 {"transaction_id": "T", "amount": TOTAL, "currency": "USD"}):
        r = await api.post(f"/api/v1/orders/{online}/payments", headers=auth("channel"),
                           json=body)
        assert r.status_code == 422 and code(r) == "invalid_input", (body, r.text)
    r = await pay(api, online, amount=TOTAL + 1)
    assert r.status_code == 422 and code(r) == "amount_mismatch"
    assert r.json()["error"]["details"]["expected"] == TOTAL
    r = await pay(api, cod)
    assert r.status_code == 409 and code(r) == "cod_order"
    ok = await pay(api, online, tx="T-1", role="finance")
    assert ok.status_code == 201 and ok.json()["method"] == "online"
    online2 = await place(api, order_no="P-3", customer_id="c-3")
    used = await pay(api, online2, tx="T-1")
    assert used.status_code == 409 and code(used) == "transaction_used"
    # Idempotency-Key on a payment: the retry answers the same
    headers = {**auth("channel"), "Idempotency-Key": "pay-3"}
    body = {"transaction_id": "T-3", "amount": TOTAL}
    a = await api.post(f"/api/v1/orders/{online2}/payments", headers=headers, json=body)
    b = await api.post(f"/api/v1/orders/{online2}/payments", headers=headers, json=body)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()


async def test_cancel_refusals(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api, method="cod")
    await open_task(api, no, "order.fulfil")
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x", "extra": 1}):
        r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"), json=body)
        assert r.status_code == 422, body
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("ops"),
                       json={"reason": "duplicate order"})
    assert r.status_code == 200
    again = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("ops"),
                           json={"reason": "again"})
    assert again.status_code == 409 and code(again) == "already_cancelled"
    late_pay = await pay(api, no)
    assert late_pay.status_code == 409


async def test_fulfil_task_and_shipment_event_refusals(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api, method="cod")
    task = await open_task(api, no, "order.fulfil")
    for decision, data, expected, status in [
        ("approve", {}, "invalid_decision", 422),
        ("shipped", {"courier": "SF"}, "missing_field", 422),
        ("shipped", {"tracking_no": "SF1"}, "missing_field", 422),
        ("shipped", {"courier": "SF", "tracking_no": "SF 1/2"}, "invalid_tracking_no", 422),
    ]:
        r = await complete(api, task, decision, **data)
        assert r.status_code == status and code(r) == expected, (decision, data, r.text)
    wrong_role = await complete(api, task, "shipped", role="cs", courier="SF", tracking_no="A1")
    assert wrong_role.status_code == 403
    r = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF-77")
    assert r.status_code == 200
    twice = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF-78")
    assert twice.status_code == 409

    for body in ({"type": "exploded"}, {"type": "delivered", "at": "yesterday"},
                 {"type": "delivered", "note": "x" * 1001}, {}):
        r = await api.post("/api/v1/shipments/SF-77/events", headers=auth("warehouse"),
                           json=body)
        assert r.status_code == 422, body
    other = await place(api, order_no="O-2", method="cod", customer_id="c-2")
    t2 = await open_task(api, other, "order.fulfil")
    taken = await complete(api, t2, "shipped", courier="SF Express", tracking_no="SF-77")
    assert taken.status_code == 409 and code(taken) == "tracking_no_in_use"

    parcel = await api.get("/api/v1/shipments/SF-77", headers=auth("cs"))
    assert parcel.status_code == 200
    assert parcel.json()["order_no"] == no and parcel.json()["status"] == "shipped"
    r = await api.post("/api/v1/shipments/SF-77/events", headers=auth("channel"),
                       json={"type": "delivered", "at": "2030-05-01T12:00:00"})
    assert r.status_code == 201
    assert r.json()["at"] == "2030-05-01T12:00:00+00:00"
    await wait_order(api, no, "completed")
    after = await api.post("/api/v1/shipments/SF-77/events", headers=auth("channel"),
                           json={"type": "in_transit"})
    assert after.status_code == 409
    repeat = await api.post("/api/v1/shipments/SF-77/events", headers=auth("channel"),
                            json={"type": "delivered", "at": "2030-05-01T12:00:00Z"})
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True


async def test_list_filters_by_status_and_pages(api: httpx.AsyncClient, catalogue: None) -> None:
    for i in range(3):
        await place(api, order_no=f"L-{i}", method="cod", customer_id=f"c-{i}")
    await place(api, order_no="L-9", customer_id="c-9")
    await wait_order(api, "L-9", "awaiting_payment")
    for i in range(3):
        await wait_order(api, f"L-{i}", "fulfilling")
    r = await api.get("/api/v1/orders", params={"status": "fulfilling", "page_size": 2},
                      headers=auth("ops"))
    assert r.status_code == 200
    page1 = r.json()
    assert page1["total"] == 3 and len(page1["items"]) == 2 and page1["page"] == 1
    page2 = (await api.get("/api/v1/orders", params={"status": "fulfilling", "page_size": 2,
                                                     "page": 2}, headers=auth("ops"))).json()
    assert len(page2["items"]) == 1
    seen = {o["order_no"] for o in page1["items"] + page2["items"]}
    assert seen == {"L-0", "L-1", "L-2"}
    awaiting = (await api.get("/api/v1/orders?status=awaiting_payment",
                              headers=auth("finance"))).json()
    assert [o["order_no"] for o in awaiting["items"]] == ["L-9"]
    by_customer = (await api.get("/api/v1/orders?customer_id=c-1", headers=auth("cs"))).json()
    assert [o["order_no"] for o in by_customer["items"]] == ["L-1"]
    assert (await api.get("/api/v1/orders?page=0", headers=auth("ops"))).status_code == 422
    assert (await api.get("/api/v1/orders?page_size=1000",
                          headers=auth("ops"))).status_code == 422


async def test_order_view_carries_what_users_need(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await place(api)
    o = await wait_order(api, no, "awaiting_payment")
    for key in ("items", "payments", "shipments", "refunds", "returns", "complaints", "kpi",
                "timeline", "tasks", "shipping_address", "customer", "temporal_url"):
        assert key in o, key
    assert o["items"] == [
        {"sku": "TEA", "name": "Product TEA", "quantity": 2, "unit_price": 68.0, "amount": 136.0},
        {"sku": "CUP", "name": "Product CUP", "quantity": 1, "unit_price": 25.5, "amount": 25.5}]
    assert o["total"] == TOTAL and o["currency"] == "CNY"
    assert o["temporal_url"].endswith("/workflows/order-WEB-1001")
    assert o["kpi"]["received_at"] == o["created_at"]
    spec = (await api.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/api/v1/orders", "/api/v1/orders/{order_no}",
                 "/api/v1/orders/{order_no}/payments", "/api/v1/orders/{order_no}/cancel",
                 "/api/v1/orders/{order_no}/invoice", "/api/v1/shipments/{tracking_no}/events"):
        assert path in paths, path
    assert "Idempotency-Key" in str(paths["/api/v1/orders"]["post"]["parameters"])


async def test_shipping_fee_is_part_of_the_total_and_the_invoice(
        api: httpx.AsyncClient, catalogue: None) -> None:
    r = await post_order(api, order_body(order_no="FEE-1", method="cod", shipping_fee=12))
    assert r.status_code == 201 and r.json()["total"] == TOTAL + 12
    assert (await post_order(api, order_body(order_no="FEE-2", shipping_fee=-1))).status_code \
        == 422
    task = await open_task(api, "FEE-1", "order.fulfil")
    assert task["context"]["collect_on_delivery"] == f"{TOTAL + 12:.2f}"
    await complete(api, task, "shipped", courier="SF Express", tracking_no="FEE1")
    await api.post("/api/v1/shipments/FEE1/events", headers=auth("warehouse"),
                   json={"type": "delivered"})
    o = await wait_order(api, "FEE-1", "completed")
    assert o["shipping_fee"] == 12 and o["paid_amount"] == TOTAL + 12
    invoice = await api.get("/api/v1/orders/FEE-1/invoice", headers=auth("finance"))
    assert "Shipping" in invoice.text and "173.50" in invoice.text
