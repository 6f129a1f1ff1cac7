"""Promotion plans (seed 003 第九条) and overstock (第八条), end to end on the time-skipping
server: a plan that starts in 3 days and runs a week takes milliseconds. Review by finance,
approval by ops, the start and end on Temporal timers, each targeted customer told once, the
sales report after; cancel before the start only; the overstock schedule's task and its
proposals (a promotion plan, or stock back to the supplier)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice, Order, OrderLine, StockMovement
from shopflow.settings import Settings
from shopflow.workflows.promotion import OverstockReview
from shopflow.workflows.promotion_rules import (
    OverstockResult,
    OverstockRun,
    overstock_id,
    overstock_period,
)
from tests.helpers import (
    auth,
    case,
    complete,
    eventually,
    open_task,
    record_history,
    stock,
    wait_case,
)

pytestmark = pytest.mark.asyncio


async def customer(api: httpx.AsyncClient, customer_id: str, *tags: str) -> None:
    r = await api.put(f"/api/v1/customers/{customer_id}", headers=auth("cs"),
                      json={"name": f"Customer {customer_id}", "locale": "en",
                            "email": f"{customer_id}@example.com", "tags": list(tags)})
    assert r.status_code == 200, r.text


def plan(start_in: timedelta = timedelta(days=3), days: int = 7, **extra: Any
         ) -> dict[str, Any]:
    start = datetime.now(UTC) + start_in
    return {"name": "Green tea week", "skus": ["TEA"], "discount_percent": 20,
            "start_at": start.isoformat(), "end_at": (start + timedelta(days=days)).isoformat(),
            "target_tag": "tea_lover", "description": "All green tea 20% off.", **extra}


async def create(api: httpx.AsyncClient, body: dict[str, Any]) -> str:
    r = await api.post("/api/v1/promotions", headers={**auth("cs"),
                                                      "Idempotency-Key": uuid.uuid4().hex},
                       json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


def path(pid: str) -> str:
    return f"/api/v1/promotions/{pid}"


def sold(engine: Engine, order_no: str, at: datetime, quantity: int, status: str = "completed"
         ) -> None:
    """An order of TEA at 25.00 a unit, made at ``at`` (the promotion runs on the server's
    skipped clock, so the order is booked at that time directly)."""
    with Session(engine) as s:
        s.add(Order(order_no=order_no, customer_id="c-1", status=status, created_at=at,
                    total_cents=2500 * quantity))
        s.flush()
        s.add(OrderLine(order_no=order_no, line_no=1, sku="TEA", quantity=quantity,
                        unit_price_cents=2500, amount_cents=2500 * quantity))
        s.commit()


def announced(engine: Engine, pid: str) -> list[str]:
    with Session(engine) as s:
        return sorted(n.recipient for n in s.exec(select(Notice).where(
            Notice.case_id == pid, Notice.kind == "promotion_announced")))


async def test_a_plan_reviewed_approved_runs_on_its_timers_and_reports(
        api: httpx.AsyncClient, engine: Engine, tenv: WorkflowEnvironment,
        catalogue: None) -> None:
    await customer(api, "c-1", "tea_lover")
    await customer(api, "c-2", "tea_lover", "no_contact")
    await customer(api, "c-3")
    pid = await create(api, plan())
    c = await case(api, path(pid))
    assert (c["status"], c["stage"], c["name"]) == ("draft", "review", "Green tea week")

    review = await open_task(api, pid, "promotion.review")
    assert review["role"] == "finance" and review["context"]["discount_percent"] == 20
    assert (await complete(api, review, "reject")).status_code == 422  # a reason is required
    assert (await complete(api, review, "pass", role="cs")).status_code == 403
    r = await complete(api, review, "pass", note="margin ok")
    assert r.status_code == 200, r.text
    approval = await open_task(api, pid, "promotion.approve")
    assert approval["role"] == "ops" and approval["context"]["review"]["note"] == "margin ok"
    r = await complete(api, approval, "approve")
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(pid), lambda c: c["stage"] == "scheduled")
    start = datetime.fromisoformat(c["start_at"])
    sold(engine, "OLD-1", start - timedelta(days=2), 1)  # the week before: "before"
    sold(engine, "PROMO-1", start + timedelta(days=1), 2)
    sold(engine, "PROMO-2", start + timedelta(days=2), 3)
    sold(engine, "PROMO-X", start + timedelta(days=2), 9, status="cancelled")
    sold(engine, "AFTER-1", start + timedelta(days=8), 4)
    assert announced(engine, pid) == []  # nobody told before the start

    await tenv.sleep(timedelta(days=3, hours=1))
    c = await wait_case(api, path(pid), lambda c: c["status"] == "running")
    assert await eventually(lambda: announced(engine, pid)) == ["c-1@example.com"]
    r = await api.post(f"{path(pid)}/cancel", headers=auth("cs"), json={"reason": "too late"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"

    await tenv.sleep(timedelta(days=7))
    c = await wait_case(api, path(pid), lambda c: c["status"] == "completed")
    assert c["report"] == {
        "orders": 2, "units": 5, "revenue_cents": 12500,
        "by_sku": [{"sku": "TEA", "orders": 2, "units": 5, "revenue_cents": 12500}],
        "before": {"orders": 1, "units": 1, "revenue_cents": 2500}, "notified": 1}
    types = [e["type"] for e in c["timeline"]]
    for step in ("drafted", "reviewed", "approved", "started", "reported"):
        assert step in types, step
    with Session(engine) as s:
        report = s.exec(select(Notice).where(Notice.case_id == pid,
                                             Notice.kind == "promotion_report")).one()
    assert report.audience == "staff"
    assert "订单 2，件数 5" in report.body_text or "2 order(s), 5 unit(s)" in report.body_text
    listed = await api.get("/api/v1/promotions", params={"status": "completed"},
                           headers=auth("finance"))
    assert [p["id"] for p in listed.json()["items"]] == [pid]
    assert (await api.get(path(pid), headers=auth("channel"))).status_code == 403
    with tenv.auto_time_skipping_disabled():
        await tenv.client.get_workflow_handle(f"promotion-{pid}").result()
    await record_history(tenv, f"promotion-{pid}", "promotion_local")
    with tenv.auto_time_skipping_disabled():
        await tenv.client.get_workflow_handle(f"promotion-announce-{pid}").result()
    await record_history(tenv, f"promotion-announce-{pid}", "promotion_announce")


async def test_cancel_before_the_start_and_rejections(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, catalogue: None) -> None:
    in_review = await create(api, plan())
    await open_task(api, in_review, "promotion.review")
    r = await api.post(f"{path(in_review)}/cancel", headers=auth("ops"), json={"reason": "x"})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(in_review), lambda c: c["status"] == "cancelled")
    assert all(t["status"] == "cancelled" for t in c["tasks"])

    scheduled = await create(api, plan(name="Cup week", skus=["CUP"]))
    await complete(api, await open_task(api, scheduled, "promotion.review"), "pass")
    await complete(api, await open_task(api, scheduled, "promotion.approve"), "approve")
    await wait_case(api, path(scheduled), lambda c: c["stage"] == "scheduled")
    await tenv.sleep(timedelta(days=1))
    r = await api.post(f"{path(scheduled)}/cancel", headers=auth("cs"),
                       json={"reason": "stock sold out"})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(scheduled), lambda c: c["status"] == "cancelled")
    assert c["outcome"] == "cancelled" and c["stage"] == "closed"
    await tenv.sleep(timedelta(days=3))  # its start passes: nothing runs
    assert (await case(api, path(scheduled)))["status"] == "cancelled"

    rejected = await create(api, plan())
    await complete(api, await open_task(api, rejected, "promotion.review"), "pass")
    r = await complete(api, await open_task(api, rejected, "promotion.approve"), "reject",
                       reason="overlaps the new year sale")
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(rejected), lambda c: c["status"] == "rejected")
    assert c["approval"]["note"] == "overlaps the new year sale"


async def test_a_plan_is_checked_and_keyed(api: httpx.AsyncClient, catalogue: None) -> None:
    async def refused(body: dict[str, Any], role: str = "cs") -> httpx.Response:
        return await api.post("/api/v1/promotions", headers=auth(role), json=body)

    r = await refused(plan(start_in=timedelta(hours=-1)))
    assert r.status_code == 422 and "start_at" in r.text
    r = await refused(plan(days=-1))
    assert r.status_code == 422 and "end_at" in r.text
    r = await refused(plan(skus=["TEA", "GHOST"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_sku"
    assert (await refused(plan(discount_percent=95))).status_code == 422
    assert (await refused(plan(), role="channel")).status_code == 403
    assert (await refused(plan(), role="finance")).status_code == 403
    body = plan()
    headers = {**auth("ops"), "Idempotency-Key": "plan-1"}
    first = await api.post("/api/v1/promotions", headers=headers, json=body)
    again = await api.post("/api/v1/promotions", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert (await api.get(path("PM-NOPE"), headers=auth("ops"))).status_code == 404


async def test_overstock_opens_a_task_once_per_period_with_its_proposals(
        api: httpx.AsyncClient, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment, catalogue: None) -> None:
    settings.overstock_days = 30
    day = (datetime.now(UTC) + timedelta(days=40)).date()

    async def review(on: str = day.isoformat(), wid: str | None = None) -> OverstockResult:
        with tenv.auto_time_skipping_disabled():
            return await tenv.client.execute_workflow(  # type: ignore[no-any-return]
                OverstockReview.run, OverstockRun(on),
                id=wid or f"overstock-review-{uuid.uuid4().hex[:6]}",
                task_queue=settings.task_queue)

    not_yet = await review(datetime.now(UTC).date().isoformat())
    assert not_yet.started == []  # the opening receipts moved the stock today
    period = overstock_period(day, 30)
    ids = [overstock_id(sku, period) for sku in ("CUP", "TEA")]
    first = await review(wid="overstock-review-1")
    await record_history(tenv, "overstock-review-1", "overstock_review")
    assert first.started == ids
    assert (await review()).started == []  # once per SKU per period

    tea = await open_task(api, ids[1], "inventory.overstock")
    assert tea["role"] == "warehouse"
    assert (tea["context"]["available"], tea["context"]["idle_days"]) == (10, 40)
    start = datetime.now(UTC) + timedelta(days=2)
    bad = await complete(api, tea, "promote", discount_percent=0,
                         start_at=start.isoformat(), end_at=(start + timedelta(days=5)).isoformat())
    assert bad.status_code == 422 and "discount_percent" in bad.text
    r = await complete(api, tea, "promote", discount_percent=30, start_at=start.isoformat(),
                       end_at=(start + timedelta(days=5)).isoformat(), segment="buyers")
    assert r.status_code == 200, r.text
    pid = r.json()["result"]["promotion"]["id"]
    promo = await wait_case(api, path(pid), lambda c: c["stage"] == "review")
    assert (promo["skus"], promo["source"], promo["segment"]) == (["TEA"], ids[1], "buyers")
    await open_task(api, pid, "promotion.review")

    cup = await open_task(api, ids[0], "inventory.overstock")
    r = await complete(api, cup, "return_to_supplier", quantity=99)
    assert r.status_code == 422, r.text
    r = await complete(api, cup, "return_to_supplier", quantity=3, note="supplier takes back")
    assert r.status_code == 200, r.text
    assert (await stock(api, "CUP"))["on_hand"] == 2
    with Session(engine) as s:
        move = s.exec(select(StockMovement).where(
            StockMovement.reason == "supplier_return")).one()
    assert (move.sku, move.on_hand_delta, move.ref) == ("CUP", -3, ids[0])
    c = await wait_case(api, f"/api/v1/tasks/{cup['id']}", lambda t: t["status"] == "done")
    assert c["completed_by"] == "dev-warehouse"
    with tenv.auto_time_skipping_disabled():
        await tenv.client.get_workflow_handle(ids[0]).result()
    await record_history(tenv, ids[0], "overstock_local")


async def test_pages_draft_a_plan_review_it_in_the_inbox_and_cancel_it(
        api: httpx.AsyncClient, catalogue: None) -> None:
    from tests.test_ui_pages import csrf_of, post_form, sign_in

    await sign_in(api, "dev-cs")
    start = datetime.now(UTC) + timedelta(days=3)
    form = {"name": "Cup days", "skus": "CUP, TEA", "discount_percent": "15",
            "start_at": start.isoformat(), "end_at": (start + timedelta(days=2)).isoformat(),
            "segment": "all", "description": ""}
    bad = await post_form(api, "/ui/promotions/new", "/ui/promotions/new",
                          {**form, "discount_percent": "95"})
    assert bad.status_code == 422 and 'data-testid="field-error"' in bad.text
    page = await api.get("/ui/promotions/new")
    key = page.text.split('name="request_key" value="')[1].split('"')[0]
    r = await api.post("/ui/promotions/new", data={"csrf_token": csrf_of(page.text),
                                                   "request_key": key, **form})
    assert r.status_code == 303, r.text
    case_page = r.headers["location"].split("?")[0]
    pid = case_page.rsplit("/", 1)[1]
    again = await api.post("/ui/promotions/new", data={"csrf_token": csrf_of(page.text),
                                                       "request_key": key, **form})
    assert again.headers["location"].split("?")[0] == case_page  # a double submit: one plan
    listed = await api.get("/ui/promotions")
    assert listed.status_code == 200 and "Cup days" in listed.text

    api.cookies.clear()
    await sign_in(api, "dev-finance")
    task = await open_task(api, pid, "promotion.review", role="finance")
    task_page = await api.get(f"/ui/tasks/{task['id']}")
    assert task_page.status_code == 200 and "Pass to approval" in task_page.text

    api.cookies.clear()
    await sign_in(api, "dev-cs")
    shown = await api.get(case_page)
    assert shown.status_code == 200 and "Cancel the plan" in shown.text
    r = await post_form(api, case_page, f"{case_page}/actions/cancel",
                        {"cancel.reason": "wrong dates"})
    assert r.status_code == 303, r.text
    await wait_case(api, path(pid), lambda c: c["status"] == "cancelled")


async def test_the_overstock_task_page_takes_a_proposal(
        api: httpx.AsyncClient, settings: Settings, tenv: WorkflowEnvironment) -> None:
    from tests.helpers import make_product
    from tests.test_ui_forms import field_error, switch
    from tests.test_ui_pages import inbox_task, post_form

    await make_product(api, "POT", stock=4)
    settings.overstock_days = 30
    day = (datetime.now(UTC) + timedelta(days=31)).date()
    with tenv.auto_time_skipping_disabled():
        done = await tenv.client.execute_workflow(
            OverstockReview.run, OverstockRun(day.isoformat()), id="overstock-review-form",
            task_queue=settings.task_queue)
    case_id = overstock_id("POT", overstock_period(day, 30))
    assert done.started == [case_id]
    await switch(api, "dev-warehouse")
    task = await inbox_task(api, f"{case_id}", "inventory.overstock")
    page = (await api.get(task)).text
    assert "Propose a promotion" in page and "Return to the supplier" in page
    assert "做促销" not in page  # one language per reader (English: no Accept-Language)
    assert 'name="return_to_supplier.quantity" value="4"' in page  # what is available
    r = await post_form(api, task, task, {"decision": "return_to_supplier",
                                          "return_to_supplier.quantity": "9"})
    assert r.status_code == 422
    assert "whole number from 1 to 4" in field_error(r.text, "return_to_supplier.quantity")
    r = await post_form(api, task, task, {"decision": "keep", "keep.note": "seasonal: winter"})
    assert r.status_code == 200, r.text
    c = await wait_case(api, f"/api/v1/tasks/{task.rsplit('/', 1)[1]}",
                        lambda t: t["status"] == "done")
    assert c["decision"]["data"] == {"note": "seasonal: winter"}
    assert (await stock(api, "POT"))["on_hand"] == 4
