"""Reconciliation with the payment provider's own daily report (issue 18, 财务对账): the
simulator's report (and the differences it can be told to make up), the comparison with the
books, a finance task per difference (once however often a day is checked), finance's decisions
(an adjustment line for ``accept_provider``, a note required otherwise), a day with open
differences refused for settling, the scheduled run's day, and the page's button."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.client import Client

from shopflow.api.app import create_app
from shopflow.db import session_scope
from shopflow.models import AuditEvent, Reconciliation
from shopflow.providers import Providers
from shopflow.providers.payments import PaymentSimulator
from shopflow.services import reconciliation
from shopflow.settings import Settings
from shopflow.workflows.finance import ProviderReconciliation, ReconcileResult, ReconcileRun
from tests.helpers import auth, complete, open_task, record_history
from tests.scenes import TOTAL, pay, place, wait_order
from tests.test_ui_pages import csrf_of, sign_in

TODAY = datetime.now(UTC).date()
KIND = "finance.reconciliation_difference"


# --- the parts ------------------------------------------------------------------------------

def test_compare_finds_each_kind_of_difference() -> None:
    books = [{"kind": "payment", "reference": "tx-1", "order_no": "SO-1", "amount_cents": 100},
             {"kind": "payment", "reference": "tx-2", "order_no": "SO-2", "amount_cents": 200},
             {"kind": "refund", "reference": "ref-1", "order_no": "SO-1", "amount_cents": 50},
             {"kind": "refund", "reference": "ref-2", "order_no": "SO-3", "amount_cents": 70}]
    report = [{"kind": "payment", "reference": "tx-1", "amount_cents": 100},
              {"kind": "payment", "reference": "tx-2", "amount_cents": 300},
              {"kind": "payment", "reference": "tx-9", "amount_cents": 10},
              {"kind": "refund", "reference": "ref-1", "amount_cents": 50}]
    assert reconciliation.compare(books, report) == [
        {"kind": "payment", "reference": "tx-2", "what": "amount_differs", "order_no": "SO-2",
         "books_cents": 200, "provider_cents": 300},
        {"kind": "payment", "reference": "tx-9", "what": "missing_in_books", "order_no": "",
         "books_cents": None, "provider_cents": 10},
        {"kind": "refund", "reference": "ref-2", "what": "missing_at_provider",
         "order_no": "SO-3", "books_cents": 70, "provider_cents": None}]
    assert reconciliation.compare(books, [dict(b) for b in books]) == []


def test_the_simulators_report_is_its_day_and_can_be_told_to_differ() -> None:
    now = [datetime(2026, 3, 1, 23, 30, tzinfo=UTC)]
    sim = PaymentSimulator(timezone="Asia/Shanghai", clock=lambda: now[0])
    sim.confirm("tx-1", 1000, "SO-1")  # 07:30 on 2 March in Shanghai
    now[0] += timedelta(hours=1)
    sim.refund("tx-1", 300, "k-1", "broken")
    sim.confirm("tx-2", 500, "SO-2")
    report = sim.daily_report(date(2026, 3, 2))
    assert [(x.kind, x.reference, x.amount_cents) for x in report.lines] == [
        ("payment", "tx-1", 1000), ("refund", "sim-ref-000001", 300), ("payment", "tx-2", 500)]
    assert sim.daily_report(date(2026, 3, 1)).lines == ()
    sim.report_script = ["drop_refund", "payment_amount", "extra_payment"]
    made_up = sim.daily_report(date(2026, 3, 2))
    assert sorted((x.kind, x.reference, x.amount_cents) for x in made_up.lines) == [
        ("payment", "SIM-EXTRA-2026-03-02", 100), ("payment", "tx-1", 1100),
        ("payment", "tx-2", 500)]
    assert len(sim.daily_report(date(2026, 3, 2)).lines) == 3  # told once: the next is true


# --- the process ----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_differences_open_finance_tasks_once_and_decisions_close_them(
        api: httpx.AsyncClient, catalogue: None, providers: Providers, engine: Engine,
        tenv: Any) -> None:
    paid = await place(api, order_no="REC-1")
    assert (await pay(api, paid, tx="PAY-REC-1")).status_code == 201
    refunded = await place(api, order_no="REC-2")
    assert (await pay(api, refunded, tx="PAY-REC-2")).status_code == 201
    await wait_order(api, refunded, "fulfilling")
    r = await api.post(f"/api/v1/orders/{refunded}/cancel", headers=auth("cs"),
                       json={"reason": "changed their mind"})
    assert r.status_code == 200, r.text

    # the books and the provider agree: nothing to decide
    r = await api.post("/api/v1/reconciliation/check", headers=auth("finance"),
                       json={"date": TODAY.isoformat()})
    assert r.status_code == 200, r.text
    assert (r.json()["report_lines"], r.json()["differences"]) == (3, [])

    sim = providers.payments
    assert isinstance(sim, PaymentSimulator)
    sim.report_script = ["drop_refund", "payment_amount"]
    r = await api.post("/api/v1/reconciliation/check", headers=auth("ops"),
                       json={"date": TODAY.isoformat()})
    assert r.status_code == 200, r.text
    found = {d["what"]: d for d in r.json()["differences"]}
    assert set(found) == {"missing_at_provider", "amount_differs"}
    assert found["missing_at_provider"]["kind"] == "refund"
    assert found["missing_at_provider"]["books"] == TOTAL
    assert found["amount_differs"]["provider_amount"] == found["amount_differs"]["books"] + 1
    assert sorted(r.json()["started"]) == sorted(d["case_id"] for d in found.values())

    # checked again (the provider still says so): the same differences, no new case
    sim.report_script = ["drop_refund", "payment_amount"]
    again = await api.post("/api/v1/reconciliation/check", headers=auth("finance"),
                           json={"date": TODAY.isoformat()})
    assert again.json()["started"] == [] and len(again.json()["differences"]) == 2

    day = (await api.get("/api/v1/reconciliation", headers=auth("finance"),
                         params={"date": TODAY.isoformat(), "provider": "online"})).json()
    assert day["providers"][0]["open_differences"] == 2
    r = await api.post("/api/v1/reconciliation/settle", headers=auth("finance"),
                       json={"date": TODAY.isoformat(), "provider": "online"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "open_differences", r.text

    amount_task = await open_task(api, found["amount_differs"]["case_id"], KIND, role="finance")
    assert amount_task["role"] == "finance"
    r = await complete(api, amount_task, "accept_provider", note="gateway fee was refunded")
    assert r.status_code == 200, r.text
    refund_task = await open_task(api, found["missing_at_provider"]["case_id"], KIND,
                                  role="finance")
    r = await complete(api, refund_task, "fix_books")
    assert r.status_code == 422 and "note" in r.text, r.text
    r = await complete(api, refund_task, "raise_with_provider", note="claim #77 with the gateway")
    assert r.status_code == 200, r.text
    for d in found.values():  # each difference case ends with its decision
        done = await tenv.client.get_workflow_handle(d["case_id"]).result()
        assert done["status"] == "closed"
    await record_history(tenv, found["amount_differs"]["case_id"], "reconciliation_difference")

    day = (await api.get("/api/v1/reconciliation", headers=auth("finance"),
                         params={"date": TODAY.isoformat(), "provider": "online"})).json()
    shown = {d["what"]: d for d in day["providers"][0]["differences"]}
    assert shown["amount_differs"]["decision"] == "accept_provider"
    assert shown["missing_at_provider"]["note"] == "claim #77 with the gateway"
    assert day["providers"][0]["open_differences"] == 0
    with session_scope(engine, write=False) as s:
        [adjust] = s.exec(select(Reconciliation).where(
            col(Reconciliation.kind) == "adjustment")).all()
        decided = s.exec(select(AuditEvent).where(
            col(AuditEvent.entity) == "reconciliation")).all()
    assert adjust.amount_cents == 100 and adjust.reference == found["amount_differs"]["reference"]
    assert {e.action for e in decided} == {"accept_provider", "raise_with_provider"}
    r = await api.post("/api/v1/reconciliation/settle", headers=auth("finance"),
                       json={"date": TODAY.isoformat(), "provider": "online"})
    assert r.status_code == 201, r.text


@pytest.mark.asyncio
async def test_the_scheduled_run_compares_yesterday(
        client: Client, worker: object, settings: Settings, providers: Providers,
        tenv: Any) -> None:
    sim = providers.payments
    assert isinstance(sim, PaymentSimulator)
    sim.report_script = ["extra_payment"]
    result = await client.execute_workflow(
        ProviderReconciliation.run, ReconcileRun(), id="reconciliation-test",
        task_queue=settings.task_queue, result_type=ReconcileResult)
    yesterday = TODAY - timedelta(days=1)
    assert result.day == yesterday.isoformat()
    [diff] = result.differences
    assert (diff["what"], diff["reference"]) == ("missing_in_books",
                                                f"SIM-EXTRA-{yesterday.isoformat()}")
    assert result.started == [diff["case_id"]]
    await record_history(tenv, "reconciliation-test", "provider_reconciliation")


@pytest.mark.asyncio
async def test_bad_checks_name_the_field_and_roles(api: httpx.AsyncClient) -> None:
    for body in ({}, {"date": "2026-02-30"}, {"date": TODAY.isoformat(), "x": 1}):
        r = await api.post("/api/v1/reconciliation/check", headers=auth("finance"), json=body)
        assert r.status_code == 422, r.text
    r = await api.post("/api/v1/reconciliation/check", headers=auth("finance"),
                       json={"date": (TODAY + timedelta(days=2)).isoformat()})
    assert r.status_code == 422 and "date" in r.text
    r = await api.post("/api/v1/reconciliation/check", headers=auth("cs"),
                       json={"date": TODAY.isoformat()})
    assert r.status_code == 403


@pytest.mark.asyncio
async def test_the_page_compares_on_demand(api: httpx.AsyncClient, providers: Providers,
                                           settings: Settings, engine: Engine,
                                           client: Client) -> None:
    sim = providers.payments
    assert isinstance(sim, PaymentSimulator)
    sim.report_script = ["extra_payment"]
    app = create_app(settings, engine=engine, client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as ui:
        await sign_in(ui, "dev-finance")
        page = await ui.get("/ui/reconciliation", params={"date": TODAY.isoformat()})
        assert 'data-testid="check-online"' in page.text
        assert 'data-testid="no-differences"' in page.text
        done = await ui.post("/ui/reconciliation/check", data={
            "csrf_token": csrf_of(page.text), "date": TODAY.isoformat()})
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith("note=checked")
        shown = await ui.get(done.headers["location"])
        assert 'data-testid="differences"' in shown.text
        assert f"SIM-EXTRA-{TODAY.isoformat()}" in shown.text
        assert "/ui/cases/reconciliation/recdiff-" in shown.text
        # finance decides on the task page: a claim with the provider needs its note
        case_id = re.search(r"/ui/cases/reconciliation/(recdiff-\d+)", shown.text)
        assert case_id is not None
        task = await open_task(api, case_id.group(1), KIND, role="finance")
        path = f"/ui/tasks/{task['id']}"
        form = await ui.get(path)
        assert form.status_code == 200 and 'value="raise_with_provider"' in form.text
        assert "missing_in_books" in form.text or "账面缺少" in form.text
        refused = await ui.post(path, data={"csrf_token": csrf_of(form.text),
                                            "decision": "raise_with_provider",
                                            "raise_with_provider.note": " "})
        assert refused.status_code == 422 and "note" in refused.text
        done = await ui.post(path, data={"csrf_token": csrf_of(form.text),
                                         "decision": "raise_with_provider",
                                         "raise_with_provider.note": "not ours: claim #12"})
        assert done.status_code == 200, done.text
        day = await ui.get("/ui/reconciliation", params={"date": TODAY.isoformat()})
        assert "not ours: claim #12" in day.text
