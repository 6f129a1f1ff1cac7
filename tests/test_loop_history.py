"""Histories stay bounded for every process that can loop (issue 14.6): a courier may send
events about a parcel without end, so an order (and a return) waiting for its parcel continues
as new above SHOPFLOW_HISTORY_EVENT_LIMIT events, its state carried: it still answers (repeats
are still repeats), and the parcel's delivery still ends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from shopflow.settings import Settings
from tests.helpers import auth, case, complete, open_task
from tests.scenes import delivered_order, event, pay, place, ship, wait_order
from tests.test_returns_process import approve, request_return, send_parcel, wait_return

pytestmark = pytest.mark.asyncio

EVENTS = 40  # three runs or more at the lowest limit (a courier event is ~8 history events)


@pytest.fixture
def settings(engine: Engine) -> Settings:
    import uuid
    return Settings(_env_file=None, env="dev",  # type: ignore[call-arg]
                    database_url=str(engine.url.render_as_string(hide_password=False)),
                    task_queue=f"test-{uuid.uuid4().hex[:10]}", public_url="http://shop.test",
                    history_event_limit=100)


def at(n: int) -> str:
    return (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n)).isoformat()


async def courier(api: httpx.AsyncClient, tenv: WorkflowEnvironment, workflow_id: str,
                  tracking: str) -> set[str]:
    """EVENTS in-transit events, then the first one again (a repeat, whatever run holds it).
    The runs the case went through."""
    handle = tenv.client.get_workflow_handle(workflow_id)
    seen = {(await handle.describe()).run_id}
    for n in range(EVENTS):
        r = await event(api, tracking, "in_transit", note=f"hub {n}", at=at(n))
        assert r.status_code == 201, r.text
        assert r.json()["duplicate"] is False
        seen.add((await handle.describe()).run_id)
    again = await event(api, tracking, "in_transit", note="hub 0", at=at(0))
    assert again.status_code in (200, 201), again.text
    assert again.json()["duplicate"] is True
    return seen


async def test_an_order_continues_as_new_while_its_parcel_travels(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment) -> None:
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    await ship(api, no, tracking="SF77")
    assert len(await courier(api, tenv, f"order-{no}", "SF77")) > 2  # continued as new
    history = await tenv.client.get_workflow_handle(f"order-{no}").fetch_history()
    assert len(history.events) < 150
    o = await case(api, f"/api/v1/orders/{no}")
    assert o["status"] == "shipped" and o["total"] == 161.5
    assert [e["note"] for e in o["shipments"][0]["events"]] == [f"hub {n}" for n in range(EVENTS)]
    # the state is intact: a cancel is still refused (shipped), the delivery ends the order
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("ops"), json={"reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_shipped"
    assert (await event(api, "SF77", "delivered", at=at(EVENTS))).status_code == 201
    done = await wait_order(api, no, "completed")
    assert done["invoice"] is not None and [p["amount"] for p in done["payments"]] == [161.5]


async def test_a_return_continues_as_new_while_the_customers_parcel_travels(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment) -> None:
    no = await delivered_order(api)
    rid = await request_return(api, no, {"TEA": 1}, reason="too bitter")
    await approve(api, rid)
    await send_parcel(api, rid, "ZT77")
    assert len(await courier(api, tenv, f"return-{rid}", "ZT77")) > 2
    r = await case(api, f"/api/v1/returns/{rid}")
    assert r["status"] == "parcel_sent" and r["parcel"]["tracking_no"] == "ZT77"
    assert (await event(api, "ZT77", "delivered", at=at(EVENTS))).status_code == 201
    task = await open_task(api, rid, "return.inspection")
    assert (await complete(api, task, "pass")).status_code == 200
    refund = await open_task(api, rid, "return.refund", role="finance")
    assert (await complete(api, refund, "refunded",
                           amount=refund["context"]["proposed"])).status_code == 200
    await wait_return(api, rid, "refunded")
