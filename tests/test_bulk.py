"""Bulk work (issue 17.2): ``POST /api/v1/tasks/bulk`` (claim, release, assign, complete: each
task through the path of the single route, its own result with the single route's error
codes), ``POST /api/v1/shipments/batch`` and the pages: select tasks in the inbox and act, one
pick list for the selected orders, orders marked shipped from a pasted or uploaded CSV (a
result per line, bad lines named, never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.api.auth import create_token
from shopflow.db import session_scope
from shopflow.models import Task
from shopflow.settings import Settings
from tests.helpers import app_for, auth, open_task
from tests.scenes import place, wait_order
from tests.test_sample_process import submit
from tests.test_ui_pages import add_task, csrf_of, sign_in

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def pages(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no Temporal behind it: claims and releases need only the database."""
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as client:
        yield client


def results(r: httpx.Response) -> dict[str, tuple[int, str | None]]:
    assert r.status_code == 200, r.text
    return {x["task_id"]: (x["status"], x["code"]) for x in r.json()["results"]}


def claimed_by(engine: Engine, task_id: str, who: str) -> None:
    with session_scope(engine) as s:
        task = s.get(Task, task_id)
        assert task is not None
        task.status, task.assignee = "claimed", who
        s.add(task)


async def test_bulk_claim_and_release_answer_per_task_with_the_single_routes_codes(
        pages: httpx.AsyncClient, engine: Engine) -> None:
    for t in ("t-1", "t-2", "t-bob"):
        add_task(engine, t, kind="sample.preliminary_review", role="cs")
    add_task(engine, "t-done", kind="sample.preliminary_review", role="cs", status="done")
    add_task(engine, "t-rev", kind="sample.review", role="reviewer")
    claimed_by(engine, "t-bob", "bob")
    alice = {"Authorization": f"Bearer {create_token(engine, 'cs', 'alice')}"}
    ids = ["t-1", "t-2", "t-bob", "t-done", "t-rev", "t-nope"]
    r = await pages.post("/api/v1/tasks/bulk", headers=alice,
                         json={"action": "claim", "task_ids": ids})
    assert results(r) == {"t-1": (200, None), "t-2": (200, None),
                          "t-bob": (409, "claimed_by_other"), "t-done": (409, "task_not_open"),
                          "t-rev": (403, "forbidden"), "t-nope": (404, "not_found")}
    body = r.json()
    assert (body["done"], body["failed"]) == (2, 4)
    assert [x["task_id"] for x in body["results"]] == ids  # in the order asked
    assert body["results"][0]["task"]["assignee"] == "alice"
    r = await pages.post("/api/v1/tasks/bulk", headers=alice,
                         json={"action": "release", "task_ids": ["t-1", "t-bob"]})
    assert results(r) == {"t-1": (200, None), "t-bob": (409, "not_claimed_by_you")}


