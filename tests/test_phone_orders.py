"""Customer service keys in phone and e-mail orders (issue 17.6, issue 18 "Orders and sales";
seed 002 第四章, 003 第七条): products carry price, specification and origin; an order line
without a price takes the catalogue's; cs may ``POST /orders`` for the channels phone and email
only; the order form is filled from the customer's page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import auth
from tests.scenes import order_body
from tests.test_ui_pages import csrf_of, sign_in

pytestmark = pytest.mark.asyncio


async def _priced(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/products", headers=auth("admin"), json={
        "sku": "TEA", "name": "龙井 Longjing", "price": "168.00", "specification": "250 g tin",
        "origin": "杭州 Hangzhou"})
    assert r.status_code == 201, r.text
    assert r.json() | {} == {"sku": "TEA", "name": "龙井 Longjing", "sample_limit": 0,
                             "returnable": True, "price": 168.0,
                             "specification": "250 g tin", "origin": "杭州 Hangzhou"}
    r = await api.post("/api/v1/products", headers=auth("admin"),
                       json={"sku": "CUP", "name": "Cup"})
    assert r.status_code == 201 and r.json()["price"] is None
    for sku in ("TEA", "CUP"):
        r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                           json={"sku": sku, "quantity": 10})
        assert r.status_code == 201, r.text


def _phone(**overrides: Any) -> dict[str, Any]:
    return order_body(**{"order_no": None, "channel": "phone",
                         "items": [{"sku": "TEA", "quantity": 2}], **overrides})


async def test_the_catalogue_carries_price_specification_and_origin(
        api: httpx.AsyncClient) -> None:
    await _priced(api)
    again = await api.post("/api/v1/products", headers=auth("admin"), json={
        "sku": "TEA", "name": "龙井 Longjing", "price": "170", "specification": "250 g tin",
        "origin": "杭州 Hangzhou"})
    assert again.status_code == 409  # another price is another product: PATCH changes it
    r = await api.patch("/api/v1/products/CUP", headers=auth("admin"),
                        json={"price": "45.5", "origin": "龙泉 Longquan"})
    assert r.status_code == 200, r.text
    assert (r.json()["price"], r.json()["origin"], r.json()["name"]) == (45.5, "龙泉 Longquan",
                                                                        "Cup")
    listed = (await api.get("/api/v1/products", headers=auth("cs"))).json()["items"]
    assert [(p["sku"], p["price"]) for p in listed] == [("CUP", 45.5), ("TEA", 168.0)]
    for body, field in (({"price": "-1"}, "price"), ({"price": "1.234"}, "price"),
                        ({"name": ""}, "name"), ({"colour": "red"}, "colour")):
        r = await api.patch("/api/v1/products/CUP", headers=auth("admin"), json=body)
        assert r.status_code == 422 and field in r.text, (body, r.text)
    assert (await api.patch("/api/v1/products/NOPE", headers=auth("admin"),
                            json={"price": 1})).status_code == 404
    assert (await api.patch("/api/v1/products/CUP", headers=auth("cs"),
                            json={"price": 1})).status_code == 403
    r = await api.patch("/api/v1/products/CUP", headers=auth("admin"), json={"price": None})
    assert r.status_code == 200 and r.json()["price"] is None


async def test_customer_service_keys_in_a_phone_order_at_catalogue_prices(
        api: httpx.AsyncClient) -> None:
    await _priced(api)
    r = await api.post("/api/v1/orders", headers=auth("cs"), json=_phone())
    assert r.status_code == 201, r.text
    assert r.json()["total"] == 336.0  # 2 × the catalogue's 168.00
    order = (await api.get(f"/api/v1/orders/{r.json()['order_no']}", headers=auth("cs"))).json()
    assert order["channel"] == "phone"
    assert [(i["sku"], i["unit_price"]) for i in order["items"]] == [("TEA", 168.0)]
    # a channel still sends its own price
    own = order_body(order_no="WEB-7", items=[{"sku": "TEA", "quantity": 1, "unit_price": 99}])
    r = await api.post("/api/v1/orders", headers=auth("channel"), json=own)
    assert r.status_code == 201 and r.json()["total"] == 99.0
    r = await api.post("/api/v1/orders", headers=auth("cs"),
                       json=_phone(channel="email", order_no="MAIL-1"))
    assert r.status_code == 201, r.text


async def test_phone_order_refusals_name_the_field_and_start_nothing(
        api: httpx.AsyncClient) -> None:
    await _priced(api)
    r = await api.post("/api/v1/orders", headers=auth("cs"), json=_phone(channel="tmall"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "channel_not_allowed", r.text
    assert r.json()["error"]["details"]["loc"] == ["body", "channel"]
    r = await api.post("/api/v1/orders", headers=auth("cs"), json=_phone(
        items=[{"sku": "TEA", "quantity": 1}, {"sku": "CUP", "quantity": 1}]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_price", r.text
    assert r.json()["error"]["details"]["loc"] == ["body", "items", 1, "unit_price"]
    assert (await api.get("/api/v1/orders", headers=auth("ops"))).json()["total"] == 0
    for role in ("warehouse", "finance", "reviewer"):
        r = await api.post("/api/v1/orders", headers=auth(role), json=_phone())
        assert r.status_code == 403, role


async def test_customer_service_files_a_phone_order_from_the_customer_page(
        api: httpx.AsyncClient) -> None:
    await _priced(api)
    r = await api.put("/api/v1/customers/c-5", headers=auth("cs"), json={
        "name": "陈静 Chen Jing", "phone": "136 2222 3333", "address": "杭州市西湖区 1 号"})
    assert r.status_code == 200, r.text
    await sign_in(api, "dev-cs")
    page = await api.get("/ui/customers/c-5")
    assert 'href="/ui/orders/new?customer=c-5"' in page.text
    form = await api.get("/ui/orders/new", params={"customer": "c-5"})
    assert form.status_code == 200
    for text in ('name="customer.name" value="陈静 Chen Jing"',
                 'name="address.line1" value="杭州市西湖区 1 号"', '<option value="phone" selected',
                 '<option value="email"', "¥168.00", "250 g tin", "杭州 Hangzhou"):
        assert text in form.text, text
    assert '<option value="tmall"' not in form.text
    data = {"csrf_token": csrf_of(form.text), "request_key": "k-phone-1", "channel": "phone",
            "customer.id": "c-5", "customer.name": "陈静 Chen Jing",
            "customer.phone": "136 2222 3333", "items.0.sku": "TEA", "items.0.quantity": "3",
            "items.0.unit_price": "", "address.line1": "西湖区 1 号", "address.city": "杭州",
            "payment_method": "cod"}
    r = await api.post("/ui/orders/new", data={**data, "items.0.sku": "CUP"})
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text  # CUP has no price
    r = await api.post("/ui/orders/new", data=data)
    assert r.status_code == 303, r.text
    no = r.headers["location"].split("/")[-1].split("?")[0]
    order = (await api.get(f"/api/v1/orders/{no}", headers=auth("cs"))).json()
    assert (order["total"], order["channel"], order["customer_id"]) == (504.0, "phone", "c-5")
    again = await api.post("/ui/orders/new", data=data)  # a double submit: the same order
    assert again.headers["location"] == r.headers["location"]
