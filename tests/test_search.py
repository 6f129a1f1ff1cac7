"""Find anything (issue 17.3): ``GET /api/v1/search?q=`` and the header's search page find a
customer by name, phone, e-mail or company, an order by its number (with its return, complaint
and follow-up), a parcel by tracking number, every case holding a SKU, a case by id; each role
finds only what its case lists show; bad input is a 4xx naming ``q``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.api.auth import create_token
from shopflow.db import session_scope
from shopflow.models import (
    Case,
    CaseChannel,
    Complaint,
    Customer,
    Order,
    OrderLine,
    Product,
    Return,
    Shipment,
)
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from tests.helpers import app_for, auth
from tests.test_ui_pages import sign_in

pytestmark = pytest.mark.asyncio


def case_row(case_id: str, kind: str, customer_id: str, minutes_ago: int,
             **data: Any) -> Case:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return Case(id=case_id, kind=kind, workflow_id=f"{kind}-{case_id}", status="open",
                stage="review", customer_id=customer_id, created_at=at, updated_at=at,
                data={"customer": {"id": customer_id, "name": "王芳 Wang Fang"}, **data})


@pytest.fixture
def shop(engine: Engine) -> None:
    """Two customers; Wang Fang's web order SO-1 (TEA, parcel SF900111) with a return, a
    complaint and a follow-up; a sample with a CUP in its data, shipped as YT7788; Li Wei's
    phone order SO-2 (CUP)."""
    now = utcnow()
    with session_scope(engine) as s:
        s.add(Customer(id="c-wang", name="王芳 Wang Fang", company="西湖茶社 West Lake Tea",
                       email="fang@example.com", phone="139 0000 1234", tags=["key_account"]))
        s.add(Customer(id="c-li", name="Li Wei", email="li@example.com", phone="138-0000-9999"))
        s.add(Product(sku="TEA", name="Longjing tea"))
        s.add(Product(sku="CUP", name="Celadon cup"))
        s.flush()
        for no, cust, channel, sku in (("SO-1", "c-wang", "web", "TEA"),
                                       ("SO-2", "c-li", "phone", "CUP")):
            s.add(Order(order_no=no, customer_id=cust, channel=channel, workflow_id=f"order-{no}"))
            s.flush()
            s.add(OrderLine(order_no=no, line_no=1, sku=sku, quantity=1))
        s.add(case_row("SO-1", "order", "c-wang", 50, channel="web"))
        s.add(case_row("SO-2", "order", "c-li", 40, channel="phone"))
        s.add(Shipment(tracking_no="SF900111", courier="SF", order_no="SO-1", case_id="SO-1",
                       workflow_id="order-SO-1", shipped_at=now))
        s.add(case_row("r-1", "return", "c-wang", 30))
        s.add(Return(id="r-1", workflow_id="return-r-1", order_no="SO-1", customer_id="c-wang",
                     kind="refund", reason="broken"))
        s.add(case_row("k-1", "complaint", "c-wang", 20))
        s.add(Complaint(id="k-1", workflow_id="complaint-k-1", customer_id="c-wang",
                        order_no="SO-1", category="quality"))
        s.add(case_row("followup-SO-1", "followup", "c-wang", 10))
        s.add(case_row("a1b2c3d4e5f6", "sample", "c-wang", 5, channel="email",
                       items=[{"sku": "CUP", "requested_quantity": 2}],
                       shipment={"courier": "YTO", "tracking_no": "YT7788"}))
        s.add(CaseChannel(case_id="a1b2c3d4e5f6", channel="email", created_by="dev-channel",
                          created_at=now))


@pytest.fixture
async def http(settings: Settings, engine: Engine, shop: None) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as client:
        yield client


async def find(http: httpx.AsyncClient, q: str, who: str | dict[str, str] = "cs",
               **params: Any) -> dict[str, list[str]]:
    """The hits as ``{"case:SO-1": [matched …]}``."""
    headers = auth(who) if isinstance(who, str) else who
    r = await http.get("/api/v1/search", params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return {f"{h['kind'] if h['type'] == 'case' else h['type']}:{h['id']}": h["matched"]
            for h in r.json()["items"]}


async def test_a_customer_is_found_by_name_phone_email_and_company_with_every_case(
        http: httpx.AsyncClient) -> None:
    by_name = await find(http, "wang fang")
    assert by_name["customer:c-wang"] == ["name"]
    assert {k for k, v in by_name.items() if v == ["customer"]} == {
        "order:SO-1", "return:r-1", "complaint:k-1", "followup:followup-SO-1",
        "sample:a1b2c3d4e5f6"}
    assert "customer:c-li" not in by_name and "order:SO-2" not in by_name
    assert (await find(http, "13900001234"))["customer:c-wang"] == ["phone"]
    assert (await find(http, "0000-9999"))["customer:c-li"] == ["phone"]
    assert (await find(http, "FANG@EXAMPLE"))["customer:c-wang"] == ["email"]
    assert (await find(http, "西湖茶社"))["customer:c-wang"] == ["company"]


async def test_an_order_no_finds_the_order_and_its_return_complaint_and_follow_up(
        http: httpx.AsyncClient) -> None:
    hits = await find(http, "so-1")
    assert hits["order:SO-1"] == ["case_id"]
    assert hits["return:r-1"] == hits["complaint:k-1"] == ["order_no"]
    assert "order_no" in hits["followup:followup-SO-1"]
    assert "order:SO-2" not in hits


async def test_tracking_numbers_skus_and_case_ids_find_their_cases(
        http: httpx.AsyncClient) -> None:
    assert (await find(http, "sf900111")) == {"order:SO-1": ["tracking_no"]}
    assert (await find(http, "YT7788")) == {"sample:a1b2c3d4e5f6": ["tracking_no"]}
    cup = await find(http, "CUP")
    assert cup["product:CUP"] == ["sku"]
    assert cup["order:SO-2"] == ["sku"] and cup["sample:a1b2c3d4e5f6"] == ["sku"]
    assert "order:SO-1" not in cup
    assert (await find(http, "a1b2c3d4e5f6")) == {"sample:a1b2c3d4e5f6": ["case_id"]}


async def test_each_role_finds_only_what_its_case_lists_show(
        http: httpx.AsyncClient, engine: Engine) -> None:
    finance = await find(http, "Wang", "finance")  # no samples, complaints, follow-ups
    assert {k for k in finance if not k.startswith(("customer:", "product:"))} == {
        "order:SO-1", "return:r-1"}
    warehouse = await find(http, "Wang", "warehouse")  # no customer profiles
    assert "customer:c-wang" not in warehouse and "sample:a1b2c3d4e5f6" in warehouse
    web = {"Authorization": f"Bearer {create_token(engine, 'channel', 'shop-web', channels=['web'])}"}
    assert set(await find(http, "Wang", web)) == {"order:SO-1", "return:r-1",
                                                  "followup:followup-SO-1"}
    assert await find(http, "YT7788", web) == {}  # the e-mail channel's sample
    assert "complaint:k-1" in await find(http, "Wang", "ops")


async def test_bad_search_input_is_a_4xx_naming_q(http: httpx.AsyncClient) -> None:
    for params in ({}, {"q": "a"}, {"q": "  "}, {"q": "x" * 101},
                   {"q": "tea", "page_size": "0"}):
        r = await http.get("/api/v1/search", params=params, headers=auth("cs"))
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
        locs = [d["loc"][-1] for d in r.json()["error"]["details"]]
        assert locs == (["page_size"] if "page_size" in params else ["q"]), r.text
    assert (await http.get("/api/v1/search", params={"q": "tea"})).status_code == 401
    nul = await http.get("/api/v1/search", params={"q": "SO-\x001"}, headers=auth("cs"))
    assert nul.status_code in (200, 422), nul.text  # PostgreSQL refuses NUL in text: never 500
    odd = await http.get("/api/v1/search", params={"q": "%_\\'\"; drop"}, headers=auth("cs"))
    assert odd.status_code == 200 and odd.json()["total"] == 0
    assert "/api/v1/search" in (await http.get("/openapi.json")).json()["paths"]


async def test_the_header_search_box_leads_to_a_results_page(http: httpx.AsyncClient) -> None:
    await sign_in(http, "dev-cs")
    inbox = await http.get("/ui/inbox")
    assert 'action="/ui/search"' in inbox.text
    page = await http.get("/ui/search", params={"q": "SO-1"})
    assert page.status_code == 200
    assert 'href="/ui/cases/order/SO-1"' in page.text and 'href="/ui/cases/return/r-1"' in page.text
    assert 'data-hit="customer:c-wang"' not in page.text
    empty = await http.get("/ui/search", params={"q": "nothing-like-it"})
    assert 'data-testid="search-empty"' in empty.text
    short = await http.get("/ui/search", params={"q": "x"})
    assert short.status_code == 200 and "at least 2" in short.text
