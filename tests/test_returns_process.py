"""Returns and exchanges end to end: API, worker with real activities and the provider
simulators, time-skipping Temporal. Each test walks a return the way the customer, customer
service, the warehouse and finance would, and checks stock and money at every step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shopflow.models import FollowupDue, Notice, Refund, StockMovement
from shopflow.providers import PaymentSimulator, Providers
from shopflow.settings import Settings
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
from tests.scenes import delivered_order, event

pytestmark = pytest.mark.asyncio


async def ask(api: httpx.AsyncClient, order_no: str, items: dict[str, int],
              kind: str = "refund", reason: str = "not as described",
              quality_issue: bool = False, role: str = "channel",
              **extra: Any) -> httpx.Response:
    body = {"order_no": order_no, "items": [{"sku": s, "quantity": q} for s, q in items.items()],
            "kind": kind, "reason": reason, "quality_issue": quality_issue, **extra}
    return await api.post("/api/v1/returns", headers=auth(role), json=body)


async def request_return(api: httpx.AsyncClient, order_no: str, items: dict[str, int],
                         **kwargs: Any) -> str:
    r = await ask(api, order_no, items, **kwargs)
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


async def ret(api: httpx.AsyncClient, rid: str) -> dict[str, Any]:
    return await case(api, f"/api/v1/returns/{rid}")


async def wait_return(api: httpx.AsyncClient, rid: str, status: str) -> dict[str, Any]:
    return await wait_case(api, f"/api/v1/returns/{rid}", lambda r: r["status"] == status)


async def approve(api: httpx.AsyncClient, rid: str) -> dict[str, Any]:
    task = await open_task(api, rid, "return.review")
    r = await complete(api, task, "approve")
    assert r.status_code == 200, r.text
    return await wait_return(api, rid, "approved")


async def send_parcel(api: httpx.AsyncClient, rid: str, tracking: str) -> None:
    r = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                       json={"courier": "ZTO", "tracking_no": tracking})
    assert r.status_code == 200, r.text


async def inspect(api: httpx.AsyncClient, rid: str, decision: str = "pass",
                  **data: Any) -> httpx.Response:
    task = await open_task(api, rid, "return.inspection")
    return await complete(api, task, decision, **data)


def notices(engine: Engine, case_id: str) -> list[str]:
    with Session(engine) as s:
        return [n.kind for n in s.exec(select(Notice).where(Notice.case_id == case_id)
                                       .order_by(Notice.id))]


async def levels(api: httpx.AsyncClient, sku: str) -> dict[str, int]:
    s = await stock(api, sku)
    return {k: s[k] for k in ("on_hand", "reserved", "available", "damaged")}


async def test_refund_happy_path(api: httpx.AsyncClient, catalogue: None, engine: Engine,
                                 tenv: WorkflowEnvironment, providers: Providers) -> None:
    no = await delivered_order(api)
    assert await levels(api, "TEA") == {"on_hand": 8, "reserved": 0, "available": 8,
                                        "damaged": 0}
    rid = await request_return(api, no, {"TEA": 1}, reason="too bitter for us",
                               evidence=["https://img.example.com/1.jpg"])
    r = await ret(api, rid)
    assert r["status"] == "requested" and r["workflow_id"] == f"return-{rid}"
    assert r["policy"]["return_window_days"] == 7 and r["policy"]["ship_timeout_days"] == 7
    assert r["policy"]["return_shipping_paid_by"] == "customer"
    await eventually(lambda: notices(engine, rid) == ["return_received"])

    review = await open_task(api, rid, "return.review")
    ctx = review["context"]
    assert review["role"] == "cs"
    assert ctx["order"]["order_no"] == no and ctx["delivered_at"]
    assert 4 < ctx["days_left_in_window"] <= 5
    assert ctx["customer_returns"] == [] and ctx["customer_orders"] == 1
    assert ctx["return_rate"] == 1.0 and ctx["evidence"] == ["https://img.example.com/1.jpg"]
    assert (await complete(api, review, "approve")).status_code == 200
    await wait_return(api, rid, "approved")
    await eventually(lambda: "return_approved" in notices(engine, rid))
    with Session(engine) as s:
        approved = s.exec(select(Notice).where(Notice.kind == "return_approved")).one()
    assert rid in approved.body_text and "1 Warehouse Rd" in approved.body_text

    await send_parcel(api, rid, "ZT100")
    r = await wait_return(api, rid, "parcel_sent")
    assert r["parcel"]["tracking_no"] == "ZT100" and r["parcel"]["direction"] == "return"
    assert (await event(api, "ZT100", "in_transit")).status_code == 201
    assert (await event(api, "ZT100", "delivered")).status_code == 201
    r = await wait_return(api, rid, "received")
    assert r["stage"] == "inspection" and r["kpi"]["received_at"]

    assert (await inspect(api, rid, "pass")).status_code == 200
    r = await wait_return(api, rid, "refund_pending")
    assert await levels(api, "TEA") == {"on_hand": 9, "reserved": 0, "available": 9,
                                        "damaged": 0}
    with Session(engine) as s:
        moves = s.exec(select(StockMovement).where(StockMovement.reason == "return_restock")).all()
    assert [(m.sku, m.on_hand_delta, m.ref) for m in moves] == [("TEA", 1, f"return {rid}")]

    refund = await open_task(api, rid, "return.refund")
    assert refund["role"] == "finance"
    assert refund["context"]["proposed"] == "68.00"
    assert refund["context"]["refundable"] == "161.50"
    too_much = await complete(api, refund, "refunded", amount=200)
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == \
        "amount_exceeds_refundable"
    lower = await complete(api, refund, "refunded", amount=60)
    assert lower.status_code == 422 and lower.json()["error"]["code"] == "comment_required"
    r2 = await complete(api, refund, "refunded", amount=68)
    assert r2.status_code == 200, r2.text
    r = await wait_return(api, rid, "refunded")
    assert r["outcome"] == "refunded" and r["refund_amount"] == 68
    assert [(x["amount"], x["status"], x["method"]) for x in r["refunds"]] == [
        (68.0, "succeeded", "original")]
    for key in ("requested_at", "approved_at", "parcel_sent_at", "received_at",
                "inspected_at", "refunded_at", "closed_at"):
        assert r["kpi"][key], key
    assert providers.payments.refunded_cents([f"PAY-{no}"]) == 6800
    o = await case(api, f"/api/v1/orders/{no}")
    assert o["refunded_amount"] == 68 and o["paid_amount"] == 161.5
    assert [x["case_id"] for x in o["refunds"]] == [rid]
    assert [(x["id"], x["status"]) for x in o["returns"]] == [(rid, "refunded")]
    await eventually(lambda: "return_refunded" in notices(engine, rid))
    assert notices(engine, rid) == ["return_received", "return_approved", "return_refunded"]
    again = await complete(api, refund, "refunded", amount=68)
    assert again.status_code == 409
    assert len(providers.payments.refunds) == 1
    await record_history(tenv, f"return-{rid}", "return_refund_local")


async def test_exchange_happy_path_with_quality_issue(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    no = await delivered_order(api)
    assert (await levels(api, "CUP"))["on_hand"] == 4
    rid = await request_return(api, no, {"CUP": 1}, kind="exchange", quality_issue=True,
                               reason="cracked glaze")
    r = await approve(api, rid)
    assert r["policy"]["return_shipping_paid_by"] == "shop"
    await eventually(lambda: "return_approved" in notices(engine, rid))
    with Session(engine) as s:
        approved = s.exec(select(Notice).where(Notice.kind == "return_approved")).one()
    assert "运费由我们承担" in approved.body_text  # the customer reads Chinese (the default)
    r = await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"),
                       json={"note": "brought to the shop counter"})
    assert r.status_code == 200, r.text
    await wait_return(api, rid, "received")
    assert (await inspect(api, rid, "pass")).status_code == 200
    # a quality problem goes to the damaged count, not back on the shelf
    fulfil = await open_task(api, rid, "order.fulfil")
    assert await levels(api, "CUP") == {"on_hand": 4, "reserved": 1, "available": 3,
                                        "damaged": 1}
    assert fulfil["role"] == "warehouse" and fulfil["case_kind"] == "return"
    assert fulfil["context"]["return_id"] == rid and fulfil["context"]["exchange"] is True
    assert [(i["sku"], i["quantity"]) for i in fulfil["context"]["pick_list"]] == [("CUP", 1)]
    slip = await api.get(fulfil["context"]["packing_slip_url"], headers=auth("warehouse"))
    assert slip.status_code == 200 and "Product CUP" in slip.text and "Exchange" in slip.text
    r = await complete(api, fulfil, "shipped", courier="SF Express", tracking_no="SFX1")
    assert r.status_code == 200, r.text
    r = await wait_return(api, rid, "exchanged")
    assert r["outcome"] == "exchanged" and r["exchange"]["tracking_no"] == "SFX1"
    assert r["kpi"]["reshipped_at"] and r["refunds"] == []
    assert await levels(api, "CUP") == {"on_hand": 3, "reserved": 0, "available": 3,
                                        "damaged": 1}
    await eventually(lambda: "return_exchange_shipped" in notices(engine, rid))
    r = await wait_case(api, f"/api/v1/returns/{rid}", lambda x: x["followup"] is not None)
    with Session(engine) as s:
        due = s.get(FollowupDue, f"followup-{no}-quality_return")
    assert due is not None and due.source_id == rid and due.status in ("due", "started")
    # the replacement's courier events are still recorded after the case closed
    late = await event(api, "SFX1", "delivered")
    assert late.status_code == 201 and late.json()["shipment_status"] == "delivered"
    o = await case(api, f"/api/v1/orders/{no}")
    assert o["refunded_amount"] == 0
    await record_history(tenv, f"return-{rid}", "return_exchange_quality_local")


async def test_exchange_out_of_stock_converted_to_refund(
        api: httpx.AsyncClient, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=1)
    no = await delivered_order(api, method="cod", shipping_fee=10,
                               items=[{"sku": "CUP", "quantity": 1, "unit_price": 25.5}])
    rid = await request_return(api, no, {"CUP": 1}, kind="exchange", quality_issue=True)
    await approve(api, rid)
    await send_parcel(api, rid, "ZT200")
    await event(api, "ZT200", "delivered")
    assert (await inspect(api, rid, "pass")).status_code == 200
    task = await open_task(api, rid, "return.out_of_stock")
    assert task["role"] == "cs" and task["context"]["stock_available"] == {"CUP": 0}
    await eventually(lambda: "return_out_of_stock" in notices(engine, rid))
    assert (await complete(api, task, "refund")).status_code == 200
    refund = await open_task(api, rid, "return.refund")
    # the goods plus the original shipping for a quality problem; paid cash on delivery
    assert refund["context"]["proposed"] == "35.50"
    assert refund["context"]["refund_method"] == "bank_transfer"
    assert (await complete(api, refund, "refunded", amount=35.5)).status_code == 200
    r = await wait_return(api, rid, "refunded")
    assert [(x["amount"], x["method"], x["status"]) for x in r["refunds"]] == [
        (35.5, "bank_transfer", "transfer_due")]
    assert await levels(api, "CUP") == {"on_hand": 0, "reserved": 0, "available": 0,
                                        "damaged": 1}
    o = await case(api, f"/api/v1/orders/{no}")
    assert o["paid_amount"] == 35.5 and o["refunded_amount"] == 35.5


async def test_exchange_out_of_stock_waits_for_a_receipt(
        api: httpx.AsyncClient, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=1)
    no = await delivered_order(api, items=[{"sku": "CUP", "quantity": 1, "unit_price": 20}])
    rid = await request_return(api, no, {"CUP": 1}, kind="exchange", quality_issue=True)
    await approve(api, rid)
    await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"))
    assert (await inspect(api, rid, "pass")).status_code == 200
    task = await open_task(api, rid, "return.out_of_stock")
    assert (await complete(api, task, "wait")).status_code == 200
    await wait_return(api, rid, "backordered")
    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "CUP", "quantity": 2, "note": "PO-9"})
    assert r.status_code == 201
    fulfil = await open_task(api, rid, "order.fulfil")
    assert (await levels(api, "CUP"))["reserved"] == 1
    await complete(api, fulfil, "shipped", courier="JD", tracking_no="JDX9")
    await wait_return(api, rid, "exchanged")
    assert await levels(api, "CUP") == {"on_hand": 1, "reserved": 0, "available": 1,
                                        "damaged": 1}


async def test_rejection_at_review(api: httpx.AsyncClient, catalogue: None,
                                   engine: Engine) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 2})
    task = await open_task(api, rid, "return.review")
    missing = await complete(api, task, "reject")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "missing_field"
    assert (await complete(api, task, "reject", reason="opened and used")).status_code == 200
    r = await wait_return(api, rid, "rejected")
    assert r["outcome"] == "rejected" and r["kpi"]["rejected_at"]
    await eventually(lambda: "return_rejected" in notices(engine, rid))
    shipment = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                              json={"courier": "ZTO", "tracking_no": "Z1"})
    assert shipment.status_code == 409
    # a rejected return no longer claims the goods
    assert (await ask(api, no, {"TEA": 2})).status_code == 201


async def test_parcel_never_sent_is_reminded_then_expires(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 1})
    await approve(api, rid)
    await tenv.sleep(timedelta(days=3, hours=13))
    await eventually(lambda: "return_ship_reminder" in notices(engine, rid))
    assert (await ret(api, rid))["status"] == "approved"
    await tenv.sleep(timedelta(days=3, hours=12))
    r = await wait_return(api, rid, "expired")
    assert r["outcome"] == "expired"
    await eventually(lambda: "return_expired" in notices(engine, rid))
    assert notices(engine, rid).count("return_ship_reminder") == 1
    late = await api.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                          json={"courier": "ZTO", "tracking_no": "Z9"})
    assert late.status_code == 409
    assert (await levels(api, "TEA"))["on_hand"] == 8


async def test_inspection_fail_sends_the_goods_back(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 2})
    await approve(api, rid)
    await send_parcel(api, rid, "ZT300")
    await event(api, "ZT300", "delivered")
    missing = await inspect(api, rid, "fail")
    assert missing.status_code == 422
    assert (await inspect(api, rid, "fail", notes="seal broken, half used")).status_code == 200
    r = await wait_return(api, rid, "inspection_failed")
    assert r["outcome"] == "inspection_failed"
    await eventually(lambda: "return_inspection_failed" in notices(engine, rid))
    task = await open_task(api, rid, "return.send_back")
    assert task["role"] == "cs" and task["context"]["items"][0]["notes"] == "seal broken, half used"
    assert (await complete(api, task, "sent_back", tracking_no="SB1")).status_code == 200
    r = await wait_case(api, f"/api/v1/returns/{rid}", lambda x: x["kpi"]["closed_at"])
    assert r["status"] == "inspection_failed" and r["refunds"] == []
    assert await levels(api, "TEA") == {"on_hand": 8, "reserved": 0, "available": 8,
                                        "damaged": 0}
    assert (await case(api, f"/api/v1/orders/{no}"))["refunded_amount"] == 0


async def test_partial_inspection_refunds_only_passed_lines(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 2, "CUP": 1})
    await approve(api, rid)
    await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"))
    bad = await inspect(api, rid, "pass", lines=[{"sku": "CUP", "result": "fail"}])
    assert bad.status_code == 422  # a failed line needs notes
    r = await inspect(api, rid, "pass", lines=[
        {"sku": "TEA", "result": "pass", "resaleable": True},
        {"sku": "CUP", "result": "fail", "notes": "not our cup"}])
    assert r.status_code == 200, r.text
    refund = await open_task(api, rid, "return.refund")
    assert refund["context"]["proposed"] == "136.00"
    assert (await complete(api, refund, "refunded", amount=136)).status_code == 200
    send_back = await open_task(api, rid, "return.send_back")
    assert [i["sku"] for i in send_back["context"]["items"]] == ["CUP"]
    await complete(api, send_back, "sent_back")
    r = await wait_case(api, f"/api/v1/returns/{rid}",
                        lambda x: x["status"] == "refunded" and x["kpi"]["closed_at"])
    assert (await levels(api, "TEA"))["on_hand"] == 10
    assert (await levels(api, "CUP"))["on_hand"] == 4


async def test_quality_window_day_20_accepted_day_8_without_quality_refused(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api, days_ago=20)
    plain = await ask(api, no, {"TEA": 1})
    assert plain.status_code == 422
    assert plain.json()["error"]["code"] == "outside_return_window"
    assert (await ask(api, no, {"TEA": 1}, quality_issue=True)).status_code == 201
    eight = await delivered_order(api, no="WEB-8", days_ago=8, customer_id="c-8")
    r = await ask(api, eight, {"TEA": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_return_window"
    assert r.json()["error"]["details"]["window_days"] == 7
    old = await delivered_order(api, no="WEB-31", days_ago=31, customer_id="c-9")
    r = await ask(api, old, {"TEA": 1}, quality_issue=True)
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_return_window"
    listed = (await api.get("/api/v1/returns", headers=auth("ops"))).json()
    assert listed["total"] == 1


async def test_two_partial_returns_that_together_exceed_the_order_are_refused(
        api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api)
    assert (await ask(api, no, {"TEA": 1})).status_code == 201
    r = await ask(api, no, {"TEA": 2})
    assert r.status_code == 422 and r.json()["error"]["code"] == "quantity_exceeds_order"
    assert r.json()["error"]["details"] | {"loc": None} == {
        "loc": None, "sku": "TEA", "delivered": 2, "already_claimed": 1, "requested": 2}
    assert (await ask(api, no, {"TEA": 1, "CUP": 1})).status_code == 201
    third = await ask(api, no, {"CUP": 1})
    assert third.status_code == 422 and third.json()["error"]["code"] == "quantity_exceeds_order"


@pytest.fixture
def flaky_refunds(providers: Providers) -> PaymentSimulator:
    assert isinstance(providers.payments, PaymentSimulator)
    providers.payments.script["refund"] = ["after", "before"]
    return providers.payments


async def test_retried_refund_activity_refunds_once(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        flaky_refunds: PaymentSimulator) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"CUP": 1})
    await approve(api, rid)
    await api.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"))
    await inspect(api, rid, "pass")
    refund = await open_task(api, rid, "return.refund")
    r = await complete(api, refund, "refunded", amount=25.5)
    assert r.status_code == 200, r.text
    assert flaky_refunds.calls.count("refund") == 3
    assert len(flaky_refunds.refunds) == 1
    assert flaky_refunds.refunded_cents([f"PAY-{no}"]) == 2550
    with Session(engine) as s:
        rows = s.exec(select(Refund).where(Refund.order_no == no)).all()
    assert [(x.amount, x.status, x.key) for x in rows] == [
        (25.5, "succeeded", f"return-{rid}:refund")]
    assert (await case(api, f"/api/v1/orders/{no}"))["refunded_amount"] == 25.5


async def test_cancel_before_the_parcel_arrives(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 1})
    await approve(api, rid)
    await send_parcel(api, rid, "ZT400")
    r = await api.post(f"/api/v1/returns/{rid}/cancel", headers=auth("channel"),
                       json={"reason": "customer keeps it"})
    assert r.status_code == 200, r.text
    r = await wait_return(api, rid, "cancelled")
    assert r["outcome"] == "cancelled"
    assert all(t["status"] != "open" for t in r["tasks"])
    await eventually(lambda: "return_cancelled" in notices(engine, rid))
    # the parcel may still arrive: its event is recorded, the return stays cancelled
    assert (await event(api, "ZT400", "delivered")).status_code == 201
    r = await ret(api, rid)
    assert r["status"] == "cancelled" and r["parcel"]["status"] == "delivered"
    assert not [t for t in r["tasks"] if t["kind"] == "return.inspection"]
    # cancelled returns free the quantity again
    other = await request_return(api, no, {"TEA": 2})
    await approve(api, other)
    await api.post(f"/api/v1/returns/{other}/received", headers=auth("warehouse"))
    await wait_return(api, other, "received")
    late = await api.post(f"/api/v1/returns/{other}/cancel", headers=auth("cs"), json={})
    assert late.status_code == 409 and late.json()["error"]["code"] == "parcel_arrived"


async def test_settings_changed_mid_case_keep_the_stored_policy(
        api: httpx.AsyncClient, catalogue: None, engine: Engine, settings: Settings,
        tenv: WorkflowEnvironment) -> None:
    no = await delivered_order(api, days_ago=5)
    rid = await request_return(api, no, {"TEA": 1})
    settings.return_ship_timeout = timedelta(days=1)
    settings.return_window = timedelta(days=2)
    settings.return_address = "somewhere else"
    await approve(api, rid)
    await tenv.sleep(timedelta(days=2))
    r = await ret(api, rid)
    assert r["status"] == "approved"
    assert r["policy"]["ship_timeout_days"] == 7 and r["policy"]["return_window_days"] == 7
    assert "1 Warehouse Rd" in r["policy"]["return_address"]
    await eventually(lambda: "return_approved" in notices(engine, rid))
    with Session(engine) as s:
        approved = s.exec(select(Notice).where(Notice.kind == "return_approved")).one()
    assert "somewhere else" not in approved.body_text and "1 Warehouse Rd" in approved.body_text
    await tenv.sleep(timedelta(days=5, hours=1))
    await wait_return(api, rid, "expired")
    # a new request is judged by today's settings
    r2 = await ask(api, no, {"CUP": 1})
    assert r2.status_code == 422 and r2.json()["error"]["code"] == "outside_return_window"


async def test_a_quality_complaint_can_start_a_return_with_the_same_checks(
        api: httpx.AsyncClient, catalogue: None, client: Client, settings: Settings,
        engine: Engine) -> None:
    from shopflow.services.returns import start_return_for_complaint
    from shopflow.workflows.shared import ReturnStart

    no = await delivered_order(api, days_ago=12)
    req = ReturnStart(key="complaint-CP1:resolve", complaint_id="CP1", order_no=no,
                      customer_id="c-1", items=[{"sku": "CUP", "quantity": 1}],
                      kind="exchange", reason="cracked glaze (complaint CP1)", actor="dev-cs")
    started = await start_return_for_complaint(client, settings, engine, req)
    assert started.status == "started" and str(started.workflow_id).startswith("return-RT-")
    assert started.id is not None
    again = await start_return_for_complaint(client, settings, engine, req)
    assert again.id == started.id  # the same complaint step starts one return
    r = await wait_return(api, started.id, "requested")
    assert r["quality_issue"] is True and r["kind"] == "exchange"
    await open_task(api, started.id, "return.review")
    too_many = ReturnStart(key="complaint-CP2:resolve", complaint_id="CP2", order_no=no,
                           customer_id="c-1", items=[{"sku": "CUP", "quantity": 1}],
                           kind="refund", reason="again")
    refused = await start_return_for_complaint(client, settings, engine, too_many)
    assert refused.status == "refused" and refused.code == "quantity_exceeds_order"
