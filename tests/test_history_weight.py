"""What a case weighs in Temporal (issues 14.6, 15.2): events and bytes of an order's history (cash
on delivery, shipped, delivered), of its follow-up (no answer, closed) and of a complaint with 20
messages of 2,000 characters. The figures are printed (``-s``) and bounded, so a change that
makes cases heavy again fails: an order in at most 80 events, its follow-up in at most 40 and
the complaint in at most 184 (an activity round trip per write, before local writes: 193, 112
and 444)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import auth, case, complete, eventually, make_product, open_task

pytestmark = pytest.mark.asyncio


async def weigh(tenv: WorkflowEnvironment, workflow_id: str) -> tuple[int, int]:
    history = await tenv.client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events), len(history.to_json().encode())


ORDER: dict[str, Any] = {
    "order_no": "W-1", "channel": "web", "payment_method": "cod",
    "customer": {"id": "c-1", "name": "Li Wei", "email": "li@example.com", "phone": "13800000000"},
    "items": [{"sku": "TEA", "quantity": 2, "unit_price": 68.0}],
    "shipping_address": {"name": "Li Wei", "phone": "13800000000", "line1": "1 West Lake Rd",
                         "city": "Hangzhou", "region": "Zhejiang", "postcode": "310000"},
}


async def test_order_and_complaint_weigh_little(api: httpx.AsyncClient,
                                                tenv: WorkflowEnvironment) -> None:
    await make_product(api, "TEA", stock=10)
    r = await api.post("/api/v1/orders", headers=auth("channel"), json=ORDER)
    assert r.status_code == 201, r.text
    task = await open_task(api, "W-1", "order.fulfil")
    r = await complete(api, task, "shipped", courier="SF", tracking_no="SF1")
    assert r.status_code == 200, r.text
    r = await api.post("/api/v1/shipments/SF1/events", headers=auth("warehouse"),
                       json={"type": "delivered", "note": ""})
    assert r.status_code == 201, r.text

    async def completed() -> bool:
        return (await case(api, "/api/v1/orders/W-1"))["status"] == "completed"

    await eventually(completed)
    await tenv.client.get_workflow_handle("order-W-1").result()  # its last notice and archive
    order_events, order_bytes = await weigh(tenv, "order-W-1")
    await tenv.sleep(timedelta(days=30))  # the survey, its reminder, closed unanswered
    assert (await tenv.client.get_workflow_handle("followup-W-1").result())["outcome"] == (
        "no_response")
    followup_events, followup_bytes = await weigh(tenv, "followup-W-1")

    r = await api.post("/api/v1/complaints", headers=auth("channel"), json={
        "customer": {"id": "c-2", "name": "Wang", "email": "wang@example.com"},
        "category": "quality", "description": "The lid is cracked.", "channel": "web"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    task = await open_task(api, cid, "complaint.handle")
    for n in range(20):
        r = await api.post(f"/api/v1/complaints/{cid}/messages", headers=auth("channel"),
                           json={"text": f"{n:02d} " + "x" * 1997})
        assert r.status_code == 200, r.text
    r = await complete(api, task, "respond", role="cs", message="We are on it.",
                       await_reply=False)
    assert r.status_code == 200, r.text
    r = await complete(api, task, "resolve", role="cs", resolution="A new lid.")
    assert r.status_code == 200, r.text
    complaint_events, complaint_bytes = await weigh(tenv, f"complaint-{cid}")
    print(f"\norder (COD, shipped, delivered): {order_events} events, {order_bytes} bytes; "
          f"its follow-up (no answer): {followup_events} events, {followup_bytes} bytes; "
          f"complaint (20 messages of 2,000 chars, respond, resolve): {complaint_events} "
          f"events, {complaint_bytes} bytes")
    assert order_events <= 80
    assert followup_events <= 40
    assert complaint_events <= 184  # 444 before: cut like the order's aim (80 of 193)
    assert complaint_bytes < 400_000
