"""Where cases wait (issue 17.8): the step map from hand-made timelines and tasks (exact
medians and p90s, the period, the channel, the open cases per stage), ``GET
/api/v1/reports/steps`` (roles, 422s naming the field, CSV) and the ops page with its export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.db import session_scope
from shopflow.models import Case, Task, TimelineEvent
from shopflow.services import steps
from shopflow.settings import Settings
from tests.helpers import app_for, auth
from tests.test_ui_pages import sign_in

pytestmark = pytest.mark.asyncio
FEB = (datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))


def t(month: int, day: int, hour: float = 0) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC) + timedelta(hours=hour)


def add_case(engine: Engine, case_id: str, events: list[tuple[str, datetime]], *,
             kind: str = "sample", stage: str = "review", channel: str = "web",
             closed: bool = False) -> None:
    with session_scope(engine) as s:
        s.add(Case(id=case_id, kind=kind, workflow_id=f"{kind}-{case_id}", status="open",
                   stage=stage, created_at=events[0][1], updated_at=events[-1][1],
                   closed_at=events[-1][1] if closed else None, data={"channel": channel}))
        for seq, (kind_of_event, at) in enumerate(events, 1):
            s.add(TimelineEvent(case_id=case_id, workflow_id=f"{kind}-{case_id}", seq=seq,
                                at=at, type=kind_of_event))


def add_task(engine: Engine, task_id: str, case_id: str, opened: datetime,
             done: datetime | None, kind: str = "sample.review") -> None:
    with session_scope(engine) as s:
        s.add(Task(id=task_id, kind=kind, role="reviewer", status="done" if done else "open",
                   case_id=case_id, case_kind=kind.split(".")[0], workflow_id=f"wf-{case_id}",
                   due_at=opened + timedelta(days=1), created_at=opened, completed_at=done))


@pytest.fixture
def timelines(engine: Engine) -> None:
    """Web samples S1-S5 reviewed after 1, 2, 3, 4 and 10 h (S1, S2 shipped 5 and 7 h later);
    an e-mail sample reviewed after 100 h; a January sample; one step ending in March; an
    order by phone. Review tasks of 2, 4 and 6 h, one still open, one done in March."""
    for i, h in enumerate((1, 2, 3, 4, 10), 1):
        events = [("created", t(2, 10)), ("reviewed", t(2, 10, h))]
        if i <= 2:
            events.append(("shipped", t(2, 10, h + (5, 7)[i - 1])))
        add_case(engine, f"S{i}", events, stage="dispatch" if i == 4 else "review",
                 closed=i == 5)
    add_case(engine, "S6", [("created", t(2, 12)), ("reviewed", t(2, 12, 100))], channel="email")
    add_case(engine, "S7", [("created", t(1, 10)), ("reviewed", t(1, 11))], closed=True)
    add_case(engine, "S8", [("created", t(2, 27)), ("reviewed", t(3, 2))], stage="dispatch")
    add_case(engine, "O1", [("created", t(2, 3)), ("paid", t(2, 3, 0.5))], kind="order",
             channel="phone",
             stage="payment")
    for n, h in enumerate((2, 4, 6), 1):
        add_task(engine, f"T{n}", f"S{n}", t(2, 10), t(2, 10, h))
    add_task(engine, "T4", "S4", t(2, 10), None)
    add_task(engine, "T5", "S8", t(2, 27), t(3, 2))


def by_process(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["process"]: p for p in found}


def step(p: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    return next(s for s in p["steps"] if (s["from"], s["to"]) == (a, b))


async def test_medians_and_p90s_per_step_and_task_kind_from_the_timelines(
        engine: Engine, timelines: None) -> None:
    web = by_process(steps.step_map(engine, ["sample", "order"], *FEB, "web"))
    sample = web["sample"]
    assert step(sample, "created", "reviewed") == {
        "from": "created", "to": "reviewed", "count": 5, "median_hours": 3.0, "p90_hours": 10.0}
    assert step(sample, "reviewed", "shipped") == {
        "from": "reviewed", "to": "shipped", "count": 2, "median_hours": 6.0, "p90_hours": 7.0}
    assert [(s["from"], s["to"]) for s in sample["steps"]] == [  # slowest median first
        ("reviewed", "shipped"), ("created", "reviewed")]
    assert sample["tasks"] == [{"kind": "sample.review", "count": 3, "median_hours": 4.0,
                                "p90_hours": 6.0, "open": 1}]
    assert sample["waiting"] == [{"stage": "review", "cases": 3},
                                 {"stage": "dispatch", "cases": 2}]
    assert web["order"]["steps"] == [] and web["order"]["waiting"] == []  # no web order

    every = by_process(steps.step_map(engine, None, *FEB))
    assert set(every) == {"sample", "order", "return", "complaint", "followup", "revisit",
                          "stocktake", "enquiry", "promotion", "overstock", "reconciliation"}
    assert step(every["sample"], "created", "reviewed") == {  # with S6's 100 h
        "from": "created", "to": "reviewed", "count": 6, "median_hours": 3.5, "p90_hours": 100.0}
    assert {"stage": "review", "cases": 4} in every["sample"]["waiting"]
    assert every["order"]["steps"] == [{"from": "created", "to": "paid", "count": 1,
                                        "median_hours": 0.5, "p90_hours": 0.5}]
    assert every["order"]["waiting"] == [{"stage": "payment", "cases": 1}]

    march = by_process(steps.step_map(engine, ["sample"], t(3, 1), t(4, 1)))["sample"]
    assert march["steps"] == [{"from": "created", "to": "reviewed", "count": 1,
                               "median_hours": 72.0, "p90_hours": 72.0}]
    assert march["tasks"][0]["count"] == 1 and march["tasks"][0]["median_hours"] == 72.0


@pytest.fixture
async def http(settings: Settings, engine: Engine,
               timelines: None) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as client:
        yield client


def locs(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    return [d["loc"][-1] for d in details] if isinstance(details, list) else list(details)


async def test_the_api_answers_ops_and_admin_with_json_or_csv(http: httpx.AsyncClient) -> None:
    path = "/api/v1/reports/steps"
    params = {"process": "sample", "from": "2025-02-01", "to": "2025-02-28", "channel": "web"}
    r = await http.get(path, params=params, headers=auth("ops"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period_start"].startswith("2025-02-01T00:00:00") and body["channel"] == "web"
    [sample] = body["processes"]
    assert step(sample, "created", "reviewed")["p90_hours"] == 10.0
    assert (await http.get(path, params=params, headers=auth("admin"))).status_code == 200
    for role in ("cs", "reviewer", "warehouse", "finance", "channel"):
        assert (await http.get(path, params=params, headers=auth(role))).status_code == 403
    assert (await http.get(path)).status_code == 401

    exported = await http.get(path, params={**params, "format": "csv"}, headers=auth("ops"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == steps.CSV_HEADER
    assert ["sample", "step", "created -> reviewed", "5", "3.0", "10.0", ""] in rows
    assert ["sample", "task", "sample.review", "3", "4.0", "6.0", "1"] in rows
    assert ["sample", "waiting", "dispatch", "", "", "", "2"] in rows
    assert "/api/v1/reports/steps" in (await http.get("/openapi.json")).json()["paths"]


async def test_bad_input_is_a_422_naming_the_field(http: httpx.AsyncClient) -> None:
    path = "/api/v1/reports/steps"
    ops = auth("ops")
    assert locs(await http.get(path, params={"process": "cake"}, headers=ops)) == ["process"]
    assert locs(await http.get(path, params={"from": "2025-13-01"}, headers=ops)) == ["from"]
    assert locs(await http.get(path, params={"to": "yesterday"}, headers=ops)) == ["to"]
    assert locs(await http.get(path, params={"channel": "x" * 41}, headers=ops)) == ["channel"]
    assert locs(await http.get(path, params={"channel": "we\x00b"}, headers=ops)) == ["channel"]
    edge = await http.get(path, params={"from": "9999-12-31", "to": "9999-12-31"}, headers=ops)
    assert set(locs(edge)) == {"from", "to"}  # the day after cannot be held: 422, not 500
    assert locs(await http.get(path, params={"format": "xml"}, headers=ops)) == ["format"]
    reversed_ = await http.get(path, params={"from": "2025-03-01", "to": "2025-02-01"},
                               headers=ops)
    assert set(locs(reversed_)) == {"from", "to"}
    assert reversed_.json()["error"]["code"] == "invalid_period"


async def test_the_ops_page_draws_a_table_per_process_and_exports_csv(
        http: httpx.AsyncClient) -> None:
    await sign_in(http, "dev-cs")
    assert (await http.get("/ui/reports/steps")).status_code == 403
    assert (await http.get("/ui/reports/steps.csv")).status_code == 403
    http.cookies.clear()
    await sign_in(http, "dev-ops")
    assert 'href="/ui/reports/steps"' in (await http.get("/ui/dashboard")).text
    page = await http.get("/ui/reports/steps", params={"from": "2025-02-01", "to": "2025-02-28",
                                                       "channel": "web"})
    assert page.status_code == 200, page.text
    assert page.text.count("<section class=\"card\" data-process=") == 11
    assert "created → reviewed" in page.text and "10.00 h" in page.text
    assert ('href="/ui/reports/steps.csv?from=2025-02-01&amp;to=2025-02-28&amp;channel=web"'
            in page.text)
    exported = await http.get("/ui/reports/steps.csv", params={
        "process": "sample", "from": "2025-02-01", "to": "2025-02-28", "channel": "web"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "sample,step,created -> reviewed,5,3.0,10.0," in exported.text
    assert (await http.get("/ui/reports/steps", params={"process": "cake"})).status_code == 422
