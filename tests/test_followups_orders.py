"""Customer care meets orders: a delivered order starts ``followup-<order_no>`` by itself, and a
complaint about an order shows on the order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice
from tests import scenes
from tests.helpers import auth, case, complete, eventually, open_task, wait_case

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("catalogue")]


async def delivered_order(api: httpx.AsyncClient, order_no: str) -> dict[str, Any]:
    """Customer c-9's online order of 2 TEA, paid, shipped and delivered just now."""
    await scenes.delivered_order(api, order_no, days_ago=None, customer_id="c-9",
                                 items=[{"sku": "TEA", "quantity": 2, "unit_price": 68.0}])
    return await case(api, f"/api/v1/orders/{order_no}")


async def test_delivered_order_starts_its_follow_up(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Engine) -> None:
    order = await delivered_order(api, "WEB-77")
    assert order["followup"]["workflow_id"] == "followup-WEB-77"
    assert order["followup"]["status"] == "started"
    f = await case(api, "/api/v1/followups/followup-WEB-77")
    assert (f["workflow_id"], f["order_no"], f["reason"], f["customer_id"]) == (
        "followup-WEB-77", "WEB-77", "delivered", "c-9")
    assert f["items"] == [{"sku": "TEA", "quantity": 2}]
    await tenv.sleep(timedelta(days=7, hours=1))
    await wait_case(api, "/api/v1/followups/followup-WEB-77",
                    lambda c: (c.get("feedback") or {}).get("status") == "requested")

    def sent() -> list[tuple[str, str]]:
        with Session(engine) as s:
            return [(n.kind, n.recipient) for n in s.exec(
                select(Notice).where(Notice.case_id == "followup-WEB-77"))]

    await eventually(lambda: sent() == [("followup_feedback_request", "li@example.com")])


async def test_a_complaint_about_an_order_shows_on_the_order(api: httpx.AsyncClient) -> None:
    await delivered_order(api, "WEB-78")
    r = await api.post("/api/v1/complaints", headers=auth("channel"), json={
        "customer": {"id": "c-9", "name": "Li Wei"}, "order_no": "WEB-78",
        "category": "delivery", "description": "The box was crushed.", "channel": "web"})
    assert r.status_code == 201, r.text
    order = await case(api, "/api/v1/orders/WEB-78")
    assert [(c["id"], c["category"]) for c in order["complaints"]] == [(r.json()["id"], "delivery")]


async def test_quality_complaint_resolution_starts_a_return_when_the_process_exists(
        api: httpx.AsyncClient) -> None:
    await delivered_order(api, "WEB-79")
    r = await api.post("/api/v1/complaints", headers=auth("channel"), json={
        "customer": {"id": "c-9", "name": "Li Wei"}, "order_no": "WEB-79",
        "category": "quality", "description": "One tin leaks.", "channel": "web"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    task = await open_task(api, cid, "complaint.handle")
    too_many = await complete(api, task, "resolve", resolution="Return them",
                              start_return={"items": [{"sku": "TEA", "quantity": 5}],
                                            "kind": "refund"})
    assert too_many.status_code == 422, too_many.text  # refused by the returns process
    r = await complete(api, task, "resolve", resolution="Send the leaking tin back for a refund.",
                       start_return={"items": [{"sku": "TEA", "quantity": 1}], "kind": "refund"})
    assert r.status_code == 200, r.text
    started = r.json()["result"]["return"]
    assert started["status"] == "started" and started["order_no"] == "WEB-79"
    ret = await case(api, f"/api/v1/returns/{started['id']}")
    assert ret["order_no"] == "WEB-79" and ret["quality_issue"] is True
    complaint = await case(api, f"/api/v1/complaints/{cid}")
    assert complaint["return"]["id"] == started["id"]