async def test_a_bulk_request_that_is_wrong_as_a_whole_is_a_422_naming_the_field(
        pages: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"action": "complete", "task_ids": ["a"]}, "decision"),
        ({"action": "assign", "task_ids": ["a"]}, "to"),
        ({"action": "claim", "task_ids": ["a", "a"]}, "task_ids"),
        ({"action": "claim", "task_ids": []}, "task_ids"),
        ({"action": "claim", "task_ids": [f"t{i}" for i in range(101)]}, "task_ids"),
        ({"action": "approve_all", "task_ids": ["a"]}, "action"),
        ({"action": "claim", "task_ids": ["a"], "colour": "red"}, "colour"),
        ({"action": "complete", "task_ids": ["a"], "decision": "x", "data": []}, "data"),
    ]
    for body, field in cases:
        r = await pages.post("/api/v1/tasks/bulk", headers=auth("cs"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["loc"][-1] == field, (body, r.text)
    nul = await pages.post("/api/v1/tasks/bulk", headers=auth("cs"),
                           json={"action": "claim", "task_ids": ["t\x00"]})
    assert nul.status_code in (200, 422), nul.text  # never a 500 (PostgreSQL refuses NUL)
    assert (await pages.post("/api/v1/tasks/bulk", json={"action": "claim",
                                                         "task_ids": ["a"]})).status_code == 401
    assert "/api/v1/tasks/bulk" in (await pages.get("/openapi.json")).json()["paths"]


async def test_bulk_complete_sends_each_task_its_own_update(
        api: httpx.AsyncClient, catalogue: None, engine: Engine) -> None:
    sids = [await submit(api, customer_id=f"c-{i}") for i in range(3)]
    tasks = [await open_task(api, sid, "sample.preliminary_review", role="cs") for sid in sids]
    first, second, third = (t["id"] for t in tasks)
    bad = await api.post("/api/v1/tasks/bulk", headers=auth("cs"), json={
        "action": "complete", "task_ids": [first], "decision": "ship_it"})
    assert results(bad)[first][0] == 422  # the workflow's validator, as the single route
    r = await api.post("/api/v1/tasks/bulk", headers=auth("cs"), json={
        "action": "complete", "task_ids": [first, second], "decision": "approve",
        "comment": "documents fine"})
    assert results(r) == {first: (200, None), second: (200, None)}
    outcome = r.json()["results"][0]["outcome"]
    assert (outcome["decision"], outcome["case_id"]) == ("approve", sids[0])
    again = await api.post("/api/v1/tasks/bulk", headers=auth("cs"), json={
        "action": "complete", "task_ids": [first, third], "decision": "approve"})
    assert results(again) == {first: (409, "task_not_open"), third: (200, None)}
    nobody = await api.post("/api/v1/tasks/bulk", headers=auth("reviewer"), json={
        "action": "complete", "task_ids": [third], "decision": "approve"})
    assert results(nobody) == {third: (403, "forbidden")}
    review = await open_task(api, sids[0], "sample.review", role="reviewer")
    handed = await api.post("/api/v1/tasks/bulk", headers=auth("ops"), json={
        "action": "assign", "task_ids": [review["id"], first], "to": "dev-reviewer"})
    assert results(handed) == {review["id"]: (200, None), first: (409, "task_not_open")}


async def test_orders_ship_from_csv_lines_each_through_its_fulfilment_task(
        api: httpx.AsyncClient, catalogue: None) -> None:
    one, two = [await place(api, order_no=no, method="cod") for no in ("CSV-1", "CSV-2")]
    unpaid = await place(api, order_no="CSV-3")  # online, not paid: nothing to ship yet
    for no in (one, two):
        await open_task(api, no, "order.fulfil")
    csv = (f"order_no,courier,tracking_no\n{one},SF Express,SF5550001\n"
           f"{two}, YTO ,YT5550002\n\n{one},SF Express,SF5550009\nNOPE-1,SF,SF5550003\n"
           f"{unpaid},SF,SF5550004\nCSV-9,SF\n")
    r = await api.post("/api/v1/shipments/batch", headers=auth("warehouse"), json={"csv": csv})
    assert r.status_code == 200, r.text
    got = {x["line"]: (x["order_no"], x["ok"], x["code"]) for x in r.json()["results"]}
    assert got == {2: (one, True, None), 3: (two, True, None),
                   5: (one, False, "duplicate_row"), 6: ("NOPE-1", False, "not_found"),
                   7: (unpaid, False, "not_ready_to_ship"), 8: ("CSV-9", False, "invalid_row")}
    assert r.json()["results"][-1]["message"] == "missing tracking_no"
    assert (r.json()["done"], r.json()["failed"]) == (2, 4)
    shipped = await wait_order(api, two, "shipped")
    assert shipped["shipments"][0]["tracking_no"] == "YT5550002"
    assert shipped["shipments"][0]["courier"] == "YTO"
    again = await api.post("/api/v1/shipments/batch", headers=auth("warehouse"),
                           json={"csv": f"{one},SF Express,SF5550001"})
    assert again.json()["results"][0]["code"] == "not_ready_to_ship"  # shipped already
    for body, who, status in (({"csv": f"{one},SF,SF1"}, "cs", 403),
                              ({"csv": " \n \n"}, "warehouse", 422),
                              ({"csv": ""}, "warehouse", 422),
                              ({"rows": []}, "warehouse", 422),
                              ({"csv": "a,b,c\n" * 501}, "warehouse", 422),
                              ({"csv": "x" * 150_000}, "warehouse", 422)):
        r = await api.post("/api/v1/shipments/batch", headers=auth(who), json=body)
        assert r.status_code == status, (body, r.text)
        if status == 422:
            assert r.json()["error"]["details"][0]["loc"][-1] in ("csv", "rows"), r.text


async def test_the_inbox_acts_on_selected_tasks_and_shows_each_result(
        pages: httpx.AsyncClient, engine: Engine) -> None:
    for t in ("t-1", "t-2"):
        add_task(engine, t, kind="sample.preliminary_review", role="cs")
    claimed_by(engine, "t-2", "bob")
    await sign_in(pages, "dev-cs")
    inbox = await pages.get("/ui/inbox")
    assert 'data-testid="bulk-form"' in inbox.text and 'form="bulk"' in inbox.text
    assert 'href="/ui/ship"' not in inbox.text
    one_kind = await pages.get("/ui/inbox", params={"kind": "sample.preliminary_review"})
    assert '<select name="decision"' in one_kind.text and '<option value="approve">' in one_kind.text
    assert (await pages.get("/ui/ship")).status_code == 403  # the warehouse's page
    r = await pages.post("/ui/tasks/bulk", data={
        "csrf_token": csrf_of(inbox.text), "action": "claim", "task": ["t-1", "t-2"],
        "next": "/ui/inbox?view=mine"})
    assert r.status_code == 200, r.text
    assert 'data-result="t-1" class="ok"' in r.text
    assert 'data-result="t-2" class="failed"' in r.text and 'data-code="claimed_by_other"' in r.text
    # the results show where the action was taken: on the inbox (its view as it was), which
    # goes on updating itself from its own address, the results kept as it does
    assert 'data-testid="bulk-done" id="bulk-done" data-keep' in r.text
    assert 'data-testid="inbox-views"' in r.text and 'data-here="/ui/inbox?view=mine"' in r.text
    assert 'data-live="/ui/inbox/events?since=' in r.text
    for data, message in (({"action": "claim"}, "Tick the tasks"),
                          ({"action": "complete", "task": ["t-1"]}, "complete needs a decision"),
                          ({"action": "complete", "task": ["t-1"], "decision": "approve",
                            "data": "[1]"}, "Data must be a JSON object")):
        r = await pages.post("/ui/tasks/bulk", data={"csrf_token": csrf_of(inbox.text), **data})
        assert r.status_code == 422 and message in r.text, (data, r.text)


async def test_one_pick_list_for_the_selected_orders_and_the_ship_page(
        api: httpx.AsyncClient, catalogue: None) -> None:
    one, two = [await place(api, order_no=no, method="cod") for no in ("PL-1", "PL-2")]
    picks = [await open_task(api, no, "order.fulfil") for no in (one, two)]
    await sign_in(api, "dev-warehouse")
    inbox = await api.get("/ui/inbox")
    assert 'href="/ui/ship"' in inbox.text
    r = await api.post("/ui/tasks/bulk", data={
        "csrf_token": csrf_of(inbox.text), "action": "pick_list",
        "task": [t["id"] for t in picks]})
    assert r.status_code == 200, r.text
    assert "Pick list for 2 orders" in r.text and one in r.text and two in r.text
    totals = r.text.split('data-testid="pick-totals"')[1].split("</table>")[0]
    assert "<td>TEA</td>" in totals and "<strong>4</strong>" in totals  # 2 + 2

    page = await api.get("/ui/ship")
    assert page.status_code == 200
    r = await api.post("/ui/ship", data={"csrf_token": csrf_of(page.text)},
                       files={"file": ("batch.csv", f"{one},SF,SF7770001\nNOPE,SF,SF7\n".encode(),
                                       "text/csv")})
    assert r.status_code == 200, r.text
    assert 'data-line="1" class="ok"' in r.text
    assert 'data-line="2" class="failed"' in r.text and 'data-code="not_found"' in r.text
    r = await api.post("/ui/ship", data={"csrf_token": csrf_of(page.text)},
                       files={"file": ("batch.csv", b"\xff\xfe\x00bad", "text/csv")})
    assert r.status_code == 422 and "UTF-8" in r.text
    r = await api.post("/ui/ship", data={"csrf_token": csrf_of(page.text), "csv": "  "})
    assert r.status_code == 422 and "no rows" in r.text


async def test_a_page_of_preliminary_reviews_approved_with_one_comment(
        api: httpx.AsyncClient, catalogue: None) -> None:
    sids = [await submit(api, customer_id=f"c-p{i}") for i in range(2)]
    tasks = [(await open_task(api, sid, "sample.preliminary_review", role="cs"))["id"]
             for sid in sids]
    await sign_in(api, "dev-cs")
    inbox = await api.get("/ui/inbox", params={"kind": "sample.preliminary_review"})
    r = await api.post("/ui/tasks/bulk", data={
        "csrf_token": csrf_of(inbox.text), "action": "complete", "task": tasks,
        "decision": "approve", "comment": "资质齐全 documents complete"})
    assert r.status_code == 200, r.text
    assert all(f'data-result="{t}" class="ok"' in r.text for t in tasks), r.text
    assert 'data-testid="bulk-summary"><strong>2</strong>' in r.text
    for sid in sids:
        await open_task(api, sid, "sample.review", role="reviewer")  # each case moved on
