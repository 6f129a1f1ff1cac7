"""Repair (维修), the third outcome of a return (issue 18): the item comes back, after-sales
repairs it by its due time (a reminder half way; late: escalation to ops and the customer told)
and the warehouse sends it back with a parcel booked at the courier; an item that cannot be
repaired is refunded or exchanged instead. API, worker with real activities, time skipping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice, Task
from shopflow.providers import Providers
from tests.helpers import auth, case, complete, eventually, open_task, record_history
from tests.scenes import delivered_order, event
from tests.test_returns_process import (
    approve,
    ask,
    levels,
    notices,
    request_return,
    send_parcel,
    wait_return,
)

pytestmark = pytest.mark.asyncio


async def at_repair(api: httpx.AsyncClient, no: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """A repair of one CUP, approved, its parcel delivered: the repair task."""
    rid = await request_return(api, no, {"CUP": 1}, kind="repair", category="quality",
                               reason="the handle came off", **kwargs)
    await approve(api, rid)
    await send_parcel(api, rid, f"ZR{rid[-6:]}")
    assert (await event(api, f"ZR{rid[-6:]}", "delivered")).status_code == 201
    task = await open_task(api, rid, "return.repair")
    return rid, task


async def test_repair_happy_path_back_to_the_customer(
        api: httpx.AsyncClient, catalogue: None, engine: Engine, tenv: WorkflowEnvironment,
        providers: Providers) -> None:
    no = await delivered_order(api)
    before = await levels(api, "CUP")
    rid, task = await at_repair(api, no)
    assert task["role"] == "warehouse" and task["context"]["repair_due_at"]
    r = await wait_return(api, rid, "repairing")
    assert r["stage"] == "repair" and r["repair"]["status"] == "in_repair"
    assert r["repair"]["due_at"] == task["context"]["repair_due_at"]
    # no inspection, no restock: the item is the customer's
    with Session(engine) as s:
        assert not s.exec(select(Task).where(Task.kind == "return.inspection")).all()
    await eventually(lambda: "return_repair_started" in notices(engine, rid))
    bad = await complete(api, task, "fixed")
    assert bad.status_code == 422
    assert (await complete(api, task, "repaired", notes="new handle fitted")).status_code == 200
    back = await open_task(api, rid, "order.fulfil")
    assert back["context"]["repair"] is True and back["role"] == "warehouse"
    assert [(i["sku"], i["quantity"]) for i in back["context"]["pick_list"]] == [("CUP", 1)]
    slip = await api.get(back["context"]["packing_slip_url"], headers=auth("warehouse"))
    assert slip.status_code == 200 and "CUP" in slip.text and "Repaired item" in slip.text
    r = await complete(api, back, "shipped", courier="SF Express", tracking_no="SFR1")
    assert r.status_code == 200, r.text
    r = await wait_return(api, rid, "repaired")
    assert r["outcome"] == "repaired" and r["stage"] == "closed"
    assert r["repair"]["status"] == "repaired" and r["repair"]["notes"] == "new handle fitted"
    assert r["repair"]["parcel"]["tracking_no"] == "SFR1" and r["exchange"] is None
    assert r["kpi"]["reshipped_at"] and r["kpi"]["closed_at"] and r["refunds"] == []
    # the parcel back was booked with the courier adapter
    assert "SFR1" in providers.courier.bookings
    assert await levels(api, "CUP") == before  # nothing moved in stock
    await eventually(lambda: "return_repair_shipped" in notices(engine, rid))
    assert notices(engine, rid) == ["return_received", "return_approved",
                                    "return_repair_started", "return_repair_shipped"]
    with Session(engine) as s:
        shipped = s.exec(select(Notice).where(Notice.kind == "return_repair_shipped")).one()
    assert "SFR1" in shipped.body_text and "new handle fitted" in shipped.body_text
    # the courier's events on the parcel back are still taken after the case closed
    assert (await event(api, "SFR1", "delivered")).status_code == 201
    await record_history(tenv, f"return-{rid}", "return_repair_local")


async def test_an_overdue_repair_reminds_escalates_and_tells_the_customer(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    no = await delivered_order(api)
    rid, task = await at_repair(api, no)
    await tenv.sleep(timedelta(days=4))  # past half of the 7 days
    await eventually(lambda: "return_repair_reminder" in notices(engine, rid))
    assert "return_repair_delayed" not in notices(engine, rid)
    await tenv.sleep(timedelta(days=4))  # past the due time
    await eventually(lambda: "return_repair_delayed" in notices(engine, rid))
    with Session(engine) as s:
        row = s.get(Task, task["id"])
        assert row is not None and row.escalated and row.escalation_role == "ops"
        reminder = s.exec(select(Notice).where(Notice.kind == "return_repair_reminder")).one()
        delayed = s.exec(select(Notice).where(Notice.kind == "return_repair_delayed")).one()
    assert reminder.audience == "staff" and delayed.audience == "customer"
    r = await case(api, f"/api/v1/returns/{rid}")
    assert r["repair"]["overdue"] is True
    assert {"repair_reminder", "task_escalated"} <= {e["type"] for e in r["timeline"]}
    # still the warehouse's (and now ops') to finish
    assert (await complete(api, task, "repaired", role="ops")).status_code == 200
    back = await open_task(api, rid, "order.fulfil")
    assert (await complete(api, back, "shipped", courier="ZTO",
                           tracking_no="ZTR2")).status_code == 200
    await wait_return(api, rid, "repaired")


async def test_unrepairable_is_refunded(api: httpx.AsyncClient, catalogue: None,
                                        engine: Engine) -> None:
    no = await delivered_order(api)
    before = await levels(api, "CUP")
    rid, task = await at_repair(api, no)
    r = await complete(api, task, "unrepairable", notes="cracked through")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_remedy"
    r = await complete(api, task, "unrepairable", remedy="refund")
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "notes"
    r = await complete(api, task, "unrepairable", notes="cracked through", remedy="refund")
    assert r.status_code == 200, r.text
    refund = await open_task(api, rid, "return.refund")
    assert refund["context"]["proposed"] == "25.50"  # the goods (the order shipped free)
    # the broken item stays with the shop, in the damaged count
    after = await levels(api, "CUP")
    assert after["damaged"] == before["damaged"] + 1 and after["on_hand"] == before["on_hand"]
    await eventually(lambda: "return_unrepairable" in notices(engine, rid))
    assert (await complete(api, refund, "refunded", amount=25.5)).status_code == 200
    r = await wait_return(api, rid, "refunded")
    assert r["repair"]["status"] == "unrepairable" and r["outcome"] == "refunded"


async def test_unrepairable_is_exchanged(api: httpx.AsyncClient, catalogue: None,
                                         engine: Engine) -> None:
    no = await delivered_order(api)
    before = await levels(api, "CUP")
    rid, task = await at_repair(api, no)
    r = await complete(api, task, "unrepairable", notes="no spare parts", remedy="exchange")
    assert r.status_code == 200, r.text
    fulfil = await open_task(api, rid, "order.fulfil")
    assert fulfil["context"]["exchange"] is True
    assert (await levels(api, "CUP"))["reserved"] == before["reserved"] + 1
    assert (await complete(api, fulfil, "shipped", courier="SF",
                           tracking_no="SFX9")).status_code == 200
    r = await wait_return(api, rid, "exchanged")
    assert r["exchange"]["tracking_no"] == "SFX9" and r["repair"]["status"] == "unrepairable"
    with Session(engine) as s:
        kinds = [n.kind for n in s.exec(select(Notice).where(Notice.case_id == rid))]
    assert "return_unrepairable" in kinds


async def test_a_missing_item_cannot_be_repaired(api: httpx.AsyncClient, catalogue: None) -> None:
    no = await delivered_order(api)
    r = await ask(api, no, {"CUP": 1}, kind="repair", category="missing_item")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "nothing_to_repair"
    assert r.json()["error"]["details"]["loc"] == ["body", "kind"]
    r = await ask(api, no, {"CUP": 1}, kind="mend")
    assert r.status_code == 422 and "kind" in r.text
