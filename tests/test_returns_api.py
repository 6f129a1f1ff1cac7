"""The return routes: who may call them (401/403), what they refuse (404, 409, and 422 with the
contract's codes, nothing started) and what they answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import auth, complete, open_task
from tests.scenes import delivered_order, place, ship
from tests.test_returns_process import approve, request_return, wait_return

pytestmark = pytest.mark.asyncio


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]  # type: ignore[no-any-return]


def body(**overrides: Any) -> dict[str, Any]:
    return {"order_no": "WEB-1", "items": [{"sku": "TEA", "quantity": 1}], "kind": "refund",
            "reason": "not as described", "quality_issue": False, **overrides}


async def test_every_return_route_needs_a_token(api: httpx.AsyncClient) -> None:
    for method, path, payload in [
        ("POST", "/api/v1/returns", body()),
        ("GET", "/api/v1/returns", None),
        ("GET", "/api/v1/returns/RT-1", None),
        ("POST", "/api/v1/returns/RT-1/shipment", {"courier": "ZTO", "tracking_no": "Z1"}),
        ("POST", "/api/v1/returns/RT-1/received", None),
        ("POST", "/api/v1/returns/RT-1/cancel", {"reason": "x"}),
        ("GET", "/api/v1/returns/RT-1/packing-slip", None),
    ]:
        r = await api.request(method, path, json=payload)
        assert r.status_code == 401 and code(r) == "unauthorized", (method, path)


async def test_roles_are_enforced(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 1}, kind="exchange", role="cs")
    for role, method, path, payload in [
        ("warehouse", "POST", "/api/v1/returns", body(order_no=no)),
        ("finance", "POST", "/api/v1/returns", body(order_no=no)),
        ("warehouse", "POST", f"/api/v1/returns/{rid}/shipment",
         {"courier": "ZTO", "tracking_no": "Z1"}),
        ("channel", "POST", f"/api/v1/returns/{rid}/received", None),
        ("cs", "POST", f"/api/v1/returns/{rid}/received", None),
        ("warehouse", "POST", f"/api/v1/returns/{rid}/cancel", {"reason": "x"}),
        ("finance", "POST", f"/api/v1/returns/{rid}/cancel", {"reason": "x"}),
        ("channel", "GET", f"/api/v1/returns/{rid}/packing-slip", None),
    ]:
        r = await api.request(method, path, json=payload, headers=auth(role))
        assert r.status_code == 403 and code(r) == "forbidden", (role, method, path)
    for role in ("channel", "cs", "reviewer", "warehouse", "finance", "ops", "admin"):
        assert (await api.get(f"/api/v1/returns/{rid}", headers=auth(role))).status_code == 200
    review = await open_task(api, rid, "return.review")
    assert (await complete(api, review, "approve", role="warehouse")).status_code == 403


async def test_unknown_return_is_404(api: httpx.AsyncClient) -> None:
    for method, path, payload, role in [
        ("GET", "/api/v1/returns/RT-NOPE", None, "ops"),
        ("POST", "/api/v1/returns/RT-NOPE/shipment", {"courier": "Z", "tracking_no": "Z1"},
         "channel"),
        ("POST", "/api/v1/returns/RT-NOPE/received", None, "warehouse"),
        ("POST", "/api/v1/returns/RT-NOPE/cancel", {"reason": "x"}, "cs"),
        ("GET", "/api/v1/returns/RT-NOPE/packing-slip", None, "warehouse"),
    ]:
        r = await api.request(method, path, json=payload, headers=auth(role))
        assert r.status_code == 404 and code(r) == "not_found", (method, path)


async def test_each_refusal_code_and_nothing_started(api: httpx.AsyncClient,
                                                     catalogue: None) -> None:
    no = await delivered_order(api, days_ago=9)
    await place(api, order_no="OPEN-1", method="cod", customer_id="c-2")
    await ship(api, "OPEN-1", tracking="T-OPEN")
    for payload, status, expected in [
        (body(order_no="NOPE"), 422, "unknown_order"),
        (body(order_no="OPEN-1"), 422, "not_delivered"),
        (body(order_no=no), 422, "outside_return_window"),
        (body(order_no=no, quality_issue=True, items=[{"sku": "TEA", "quantity": 3}]), 422,
         "quantity_exceeds_order"),
        (body(order_no=no, quality_issue=True, items=[{"sku": "POT", "quantity": 1}]), 422,
         "quantity_exceeds_order"),
        (body(order_no=no, quality_issue=True, items=[{"sku": "TEA", "quantity": 1},
                                                      {"sku": "TEA", "quantity": 1}]), 422,
         "duplicate_sku"),
        (body(order_no=no, reason=""), 422, "invalid_input"),
        (body(order_no=no, reason="   "), 422, "invalid_input"),
        ({k: v for k, v in body(order_no=no).items() if k != "reason"}, 422, "invalid_input"),
        (body(order_no=no, items=[]), 422, "invalid_input"),
        (body(order_no=no, items=[{"sku": "TEA", "quantity": 0}]), 422, "invalid_input"),
        (body(order_no=no, kind="swap"), 422, "invalid_input"),
        (body(order_no=no, evidence=["not a url"]), 422, "invalid_input"),
        (body(order_no=no, colour="red"), 422, "invalid_input"),
    ]:
        r = await api.post("/api/v1/returns", headers=auth("channel"), json=payload)
        assert r.status_code == status and code(r) == expected, (payload, r.text)
    listed = (await api.get("/api/v1/returns", headers=auth("ops"))).json()
    assert listed["total"] == 0
    tasks = (await api.get("/api/v1/tasks", params={"kind": "return.review"},
                           headers=auth("ops"))).json()
    assert tasks["total"] == 0


async def test_idempotency_key_on_a_return_request(api: httpx.AsyncClient,
                                                   catalogue: None) -> None:
    no = await delivered_order(api)
    headers = {**auth("cs"), "Idempotency-Key": "ret-1"}
    first = await api.post("/api/v1/returns", headers=headers, json=body(order_no=no))
    again = await api.post("/api/v1/returns", headers=headers, json=body(order_no=no))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and first.json()["id"].startswith("RT-")
    other = await api.post("/api/v1/returns", headers=headers,
                           json=body(order_no=no, reason="changed"))
    assert other.status_code == 409 and code(other) == "idempotency_key_reused"
    assert (await api.get("/api/v1/returns", headers=auth("ops"))).json()["total"] == 1


async def test_state_conflicts_are_409(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 1})
    early = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                           json={"courier": "ZTO", "tracking_no": "Z1"})
    assert early.status_code == 409 and code(early) == "not_awaiting_parcel"
    early_in = await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"))
    assert early_in.status_code == 409
    slip = await api.get(f"/api/v1/returns/{rid}/packing-slip", headers=auth("warehouse"))
    assert slip.status_code == 409 and code(slip) == "not_an_exchange"
    await approve(api, rid)
    for payload in ({"courier": "", "tracking_no": "Z1"}, {"courier": "ZTO"},
                    {"courier": "ZTO", "tracking_no": "bad number"}):
        r = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                           json=payload)
        assert r.status_code == 422, payload
    taken = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                           json={"courier": "SF", "tracking_no": f"T-{no}"})
    assert taken.status_code == 409 and code(taken) == "tracking_no_in_use"
    ok = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("cs"),
                        json={"courier": "ZTO", "tracking_no": "Z1"})
    assert ok.status_code == 200 and ok.json()["parcel"]["tracking_no"] == "Z1"
    same = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                          json={"courier": "ZTO", "tracking_no": "Z1"})
    assert same.status_code == 200
    other = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                           json={"courier": "ZTO", "tracking_no": "Z2"})
    assert other.status_code == 409 and code(other) == "parcel_already_recorded"
    assert (await api.post(f"/api/v1/returns/{rid}/received",
                           headers=auth("warehouse"))).status_code == 200
    twice = await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"))
    assert twice.status_code == 409
    cancel = await api.post(f"/api/v1/returns/{rid}/cancel", headers=auth("cs"))
    assert cancel.status_code == 409 and code(cancel) == "parcel_arrived"
    task = await open_task(api, rid, "return.inspection")
    for decision, data in [("approve", {}), ("pass", {"lines": "all"}),
                           ("pass", {"lines": [{"sku": "CUP", "result": "pass"}]}),
                           ("pass", {"lines": [{"sku": "TEA", "result": "maybe"}]}),
                           ("pass", {"lines": [{"sku": "TEA", "result": "fail",
                                                "notes": "x"}]})]:
        r = await complete(api, task, decision, **data)
        assert r.status_code == 422, (decision, data, r.text)


async def test_list_filters_by_status_reason_and_customer(api: httpx.AsyncClient,
                                                          catalogue: None) -> None:
    a = await delivered_order(api, no="A-1", customer_id="c-a")
    b = await delivered_order(api, no="B-1", customer_id="c-b")
    ra = await request_return(api, a, {"TEA": 1}, reason="Leaking lid")
    rb = await request_return(api, b, {"CUP": 1}, reason="wrong colour", kind="exchange")
    await approve(api, rb)

    async def ids(**params: Any) -> list[str]:
        r = await api.get("/api/v1/returns", params=params, headers=auth("ops"))
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["items"]]

    assert sorted(await ids()) == sorted([ra, rb])
    assert await ids(status="approved") == [rb]
    assert await ids(status="requested") == [ra]
    assert await ids(reason="leaking") == [ra]
    assert await ids(customer_id="c-b") == [rb]
    assert await ids(kind="exchange") == [rb]
    assert await ids(order_no="A-1") == [ra]
    page = (await api.get("/api/v1/returns", params={"page_size": 1},
                          headers=auth("cs"))).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert (await api.get("/api/v1/returns?kind=swap", headers=auth("ops"))).status_code == 422
    await wait_return(api, rb, "approved")
