"""Complaints end to end: API, worker with real activities, time-skipping Temporal. Default
clocks: first response 24 h, resolution 3 days, reopen window 7 days, task due 24 h."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Complaint, Notice, Order
from shopflow.services.complaints import complaint_input, complaint_workflow_id
from shopflow.services.complaints import start_complaint as start_workflow
from shopflow.worker import build_worker
from shopflow.workflows.complaint import ComplaintWorkflow, CustomerEscalation
from shopflow.workflows.shared import CustomerData
from tests.helpers import (
    auth,
    case,
    complete,
    eventually,
    form_token,
    open_task,
    record_history,
    wait_case,
)
from tests.test_ui_pages import post_form, sign_in

pytestmark = pytest.mark.asyncio


def complaint_body(customer_id: str = "c-1", **overrides: Any) -> dict[str, Any]:
    body = {
        "customer": {"id": customer_id, "name": "Wang Fang", "email": "wang@example.com"},
        "category": "quality",
        "description": "The teapot lid is cracked.",
        "channel": "web",
    }
    body.update(overrides)
    return body


async def file(api: httpx.AsyncClient, **overrides: Any) -> str:
    r = await api.post("/api/v1/complaints", headers=auth("channel"), json=complaint_body(**overrides))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["workflow_id"] == f"complaint-{body['id']}" and body["status"] == "open"
    return body["id"]  # type: ignore[no-any-return]


def path(cid: str) -> str:
    return f"/api/v1/complaints/{cid}"


def notices(engine: Any, cid: str) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return [(n.kind, n.recipient) for n in s.exec(select(Notice).where(Notice.case_id == cid)
                                                      .order_by(Notice.id))]


def kinds(engine: Any, cid: str) -> list[str]:
    return [k for k, _ in notices(engine, cid)]


def record(engine: Any, cid: str) -> Complaint:
    with Session(engine) as s:
        row = s.get(Complaint, cid)
        assert row is not None
        return row


def ladder(c: dict[str, Any]) -> list[tuple[int, str]]:
    return [(e["data"]["level"], e["data"]["cause"]) for e in c["timeline"]
            if e["type"] == "escalated"]


async def task_of(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    r = await api.get(f"/api/v1/tasks/{task_id}", headers=auth("ops"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def resolve(api: httpx.AsyncClient, cid: str, role: str = "cs", **data: Any) -> dict[str, Any]:
    task = await open_task(api, cid, "complaint.handle")
    r = await complete(api, task, "resolve", role=role, resolution="A new lid is on its way.",
                       **data)
    assert r.status_code == 200, r.text
    return await wait_case(api, path(cid),
                           lambda c: (c.get("feedback") or {}).get("status") == "requested")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_complaint_answered_in_time_and_closed_when_satisfied(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    cid = await file(api)
    c = await case(api, path(cid))
    assert (c["status"], c["stage"], c["level"], c["category"]) == ("open", "handling", 0, "quality")
    await eventually(lambda: ("complaint_received", "wang@example.com") in notices(engine, cid))

    task = await open_task(api, cid, "complaint.handle")
    assert task["role"] == "cs" and task["context"]["description"] == "The teapot lid is cracked."
    created = at((await case(api, path(cid)))["created_at"])
    assert abs((at(task["due_at"]) - created) - timedelta(hours=24)) < timedelta(minutes=1)

    await tenv.sleep(timedelta(hours=2))
    r = await complete(api, task, "respond", message="Sorry! Could you send a photo?")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"first_response": True, "waiting_customer": True}
    still = await task_of(api, task["id"])
    assert still["status"] == "open" and still["decision"] is None  # respond keeps it open
    c = await wait_case(api, path(cid), lambda c: c["status"] == "waiting_customer")
    assert c["sla"]["paused"] is True and c["sla"]["response_sla_met"] is True
    await eventually(lambda: "complaint_response" in kinds(engine, cid))

    r = await api.post(f"{path(cid)}/messages", headers=auth("channel"),
                       json={"text": "Photo attached."})
    assert r.status_code == 200, r.text
    assert r.json()["clocks_resumed"] is True and r.json()["status"] == "open"

    r = await complete(api, task, "resolve", resolution="A new lid is on its way.")
    assert r.status_code == 200, r.text
    again = await complete(api, task, "resolve", resolution="twice")
    assert again.status_code == 409
    c = await wait_case(api, path(cid),
                        lambda c: (c.get("feedback") or {}).get("status") == "requested")
    assert (c["status"], c["stage"]) == ("resolved", "satisfaction")
    assert c["feedback"]["url"].startswith("http://shop.test/feedback/")
    token = form_token(c)
    r = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 5})
    assert r.status_code == 200, r.text

    c = await wait_case(api, path(cid), lambda c: c["status"] == "closed")
    assert c["stage"] == "closed" and c["closed_at"] and ladder(c) == []
    types = [e["type"] for e in c["timeline"]]
    for expected in ("submitted", "task_opened", "task_progress", "waiting_customer",
                     "customer_message", "task_completed", "feedback_requested",
                     "feedback_received", "closed"):
        assert expected in types, expected
    assert [m["from"] for m in c["messages"]] == ["staff", "customer"]
    row = await eventually(lambda: _closed(record(engine, cid)))
    assert (row.status, row.level, row.escalations, row.satisfaction) == ("closed", 0, 0, 5)
    assert row.response_sla_met is True and row.resolution_sla_met is True
    assert row.first_response_at is not None and row.resolved_at is not None
    assert kinds(engine, cid) == ["complaint_received", "complaint_response",
                                  "complaint_resolved", "complaint_feedback_request"]
    await record_history(tenv, f"complaint-{cid}", "complaint_answered_local")


async def test_missed_first_response_escalates_to_ops(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    cid = await file(api)
    task = await open_task(api, cid, "complaint.handle")
    await tenv.sleep(timedelta(hours=25))
    escalated = await eventually(lambda: _if(task_of(api, task["id"]), lambda t: t["escalated"]))
    assert (escalated["role"], escalated["escalation_role"]) == ("cs", "ops")
    assert escalated["overdue"] is True
    assert escalated["context"]["level"] == 1
    c = await wait_case(api, path(cid), lambda c: c["level"] == 1)
    assert ladder(c) == [(1, "response_sla_missed")]
    await eventually(lambda: ("complaint_escalated", "ops@localhost") in notices(engine, cid))
    assert record(engine, cid).response_sla_met is False

    # cs keeps it, and ops may answer too
    r = await complete(api, escalated, "respond", role="cs", message="hello")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["first_response"] is True
    r = await complete(api, escalated, "respond", role="ops", message="We are on it.")
    assert r.status_code == 200, r.text


async def test_missed_resolution_escalates_again_to_level_two_and_tells_the_customer(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    cid = await file(api)
    await open_task(api, cid, "complaint.handle")
    await tenv.sleep(timedelta(hours=25))
    await wait_case(api, path(cid), lambda c: c["level"] == 1)
    await tenv.sleep(timedelta(days=2))
    c = await wait_case(api, path(cid), lambda c: c["level"] == 2)
    assert ladder(c) == [(1, "response_sla_missed"), (2, "resolution_sla_missed")]
    task = await open_task(api, cid, "complaint.handle")
    assert (task["role"], task["escalation_role"]) == ("cs", "ops")
    assert task["escalated"] and task["context"]["level"] == 2
    await eventually(lambda: ("complaint_status", "wang@example.com") in notices(engine, cid))
    assert [k for k, r in notices(engine, cid) if k == "complaint_escalated"] == [
        "complaint_escalated", "complaint_escalated"]
    row = record(engine, cid)
    assert (row.level, row.escalations, row.resolution_sla_met) == (2, 2, False)

    # a first response met in time, resolution missed: still level 2 (the second ladder step)
    other = await file(api, customer_id="c-2")
    t2 = await open_task(api, other, "complaint.handle")
    r = await complete(api, t2, "respond", message="Looking into it", await_reply=False)
    assert r.status_code == 200 and r.json()["result"]["waiting_customer"] is False
    await tenv.sleep(timedelta(days=3, hours=1))
    c = await wait_case(api, path(other), lambda c: c["level"] == 2)
    assert ladder(c) == [(2, "resolution_sla_missed")]
    assert record(engine, other).response_sla_met is True


async def test_clocks_pause_while_waiting_on_the_customer(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    cid = await file(api)
    task = await open_task(api, cid, "complaint.handle")
    r = await complete(api, task, "respond", message="Which model is it?")
    assert r.status_code == 200, r.text
    await wait_case(api, path(cid), lambda c: c["status"] == "waiting_customer")
    await tenv.sleep(timedelta(days=5))  # well past both clocks, but they are paused
    c = await case(api, path(cid))
    assert (c["status"], c["level"], ladder(c)) == ("waiting_customer", 0, [])
    assert c["sla"]["resolution_due_at"] is None and c["sla"]["paused"] is True

    r = await api.post(f"{path(cid)}/messages", headers=auth("channel"),
                       json={"text": "The Yixing one."})
    assert r.status_code == 200 and r.json()["clocks_resumed"] is True
    c = await wait_case(api, path(cid), lambda c: c["sla"]["resolution_due_at"] is not None)
    due = at(c["sla"]["resolution_due_at"])
    created = at(c["created_at"])
    assert abs(due - created - timedelta(days=8)) < timedelta(minutes=5)  # 3 days + 5 paused
    assert c["sla"]["paused_seconds"] >= timedelta(days=5).total_seconds() - 60
    shown = await task_of(api, task["id"])
    assert abs(at(shown["due_at"]) - due) < timedelta(seconds=5)
    a_second = await api.post(f"{path(cid)}/messages", headers=auth("cs"),
                              json={"text": "Also the cup."})
    assert a_second.status_code == 200 and a_second.json()["clocks_resumed"] is False

    await tenv.sleep(timedelta(days=2))
    assert (await case(api, path(cid)))["level"] == 0
    await tenv.sleep(timedelta(days=1, hours=1))
    c = await wait_case(api, path(cid), lambda c: c["level"] == 2)
    assert ladder(c) == [(2, "resolution_sla_missed")]
    assert any(e["type"] == "customer_message" and e["data"].get("clocks") == "resumed"
               for e in c["timeline"])
    await record_history(tenv, f"complaint-{cid}", "complaint_paused_local")


async def test_customer_escalates_after_resolution_and_reopens_one_level_up(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    cid = await file(api)
    early = await api.post(f"{path(cid)}/escalate", headers=auth("channel"),
                           json={"reason": "too slow"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "response_sla_not_passed"
    c = await resolve(api, cid)
    token = form_token(c)

    r = await api.post(f"{path(cid)}/escalate", headers=auth("channel"),
                       json={"reason": "The new lid does not fit either."})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["level"] == 1
    assert (await api.get(f"/feedback/{token}")).status_code == 409  # the old link is closed
    c = await wait_case(api, path(cid), lambda c: c["stage"] == "handling" and c["round"] == 2)
    assert ladder(c) == [(1, "customer")]
    assert "reopened" in [e["type"] for e in c["timeline"]]
    task = await open_task(api, cid, "complaint.handle")
    assert task["role"] == "ops" and task["context"]["round"] == 2
    await eventually(lambda: "complaint_reopened" in kinds(engine, cid))

    # not satisfied with the second resolution: one more level up
    c = await resolve(api, cid, role="ops")
    r = await api.post(f"/api/v1/feedback/{form_token(c)}",
                       json={"satisfaction": 2, "problem": "still leaking"})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(cid), lambda c: c["round"] == 3 and c["stage"] == "handling")
    assert ladder(c) == [(1, "customer"), (2, "not_satisfied")]

    # no answer within the window closes it
    await resolve(api, cid, role="ops")
    await tenv.sleep(timedelta(days=7, hours=1))
    c = await wait_case(api, path(cid), lambda c: c["status"] == "closed")
    assert c["feedback"]["status"] == "no_response"
    row = record(engine, cid)
    assert (row.status, row.level, row.reopened, row.escalations) == ("closed", 2, 2, 2)
    # each round's satisfaction question went out
    assert kinds(engine, cid).count("complaint_feedback_request") == 3
    late = await api.post(f"{path(cid)}/escalate", headers=auth("channel"), json={"reason": "x"})
    assert late.status_code == 409
    msg = await api.post(f"{path(cid)}/messages", headers=auth("channel"), json={"text": "x"})
    assert msg.status_code == 409
    await record_history(tenv, f"complaint-{cid}", "complaint_reopened_local")


async def test_customer_escalates_an_open_complaint_once_the_response_time_has_passed(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    """Seed 003 case 6: answered in time but not resolved, the customer escalates through the
    platform once the first-response time (24 h) has passed; not before, and once a round."""
    cid = await file(api)
    task = await open_task(api, cid, "complaint.handle")
    r = await complete(api, task, "respond", message="We are looking into it.",
                       await_reply=False)
    assert r.status_code == 200, r.text
    await tenv.sleep(timedelta(hours=20))
    early = await api.post(f"{path(cid)}/escalate", headers=auth("channel"),
                           json={"reason": "No news."})
    assert early.status_code == 409, early.text
    err = early.json()["error"]
    assert err["code"] == "response_sla_not_passed"
    passes = at(err["details"]["escalate_from"])
    c = await case(api, path(cid))
    assert c["sla"]["customer_may_escalate_from"] == err["details"]["escalate_from"]
    assert abs(passes - at(c["created_at"]) - timedelta(hours=24)) < timedelta(minutes=1)

    await tenv.sleep(timedelta(hours=5))
    r = await api.post(f"{path(cid)}/escalate", headers=auth("cs"),
                       json={"reason": "Still no new lid after a day."})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": cid, "status": "open", "level": 1, "clocks_resumed": None}
    c = await wait_case(api, path(cid), lambda c: c["level"] == 1)
    assert ladder(c) == [(1, "customer")] and c["stage"] == "handling"
    moved = await task_of(api, task["id"])
    assert (moved["escalation_role"], moved["escalated"], moved["status"]) == ("ops", True, "open")
    assert moved["context"]["level"] == 1
    await eventually(lambda: ("complaint_escalated", "ops@localhost") in notices(engine, cid))
    again = await api.post(f"{path(cid)}/escalate", headers=auth("channel"),
                           json={"reason": "and again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_escalated"

    # ops resolve it; the satisfaction stage still takes the customer's escalation
    r = await complete(api, moved, "resolve", role="ops", resolution="A new lid was sent.")
    assert r.status_code == 200, r.text
    await wait_case(api, path(cid), lambda c: (c.get("feedback") or {}).get("status")
                    == "requested")
    r = await api.post(f"{path(cid)}/escalate", headers=auth("channel"),
                       json={"reason": "It does not fit."})
    assert r.status_code == 200 and r.json()["level"] == 2, r.text
    row = await eventually(lambda: _if_row(record(engine, cid), lambda x: x.level == 2))
    assert (row.escalations, row.reopened, row.response_sla_met) == (2, 1, True)
    await record_history(tenv, f"complaint-{cid}", "complaint_escalated_after_sla")


async def test_customer_service_escalates_for_the_customer_from_the_complaint_page(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment) -> None:
    cid = await file(api)
    await open_task(api, cid, "complaint.handle")
    await sign_in(api, "dev-cs")
    page = f"/ui/cases/complaint/{cid}"
    assert "The customer escalates" in (await api.get(page)).text
    r = await post_form(api, page, f"{page}/actions/escalate", {"escalate.reason": "too slow"})
    assert r.status_code == 409 and 'data-testid="action-error"' in r.text
    assert "first-response time" in r.text
    await tenv.sleep(timedelta(hours=25))
    r = await post_form(api, page, f"{page}/actions/escalate",
                        {"escalate.reason": "The customer called twice."})
    assert r.status_code == 303 and r.headers["location"] == f"{page}?note=escalated"
    c = await wait_case(api, path(cid), lambda c: c["level"] == 2)
    # the missed response raised it to 1 first
    assert ladder(c) == [(1, "response_sla_missed"), (2, "customer")]


async def test_staff_escalation_hands_the_case_to_ops(api: httpx.AsyncClient) -> None:
    cid = await file(api)
    task = await open_task(api, cid, "complaint.handle")
    missing = await complete(api, task, "escalate")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "missing_field"
    wrong = await complete(api, task, "refund")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_decision"
    r = await complete(api, task, "escalate", reason="needs a supervisor")
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(cid), lambda c: c["level"] == 1)
    assert ladder(c) == [(1, "staff")]
    nxt = await eventually(lambda: _if(
        api.get("/api/v1/tasks", params={"case_id": cid, "kind": "complaint.handle"},
                headers=auth("ops")), lambda r: r.json()["items"] and
        r.json()["items"][0]["id"] != task["id"]))
    assert nxt.json()["items"][0]["role"] == "ops"


async def test_quality_resolution_records_or_starts_a_return(
        api: httpx.AsyncClient, engine: Any) -> None:
    with Session(engine) as s:
        s.add(Order(order_no="SO-1", customer_id="c-1", status="delivered", total_cents=8800))
        s.commit()
    service = await file(api, category="service")
    task = await open_task(api, service, "complaint.handle")
    r = await complete(api, task, "resolve", resolution="x",
                       start_return={"items": [{"sku": "POT", "quantity": 1}], "kind": "refund"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "return_needs_quality_complaint"
    no_order = await file(api)
    task = await open_task(api, no_order, "complaint.handle")
    r = await complete(api, task, "resolve", resolution="x",
                       start_return={"items": [{"sku": "POT", "quantity": 1}], "kind": "refund"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_order"

    cid = await file(api, order_no="SO-1")
    task = await open_task(api, cid, "complaint.handle")
    bad = await complete(api, task, "resolve", resolution="x",
                         start_return={"items": [{"sku": "POT", "quantity": 0}], "kind": "refund"})
    assert bad.status_code == 422
    r = await complete(api, task, "resolve", resolution="Return it for a refund.",
                       start_return={"items": [{"sku": "POT", "quantity": 1}], "kind": "refund"})
    # The returns process refuses (SO-1 has no such line): so does the resolution.
    assert r.status_code == 422, r.text
    assert (await task_of(api, task["id"]))["status"] == "open"
    r = await complete(api, task, "resolve", resolution="Refunded by bank transfer.")
    assert r.status_code == 200, r.text
    assert (await case(api, path(cid)))["return"] is None

    from shopflow.services.complaints import complaints_for_order
    with Session(engine) as s:
        listed = complaints_for_order(s, "SO-1")
    assert [x["id"] for x in listed] == [cid] and listed[0]["category"] == "quality"
    r = await api.get("/api/v1/complaints", params={"order_no": "SO-1"}, headers=auth("cs"))
    assert [x["id"] for x in r.json()["items"]] == [cid]


async def test_complaints_api_auth_validation_lookup_and_idempotency(
        api: httpx.AsyncClient, engine: Any) -> None:
    body = complaint_body()
    assert (await api.post("/api/v1/complaints", json=body)).status_code == 401
    bad_token = {"Authorization": "Bearer nope"}
    assert (await api.post("/api/v1/complaints", json=body, headers=bad_token)).status_code == 401
    for role in ("reviewer", "warehouse", "ops"):
        r = await api.post("/api/v1/complaints", json=body, headers=auth(role))
        assert r.status_code == 403, role
    for change, code in (({"category": "rude"}, "invalid_input"),
                         ({"description": ""}, "invalid_input"),
                         ({"channel": "fax"}, "invalid_input"),
                         ({"surprise": 1}, "invalid_input"),
                         ({"order_no": "SO-404"}, "unknown_order")):
        r = await api.post("/api/v1/complaints", json={**body, **change}, headers=auth("cs"))
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (change, r.text)
    with Session(engine) as s:
        s.add(Order(order_no="SO-9", customer_id="someone-else"))
        s.commit()
    r = await api.post("/api/v1/complaints", json={**body, "order_no": "SO-9"}, headers=auth("cs"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "order_of_another_customer"

    key = {"Idempotency-Key": "complaint-42", **auth("channel")}
    first = await api.post("/api/v1/complaints", json=body, headers=key)
    second = await api.post("/api/v1/complaints", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = await api.post("/api/v1/complaints", json={**body, "description": "else"}, headers=key)
    assert other.status_code == 409
    cid = first.json()["id"]
    await file(api, customer_id="c-2", category="billing")

    assert (await api.get(path(cid))).status_code == 401
    assert (await api.get(path(cid), headers=auth("warehouse"))).status_code == 403
    assert (await api.get(path("CP-NOPE"), headers=auth("cs"))).status_code == 404
    r = await api.get("/api/v1/complaints", params={"category": "billing"}, headers=auth("cs"))
    assert r.status_code == 200 and [i["customer_id"] for i in r.json()["items"]] == ["c-2"]
    r = await api.get("/api/v1/complaints", params={"customer_id": "c-1", "status": "open"},
                      headers=auth("ops"))
    assert r.json()["total"] == 1 and r.json()["items"][0]["id"] == cid
    r = await api.get("/api/v1/complaints", params={"page_size": 1, "page": 2},
                      headers=auth("channel"))
    assert r.json()["total"] == 2 and len(r.json()["items"]) == 1
    assert (await api.get("/api/v1/complaints", params={"status": "lost"},
                          headers=auth("cs"))).status_code == 422

    m = f"{path(cid)}/messages"
    assert (await api.post(m, json={"text": "hi"})).status_code == 401
    assert (await api.post(m, json={"text": "hi"}, headers=auth("finance"))).status_code == 403
    assert (await api.post(m, json={"text": ""}, headers=auth("cs"))).status_code == 422
    assert (await api.post(f"{path('CP-NOPE')}/messages", json={"text": "hi"},
                           headers=auth("cs"))).status_code == 404
    r = await api.post(m, json={"text": "any news?"}, headers=auth("cs"))
    assert r.status_code == 200 and r.json()["clocks_resumed"] is False

    e = f"{path(cid)}/escalate"
    for role in ("warehouse", "reviewer", "finance"):
        assert (await api.post(e, json={"reason": "x"}, headers=auth(role))).status_code == 403
    empty = await api.post(e, json={}, headers=auth("channel"))
    assert empty.status_code == 422 and "reason" in empty.text
    assert (await api.post(f"{path('CP-NOPE')}/escalate", json={"reason": "x"},
                           headers=auth("channel"))).status_code == 404
    for role in ("channel", "cs"):
        r = await api.post(e, json={"reason": "x"}, headers=auth(role))
        assert r.status_code == 409 and r.json()["error"]["code"] == "response_sla_not_passed"
        assert "escalate it once that has passed from" in r.json()["error"]["message"]


def _if_row(row: Complaint, check: Any) -> Complaint | None:
    return row if check(row) else None


def _closed(row: Complaint) -> Complaint | None:
    return row if row.status == "closed" else None


async def _if(awaitable: Any, check: Any) -> Any:
    value = await awaitable
    return value if check(value) else None


async def test_an_escalation_in_the_complaints_first_activation_is_too_early(
        client: Any, settings: Any, engine: Any, providers: Any) -> None:
    """The escalation can reach the workflow with its start, before run() begins the first
    round: it is within the first-response time, so 409 response_sla_not_passed (it was
    accepted and waited for a resolution before)."""
    inp = complaint_input(settings, "CPEARLY", CustomerData(id="c-1", name="Li"), "quality",
                          "The lid leaks.", "web", None, "dev-channel")
    assert await start_workflow(client, settings, inp)
    handle = client.get_workflow_handle(complaint_workflow_id("CPEARLY"))
    early = asyncio.create_task(handle.start_update(  # sent before any worker polls
        ComplaintWorkflow.customer_escalate, CustomerEscalation("too slow", "c-1"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED))
    await asyncio.sleep(0.5)
    async with build_worker(client, settings, engine, providers=providers):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            # refused by its validator (or, on the test server, failed once accepted)
            await asyncio.wait_for((await early).result(), timeout=30)
    assert "within its first-response time" in str(refused.value.cause)
