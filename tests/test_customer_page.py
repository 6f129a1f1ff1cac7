"""Customer service starts from a customer (issue 17.6, part): ``GET /api/v1/customers/{id}/
cases`` and the customer page (profile, tags, credit rating, birthday, every case of theirs the
role may read, a complaint, a return or a sample request started from it)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.db import session_scope
from shopflow.models import Customer
from tests import test_search
from tests.helpers import auth
from tests.scenes import delivered_order
from tests.test_ui_pages import csrf_of, sign_in

pytestmark = pytest.mark.asyncio
shop, http = test_search.shop, test_search.http  # the fixtures: two customers and their cases


async def test_every_case_of_a_customer_that_the_role_may_read(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/v1/customers/c-wang/cases", headers=auth("cs"))
    assert r.status_code == 200, r.text
    assert [(c["kind"], c["id"]) for c in r.json()["items"]] == [
        ("sample", "a1b2c3d4e5f6"), ("followup", "followup-SO-1"), ("complaint", "k-1"),
        ("return", "r-1"), ("order", "SO-1")]  # newest first
    finance = await http.get("/api/v1/customers/c-wang/cases", headers=auth("finance"))
    assert [c["id"] for c in finance.json()["items"]] == ["r-1", "SO-1"]
    paged = await http.get("/api/v1/customers/c-wang/cases", params={"page_size": 2, "page": 3},
                           headers=auth("ops"))
    assert (paged.json()["total"], [c["id"] for c in paged.json()["items"]]) == (5, ["SO-1"])
    for path, who, status in (("/api/v1/customers/c-wang/cases", "warehouse", 403),
                              ("/api/v1/customers/c-wang/cases", "channel", 403),
                              ("/api/v1/customers/nobody/cases", "cs", 404),
                              ("/api/v1/customers/c-wang/cases?page_size=0", "cs", 422)):
        r = await http.get(path, headers=auth(who))
        assert r.status_code == status, (path, who, r.text)
    assert (await http.get("/api/v1/customers/c-wang/cases")).status_code == 401
    assert "/api/v1/customers/{customer_id}/cases" in (await http.get("/openapi.json")).json()[
        "paths"]


async def test_customer_service_starts_from_the_customer_page(http: httpx.AsyncClient,
                                                              engine: Engine) -> None:
    with session_scope(engine) as s:
        c = s.get(Customer, "c-wang")
        assert c is not None
        c.birthday, c.credit_rating = date(1988, 5, 20), "A"
        s.add(c)
    await sign_in(http, "dev-cs")
    found = await http.get("/ui/search", params={"q": "Wang Fang"})
    assert 'href="/ui/customers/c-wang"' in found.text
    page = await http.get("/ui/customers/c-wang")
    assert page.status_code == 200
    for text in ("西湖茶社 West Lake Tea", "139 0000 1234", "1988-05-20", "key_account",
                 'data-testid="credit-rating">A<', 'href="/ui/cases/complaint/k-1"',
                 'href="/ui/cases/sample/a1b2c3d4e5f6"', 'href="/ui/samples/new?customer=c-wang"'):
        assert text in page.text, text
    form = await http.get("/ui/samples/new", params={"customer": "c-wang"})
    assert 'name="customer.name" value="王芳 Wang Fang"' in form.text
    assert 'name="customer.phone" value="139 0000 1234"' in form.text
    assert (await http.get("/ui/customers/nobody")).status_code == 404
    case = await http.get("/ui/cases/order/SO-1")
    assert 'href="/ui/customers/c-wang"' in case.text


async def test_the_customer_page_is_for_the_roles_that_read_profiles(
        http: httpx.AsyncClient) -> None:
    await sign_in(http, "dev-warehouse")
    assert (await http.get("/ui/customers/c-wang")).status_code == 403
    case = await http.get("/ui/cases/order/SO-1")
    assert case.status_code == 200 and "/ui/customers/" not in case.text


async def test_customer_service_files_a_complaint_from_the_customer_page(
        api: httpx.AsyncClient) -> None:
    r = await api.put("/api/v1/customers/c-9", headers=auth("cs"),
                      json={"name": "赵敏 Zhao Min", "phone": "137 1111 2222"})
    assert r.status_code == 200, r.text
    await sign_in(api, "dev-cs")
    page = await api.get("/ui/customers/c-9")
    assert 'href="/ui/complaints/new?customer=c-9"' in page.text
    form = await api.get("/ui/complaints/new", params={"customer": "c-9"})
    assert 'name="customer.name" value="赵敏 Zhao Min"' in form.text
    base = {"csrf_token": csrf_of(form.text), "request_key": "k-complaint-1",
            "customer.id": "c-9", "customer.name": "赵敏 Zhao Min", "category": "service",
            "channel": "phone", "description": "两次来电无人接听 nobody answered twice"}
    r = await api.post("/ui/complaints/new", data={**base, "description": " "})
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text
    r = await api.post("/ui/complaints/new", data={**base, "order_no": "NO-SUCH"})
    assert r.status_code == 422 and "no order NO-SUCH" in r.text
    r = await api.post("/ui/complaints/new", data=base)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/ui/cases/complaint/") and location.endswith("?note=created")
    again = await api.post("/ui/complaints/new", data=base)  # a double submit: the same case
    assert again.headers["location"] == location
    cases = await api.get("/api/v1/customers/c-9/cases", headers=auth("cs"))
    assert [c["kind"] for c in cases.json()["items"]] == ["complaint"]


async def test_only_channel_and_cs_file_complaints_from_the_pages(
        http: httpx.AsyncClient) -> None:
    await sign_in(http, "dev-warehouse")
    assert (await http.get("/ui/complaints/new")).status_code == 403


async def test_customer_service_asks_for_a_return_from_the_customer_page(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api, "RET-1", customer_id="c-7")
    await sign_in(api, "dev-cs")
    page = await api.get("/ui/customers/c-7")
    assert f'href="/ui/returns/new?order_no={no}"' in page.text
    form = await api.get("/ui/returns/new", params={"order_no": no})
    assert form.status_code == 200 and "TEA" in form.text and "CUP" in form.text
    action = f"/ui/returns/new?order_no={no}"
    base = {"csrf_token": csrf_of(form.text), "request_key": "k-return-1", "kind": "refund",
            "category": "quality", "quality_issue": "true", "reason": "杯子有裂纹 the cup is cracked",
            "items.0.quantity": "", "items.1.quantity": "1"}
    r = await api.post(action, data={**base, "items.1.quantity": "", "reason": ""})
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text
    r = await api.post(action, data={**base, "items.1.quantity": "3"})  # 1 was delivered
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text  # at the items
    r = await api.post(action, data=base)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/ui/cases/return/")
    cases = await api.get("/api/v1/customers/c-7/cases", headers=auth("cs"))
    assert "return" in [c["kind"] for c in cases.json()["items"]]
    assert (await api.get("/ui/returns/new", params={"order_no": "NOPE"})).status_code == 404
