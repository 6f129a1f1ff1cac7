"""Scheduled care: each schedule's workflow run on a fixed day (``as_of``), with the real worker
and activities on the time-skipping server, and what the people and customers then see."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import BirthdayGreeting, CustomerRevisit, Notice, Order, StockMovement
from shopflow.settings import Settings
from shopflow.workflows.care import BirthdayCare, KeyAccountRevisits, WeeklyStocktake
from shopflow.workflows.care_payloads import CareResult, CareRun
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

pytestmark = pytest.mark.asyncio


async def customer(api: httpx.AsyncClient, customer_id: str, **fields: Any) -> None:
    r = await api.put(f"/api/v1/customers/{customer_id}", headers=auth("cs"),
                      json={"name": f"Customer {customer_id}",
                            "email": f"{customer_id}@example.com", **fields})
    assert r.status_code == 200, r.text


async def run(tenv: WorkflowEnvironment, settings: Settings, wf: Any, day: str | None,
              workflow_id: str | None = None) -> CareResult:
    # Waiting for a result must not move the test clock (open tasks would escalate meanwhile).
    with tenv.auto_time_skipping_disabled():
        return await tenv.client.execute_workflow(  # type: ignore[no-any-return]
            wf, CareRun(day), id=workflow_id or f"test-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue)


async def finished(tenv: WorkflowEnvironment, workflow_id: str) -> None:
    with tenv.auto_time_skipping_disabled():
        await tenv.client.get_workflow_handle(workflow_id).result()


def greetings(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as s:
        return [(n.recipient, n.kind, n.body_text) for n in s.exec(
            select(Notice).where(Notice.kind == "birthday_greeting").order_by(Notice.id))]


async def test_birthday_greeting_once_a_year_with_a_coupon(
        api: httpx.AsyncClient, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    await customer(api, "c-1", birthday="1990-03-14", locale="en")
    await customer(api, "c-2", birthday="1985-03-14", tags=["no_contact"])
    await customer(api, "c-3", birthday="1992-02-29")
    await customer(api, "c-4", birthday="1990-03-15")
    await customer(api, "c-5")

    first = await run(tenv, settings, BirthdayCare.run, "2025-03-14", "birthday-care-1")
    assert (first.day, first.started, first.skipped) == ("2025-03-14", ["c-1"], ["c-2"])
    sent = greetings(engine)
    assert [(r, k) for r, k, _ in sent] == [("c-1@example.com", "birthday_greeting")]
    with Session(engine) as s:
        g = s.get(BirthdayGreeting, ("c-1", 2025))
        assert g is not None and g.coupon_code.startswith("BDAY25-")
    assert g.coupon_code in sent[0][2] and "2025-04-13" in sent[0][2]
    await record_history(tenv, "birthday-care-1", "care_birthday")

    again = await run(tenv, settings, BirthdayCare.run, "2025-03-14")
    assert again.started == []
    assert len(greetings(engine)) == 1

    leap = await run(tenv, settings, BirthdayCare.run, "2025-02-28")
    assert leap.started == ["c-3"]  # 29 February, greeted on the 28th in a common year
    assert (await run(tenv, settings, BirthdayCare.run, "2024-02-28")).started == []

    next_year = await run(tenv, settings, BirthdayCare.run, "2026-03-14")
    assert next_year.started == ["c-1"]
    with Session(engine) as s:
        codes = {g.year: g.coupon_code for g in s.exec(
            select(BirthdayGreeting).where(BirthdayGreeting.customer_id == "c-1"))}
    assert set(codes) == {2025, 2026} and codes[2025] != codes[2026]
    assert len(greetings(engine)) == 3


async def test_key_account_revisit_task_with_recent_context_every_interval(
        api: httpx.AsyncClient, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    await customer(api, "ka-1", tags=["key_account"], company="West Lake Tea House")
    await customer(api, "ka-quiet", tags=["key_account", "no_contact"])
    await customer(api, "plain")
    with Session(engine) as s:
        s.add(Order(order_no="SO-77", customer_id="ka-1", status="delivered", total_cents=42000))
        s.commit()
    r = await api.post("/api/v1/complaints", headers=auth("cs"), json={
        "customer": {"id": "ka-1", "name": "Customer ka-1"}, "order_no": "SO-77",
        "category": "delivery", "description": "late", "channel": "phone"})
    assert r.status_code == 201, r.text

    result = await run(tenv, settings, KeyAccountRevisits.run, "2025-03-14")
    assert result.started == ["revisit-ka-1-20250314"]
    task = await open_task(api, "revisit-ka-1-20250314", "customer.revisit")
    assert task["role"] == "cs"
    ctx = task["context"]
    assert ctx["customer"]["company"] == "West Lake Tea House"
    assert [o["order_no"] for o in ctx["recent_orders"]] == ["SO-77"]
    assert [c["category"] for c in ctx["recent_complaints"]] == ["delivery"]
    assert ctx["recent_returns"] == []

    same_day = await run(tenv, settings, KeyAccountRevisits.run, "2025-03-14")
    assert same_day.started == [] and same_day.skipped == []  # one open revisit is enough
    bad = await complete(api, task, "done")
    assert bad.status_code == 422
    r = await complete(api, task, "done", notes="Happy; wants the spring catalogue.")
    assert r.status_code == 200, r.text
    c = await wait_case(api, "/api/v1/tasks/" + task["id"], lambda t: t["status"] == "done")
    with Session(engine) as s:
        row = s.get(CustomerRevisit, "revisit-ka-1-20250314")
        assert row is not None and (row.status, row.completed_by) == ("done", "dev-cs")
        assert row.notes == "Happy; wants the spring catalogue."
    assert (await run(tenv, settings, KeyAccountRevisits.run, "2025-03-15")).started == []

    await tenv.sleep(timedelta(days=91))
    later = await run(tenv, settings, KeyAccountRevisits.run, "2025-06-14")
    assert later.started == ["revisit-ka-1-20250614"]
    nxt = await open_task(api, "revisit-ka-1-20250614", "customer.revisit")
    assert nxt["context"]["last_revisit"]["notes"] == "Happy; wants the spring catalogue."
    await finished(tenv, "revisit-ka-1-20250314")
    await record_history(tenv, "revisit-ka-1-20250314", "care_revisit_local")
    assert c["case_id"] == "revisit-ka-1-20250314"


async def test_weekly_stocktake_adjusts_on_hand_with_an_audit_record(
        api: httpx.AsyncClient, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=4)
    result = await run(tenv, settings, WeeklyStocktake.run, "2025-03-10")
    assert result.started == ["stocktake-20250310"]
    assert (await run(tenv, settings, WeeklyStocktake.run, "2025-03-10")).skipped == [
        "stocktake-20250310"]
    task = await open_task(api, "stocktake-20250310", "inventory.stocktake")
    assert task["role"] == "warehouse"
    assert {line["sku"]: line["on_hand"] for line in task["context"]["lines"]} == {
        "TEA": 10, "CUP": 4}

    for counts, code in (([{"sku": "TEA", "counted": -1}], "invalid_quantity"),
                         ([{"sku": "TEA", "counted": 1}, {"sku": "TEA", "counted": 2}],
                          "invalid_item"),
                         ([], "missing_field"),
                         ([{"sku": "GHOST", "counted": 3}], "unknown_sku")):
        r = await complete(api, task, "counted", counts=counts)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    r = await complete(api, task, "counted",
                       counts=[{"sku": "TEA", "counted": 8}, {"sku": "CUP", "counted": 4}])
    assert r.status_code == 200, r.text
    assert r.json()["result"]["adjustments"] == [
        {"sku": "CUP", "book": 4, "counted": 4, "delta": 0},
        {"sku": "TEA", "book": 10, "counted": 8, "delta": -2}]
    assert await stock(api, "TEA") == {"sku": "TEA", "on_hand": 8, "reserved": 0,
                                       "available": 8, "damaged": 0}
    assert (await stock(api, "CUP"))["on_hand"] == 4
    with Session(engine) as s:
        moves = s.exec(select(StockMovement).where(StockMovement.reason == "stocktake")
                       .order_by(StockMovement.sku)).all()
    assert [(m.sku, m.on_hand_delta, m.ref, m.actor) for m in moves] == [
        ("CUP", 0, "stocktake-20250310", "dev-warehouse"),
        ("TEA", -2, "stocktake-20250310", "dev-warehouse")]
    c = await wait_case(api, "/api/v1/tasks/" + task["id"], lambda t: t["status"] == "done")
    assert c["completed_by"] == "dev-warehouse"
    await finished(tenv, "stocktake-20250310")
    await record_history(tenv, "stocktake-20250310", "care_stocktake_local")


async def test_revisit_and_stocktake_cases_show_their_timeline(
        api: httpx.AsyncClient, settings: Settings, tenv: WorkflowEnvironment) -> None:
    await make_product(api, "TEA", stock=3)
    await run(tenv, settings, WeeklyStocktake.run, "2025-03-17")
    task = await open_task(api, "stocktake-20250317", "inventory.stocktake")
    await complete(api, task, "counted", counts=[{"sku": "TEA", "counted": 5}])
    r = await api.get("/api/v1/tasks", params={"case_id": "stocktake-20250317", "status": "done"},
                      headers=auth("warehouse"))
    assert r.json()["total"] == 1
    assert (await case(api, "/api/v1/tasks/" + task["id"]))["decision"]["decision"] == "counted"
    assert (await stock(api, "TEA"))["on_hand"] == 5


async def test_a_long_day_of_revisits_continues_as_new_and_does_each_once(
        api: httpx.AsyncClient, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    """Issue 14.6: a day's list loops per customer; above the history limit the run goes on as
    new with the customers still to do, and every one gets its revisit once."""
    accounts = [f"ka-{n:02d}" for n in range(8)]
    for customer_id in accounts:
        await customer(api, customer_id, tags=["key_account"])
    with tenv.auto_time_skipping_disabled():
        handle = await tenv.client.start_workflow(
            KeyAccountRevisits.run, CareRun("2025-03-14", history_limit=20),
            id="revisits-long-day", task_queue=settings.task_queue)
        result = await handle.result()
        current = (await handle.describe()).run_id
    assert current != handle.first_execution_run_id  # continued as new on the way
    assert result.started == [f"revisit-{c}-20250314" for c in accounts]

    def revisited() -> list[str]:
        with Session(engine) as s:
            return sorted(r.customer_id for r in s.exec(select(CustomerRevisit)))

    assert await eventually(lambda: revisited() == accounts and revisited())
