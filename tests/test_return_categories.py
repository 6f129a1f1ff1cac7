"""Return reason categories (seeds 001, 003): a missing item (漏发) sends nothing back and is
refunded or reshipped; a product that is not returnable comes back only with a fault; the
categories are what the case, the list and the KPIs show. API, worker with real activities,
time-skipping Temporal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice, Return
from tests.helpers import (
    auth,
    case,
    complete,
    eventually,
    make_product,
    open_task,
    record_history,
    stock,
)
from tests.scenes import delivered_order
from tests.test_returns_process import ask, levels, notices, request_return, wait_return

pytestmark = pytest.mark.asyncio


async def tasks_of(api: httpx.AsyncClient, rid: str) -> list[str]:
    return sorted(t["kind"] for t in (await case(api, f"/api/v1/returns/{rid}"))["tasks"])


async def test_a_missing_item_is_refunded_with_no_parcel_back(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    no = await delivered_order(api)
    before = await levels(api, "CUP")
    rid = await request_return(api, no, {"CUP": 1}, reason="only the teapot was in the box",
                               category="missing_item")
    r = await case(api, f"/api/v1/returns/{rid}")
    assert (r["category"], r["quality_issue"]) == ("missing_item", False)
    assert r["policy"]["return_shipping_paid_by"] == "shop"
    review = await open_task(api, rid, "return.review")
    assert review["context"]["category"] == "missing_item"
    assert (await complete(api, review, "approve")).status_code == 200

    refund = await open_task(api, rid, "return.refund")
    assert refund["context"]["proposed"] == "25.50"  # the missing cup, no shipping
    r = await case(api, f"/api/v1/returns/{rid}")
    assert (r["status"], r["stage"]) == ("refund_pending", "refund")
    assert r["parcel"] is None and r["kpi"]["approved_at"] and not r["kpi"]["received_at"]
    assert (await complete(api, refund, "refunded", amount=25.5)).status_code == 200
    r = await wait_return(api, rid, "refunded")
    assert r["outcome"] == "refunded" and r["refund_amount"] == 25.5
    assert "return.inspection" not in await tasks_of(api, rid)
    assert await levels(api, "CUP") == before  # nothing came back to the shelf
    await eventually(lambda: "return_refunded" in notices(engine, rid))
    assert notices(engine, rid) == ["return_received", "return_missing_item", "return_refunded"]
    with Session(engine) as s:
        told = s.exec(select(Notice).where(Notice.kind == "return_missing_item")).one()
    assert "漏发" in told.subject and "无需寄回" in told.body_text
    parcel = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                            json={"courier": "ZTO", "tracking_no": "ZT9"})
    assert parcel.status_code == 409  # there is no parcel to send
    await record_history(tenv, f"return-{rid}", "return_missing_item_refund")


async def test_a_missing_item_is_reshipped_as_an_exchange(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 1}, kind="exchange", reason="少发一盒",
                               category="missing_item")
    review = await open_task(api, rid, "return.review")
    assert (await complete(api, review, "approve")).status_code == 200
    fulfil = await open_task(api, rid, "order.fulfil")
    assert [(i["sku"], i["quantity"]) for i in fulfil["context"]["pick_list"]] == [("TEA", 1)]
    r = await complete(api, fulfil, "shipped", courier="SF Express", tracking_no="SFM1")
    assert r.status_code == 200, r.text
    r = await wait_return(api, rid, "exchanged")
    assert r["exchange"]["tracking_no"] == "SFM1" and r["refunds"] == []
    assert (await stock(api, "TEA"))["on_hand"] == 7  # 10 - 2 sold - 1 reshipped
    assert "return.inspection" not in await tasks_of(api, rid)
    await eventually(lambda: "return_exchange_shipped" in notices(engine, rid))


async def test_a_non_returnable_product_comes_back_only_with_a_fault(
        api: httpx.AsyncClient, engine: Engine) -> None:
    r = await api.post("/api/v1/products", headers=auth("admin"), json={
        "sku": "LIP", "name": "Lipstick (opened: not returnable)", "returnable": False})
    assert r.status_code == 201 and r.json()["returnable"] is False
    await make_product(api, "TEA", stock=10)
    await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                   json={"sku": "LIP", "quantity": 5})
    listed = (await api.get("/api/v1/products", headers=auth("ops"))).json()["items"]
    assert {p["sku"]: p["returnable"] for p in listed} == {"LIP": False, "TEA": True}
    again = await api.post("/api/v1/products", headers=auth("admin"), json={
        "sku": "LIP", "name": "Lipstick (opened: not returnable)", "returnable": True})
    assert again.status_code == 409
    no = await delivered_order(api, items=[{"sku": "TEA", "quantity": 1, "unit_price": 68},
                                           {"sku": "LIP", "quantity": 1, "unit_price": 99}])

    for extra in ({"category": "no_reason"}, {}):  # no category and no quality issue: no reason
        r = await ask(api, no, {"TEA": 1, "LIP": 1}, reason="changed my mind", **extra)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "not_returnable" and "LIP" in err["message"]
        assert err["details"]["loc"] == ["body", "items", 1, "sku"]
    with Session(engine) as s:
        assert s.exec(select(Return)).all() == []  # nothing written, nothing started
    plain = await request_return(api, no, {"TEA": 1}, reason="changed my mind")
    faulty = await request_return(api, no, {"LIP": 1}, reason="broken in the box",
                                  category="damaged_in_transit")
    r = await case(api, f"/api/v1/returns/{faulty}")
    assert (r["category"], r["quality_issue"]) == ("damaged_in_transit", True)
    r = await case(api, f"/api/v1/returns/{plain}")
    assert (r["category"], r["quality_issue"]) == ("no_reason", False)

    async def ids(**params: Any) -> list[str]:
        r = await api.get("/api/v1/returns", params=params, headers=auth("ops"))
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["items"]]

    assert await ids(category="damaged_in_transit") == [faulty]
    assert await ids(category="no_reason") == [plain]
    bad = await api.get("/api/v1/returns", params={"category": "mood"}, headers=auth("ops"))
    assert bad.status_code == 422 and "category" in bad.text
    r = await api.get("/api/v1/reports/kpis", headers=auth("ops"))
    assert r.status_code == 200, r.text
    by = r.json()["returns"]["by_reason"]
    assert {k: v["count"] for k, v in by.items() if v["count"]} == {
        "no_reason": 1, "damaged_in_transit": 1}


async def test_a_return_category_is_checked_and_needs_the_right_role(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api)
    r = await ask(api, no, {"TEA": 1}, category="mood")
    assert r.status_code == 422 and "category" in r.text
    r = await ask(api, no, {"TEA": 1}, category="wrong_item", role="warehouse")
    assert r.status_code == 403
    r = await api.post("/api/v1/products", headers=auth("cs"),
                       json={"sku": "X", "name": "x", "returnable": False})
    assert r.status_code == 403
    r = await api.post("/api/v1/products", headers=auth("admin"),
                       json={"sku": "X", "name": "x", "returnable": "sometimes"})
    assert r.status_code == 422 and "returnable" in r.text
    # a wrong item counts against the longer window: the shop's error
    late = await delivered_order(api, no="WEB-20", days_ago=20, customer_id="c-20")
    assert (await ask(api, late, {"TEA": 1}, category="wrong_item")).status_code == 201
    assert (await ask(api, late, {"CUP": 1})).json()["error"]["code"] == "outside_return_window"
