"""After-sales follow-ups end to end: started through the ``followups.start`` activity (as the
order workflow does on delivery), real worker, time-skipping Temporal. Default clocks: survey 7
days after the start, reminder 3 days later, closed unanswered 14 days after the survey."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from shopflow.activities.followups import FollowupActivities
from shopflow.models import Case, Notice
from shopflow.settings import Settings
from shopflow.workflows.shared import FollowupStart
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

pytestmark = pytest.mark.asyncio


async def customer(api: httpx.AsyncClient, customer_id: str = "c-1", **fields: Any) -> None:
    r = await api.put(f"/api/v1/customers/{customer_id}", headers=auth("cs"),
                      json={"name": "Zhao Lei", "email": "zhao@example.com", **fields})
    assert r.status_code == 200, r.text


async def start(client: Client, settings: Settings, engine: Engine, order_no: str = "SO-1",
                customer_id: str = "c-1", reason: str = "delivered") -> dict[str, str]:
    acts = FollowupActivities(engine, settings, client)
    started = await ActivityEnvironment().run(
        acts.start, FollowupStart(order_no, customer_id, reason, ref="SF1001",
                                  items=[{"sku": "TEA", "quantity": 2}]))
    return asdict(started)


def path(fid: str) -> str:
    return f"/api/v1/followups/{fid}"


def kinds(engine: Any, fid: str) -> list[str]:
    with Session(engine) as s:
        return [n.kind for n in s.exec(select(Notice).where(Notice.case_id == fid)
                                       .order_by(Notice.id))]


async def survey(api: httpx.AsyncClient, tenv: WorkflowEnvironment, fid: str,
                 wait: timedelta = timedelta(days=7, hours=1)) -> str:
    await tenv.sleep(wait)
    c = await wait_case(api, path(fid),
                        lambda c: (c.get("feedback") or {}).get("status") == "requested")
    assert c["stage"] == "awaiting_feedback"
    assert c["feedback"]["url"].startswith("http://shop.test/feedback/")
    return form_token(c)


async def test_start_is_idempotent_by_order_and_reason(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Engine) -> None:
    await customer(api)
    first = await start(client, settings, engine)
    assert first == {"workflow_id": "followup-SO-1", "case_id": "followup-SO-1",
                     "status": "started"}
    again = await start(client, settings, engine)
    assert again["status"] == "already_started" and again["workflow_id"] == "followup-SO-1"
    other = await start(client, settings, engine, reason="quality_return")
    assert other["workflow_id"] == "followup-SO-1-quality_return"
    assert other["status"] == "started"
    c = await case(api, path("followup-SO-1"))
    assert (c["status"], c["stage"], c["order_no"], c["reason"]) == (
        "open", "scheduled", "SO-1", "delivered")


async def test_answered_survey_closes_the_follow_up(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    await tenv.sleep(timedelta(days=6))
    assert kinds(engine, fid) == []  # not before the delay
    token = await survey(api, tenv, fid, timedelta(days=1, hours=1))
    await eventually(lambda: kinds(engine, fid) == ["followup_feedback_request"])
    form = await api.get(f"/feedback/{token}")
    assert form.status_code == 200
    r = await api.post(f"/api/v1/feedback/{token}",
                       json={"satisfaction": 4, "usage": "daily", "suggestions": "more sizes"})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["feedback"]["satisfaction"] == 4 and c["tasks"] == []
    assert c["timeline"][-1]["data"]["outcome"] == "answered"
    await record_history(tenv, f"followup-{c['order_no']}", "followup_answered_local")


async def test_unanswered_survey_is_reminded_then_closed(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    token = await survey(api, tenv, fid)
    await tenv.sleep(timedelta(days=3, hours=1))
    await eventually(lambda: "followup_feedback_reminder" in kinds(engine, fid))
    await tenv.sleep(timedelta(days=11))
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["feedback"]["status"] == "no_response"
    assert c["timeline"][-1]["data"]["outcome"] == "no_response"
    assert "feedback_reminded" in [e["type"] for e in c["timeline"]]
    assert (await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 5})).status_code == 409
    assert kinds(engine, fid) == ["followup_feedback_request", "followup_feedback_reminder"]


async def test_low_score_opens_a_problem_task_for_customer_service(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    token = await survey(api, tenv, fid)
    r = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 2})
    assert r.status_code == 200
    task = await open_task(api, fid, "followup.problem")
    assert task["role"] == "cs" and task["context"]["order_no"] == "SO-1"
    assert task["context"]["feedback"]["satisfaction"] == 2
    assert task["context"]["customer"]["email"] == "zhao@example.com"  # for a call back
    bad = await complete(api, task, "resolved")
    assert bad.status_code == 422
    r = await complete(api, task, "resolved", resolution="Refunded the shipping cost.")
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["problem"]["status"] == "resolved"
    assert c["timeline"][-1]["data"]["outcome"] == "problem_resolved"
    await eventually(lambda: "followup_problem_resolved" in kinds(engine, fid))


async def test_reported_problem_becomes_a_complaint_when_the_customer_asks(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    token = await survey(api, tenv, fid)
    r = await api.post(f"/api/v1/feedback/{token}",
                       json={"satisfaction": 4, "problem": "one cup was chipped"})
    assert r.status_code == 200
    task = await open_task(api, fid, "followup.problem")
    wrong = await complete(api, task, "open_complaint", category="rude")
    assert wrong.status_code == 422
    r = await complete(api, task, "open_complaint", category="quality")
    assert r.status_code == 200, r.text
    opened = r.json()["result"]["complaint"]
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["complaint"] == opened
    assert c["timeline"][-1]["data"]["outcome"] == "complaint_opened"
    complaint = await wait_case(api, f"/api/v1/complaints/{opened['id']}",
                                lambda c: c["status"] == "open")
    assert (complaint["order_no"], complaint["category"], complaint["channel"]) == (
        "SO-1", "quality", "followup")
    assert complaint["description"] == "one cup was chipped"
    await open_task(api, opened["id"], "complaint.handle")


async def test_ticked_complaint_box_opens_the_complaint_without_a_cs_task(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    token = await survey(api, tenv, fid)
    r = await api.post(f"/api/v1/feedback/{token}", json={
        "satisfaction": 1, "problem": "the lid does not close",
        "complaint": True, "complaint_text": "Third broken teapot this year."})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["timeline"][-1]["data"]["outcome"] == "complaint_opened"
    assert c["tasks"] == [] and c["problem"] is None  # no followup.problem task: done already
    assert (c["feedback"]["complaint"], c["feedback"]["complaint_text"]) == (
        True, "Third broken teapot this year.")
    event = next(e for e in c["timeline"] if e["type"] == "complaint_opened")
    assert event["actor"] == "customer"
    opened = c["complaint"]
    assert event["data"]["complaint_id"] == opened["id"]
    assert opened["workflow_id"] == f"complaint-{opened['id']}"
    complaint = await wait_case(api, f"/api/v1/complaints/{opened['id']}",
                                lambda c: c["status"] == "open")
    assert (complaint["order_no"], complaint["category"], complaint["channel"]) == (
        "SO-1", "other", "followup")
    assert complaint["description"] == "Third broken teapot this year."
    assert complaint["customer_id"] == "c-1"
    await open_task(api, opened["id"], "complaint.handle")
    await record_history(tenv, f"followup-{c['order_no']}", "followup_complaint_requested_local")

    # Ticked without a text: the problem, else a line naming the order, describes it.
    await customer(api, "c-2")
    other = (await start(client, settings, engine, order_no="SO-2", customer_id="c-2"))["case_id"]
    token = await survey(api, tenv, other)
    r = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 5, "complaint": True})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(other), lambda c: c["status"] == "closed")
    complaint = await case(api, f"/api/v1/complaints/{c['complaint']['id']}")
    assert complaint["description"] == "asked for in the follow-up survey of order SO-2"
    assert complaint["id"] != opened["id"]


async def test_feedback_complaint_fields_are_validated(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    token = await survey(api, tenv, fid)
    for body in ({"satisfaction": 4, "complaint": "perhaps"},
                 {"satisfaction": 4, "complaint": True, "complaint_text": "x" * 2001},
                 {"satisfaction": 4, "complaint": True, "complaint_category": "quality"}):
        r = await api.post(f"/api/v1/feedback/{token}", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"]
    schema = (await api.get("/openapi.json")).json()["components"]["schemas"]["FeedbackIn"]
    assert schema["properties"]["complaint"]["type"] == "boolean"
    assert "complaint_text" in schema["properties"]
    assert "complaint" not in schema.get("required", [])
    # Nothing was taken: the survey still waits, and an answer without the box is as before.
    r = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 4})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["complaint"] is None and "complaint" not in c["feedback"]
    assert c["timeline"][-1]["data"]["outcome"] == "answered"


async def test_the_feedback_form_posts_the_complaint_box(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    from shopflow.models import FeedbackRequest

    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    token = await survey(api, tenv, fid)
    form = await api.get(f"/feedback/{token}")
    assert form.status_code == 200
    assert 'type="checkbox" name="complaint"' in form.text
    assert 'name="complaint_text"' in form.text
    bad = await api.post(f"/feedback/{token}", data={"satisfaction": "none", "complaint": "1"})
    assert bad.status_code == 422 and 'name="complaint"' in bad.text  # the box stays offered
    r = await api.post(f"/feedback/{token}", data={
        "satisfaction": "3", "usage": "", "suggestions": "", "problem": "",
        "complaint": "1", "complaint_text": "The courier left it in the rain."})
    assert r.status_code == 200, r.text
    assert "Thank you" in r.text
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["timeline"][-1]["data"]["outcome"] == "complaint_opened"
    complaint = await case(api, f"/api/v1/complaints/{c['complaint']['id']}")
    assert (complaint["description"], complaint["category"]) == (
        "The courier left it in the rain.", "other")

    # Only follow-up surveys offer the box (a sample's survey has its problem task).
    with Session(engine) as s:
        s.add(FeedbackRequest(token=hashlib.sha256(b"sample-form").hexdigest(), case_id="S-1",
                              workflow_id="sample-S-1", kind="sample"))
        s.commit()
    form = await api.get("/feedback/sample-form")
    assert form.status_code == 200 and 'name="satisfaction"' in form.text
    assert 'name="complaint"' not in form.text


async def test_no_contact_customer_gets_no_survey_and_the_case_says_why(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, client: Client, settings: Settings,
        engine: Engine) -> None:
    await customer(api, tags=["no_contact"])
    fid = (await start(client, settings, engine))["case_id"]
    await tenv.sleep(timedelta(days=7, hours=1))
    c = await wait_case(api, path(fid), lambda c: c["status"] == "closed")
    assert c["no_contact"] == "customer is tagged no_contact"
    assert c["timeline"][-1]["type"] == "not_contacted"
    assert "no_contact" in c["timeline"][-1]["message"]
    assert c["feedback"] is None and kinds(engine, fid) == []

    # tagged after the survey went out: no reminder either
    await customer(api, "c-2")
    other = (await start(client, settings, engine, order_no="SO-2", customer_id="c-2"))["case_id"]
    await survey(api, tenv, other)
    await customer(api, "c-2", tags=["no_contact"])
    await tenv.sleep(timedelta(days=3, hours=1))
    c = await wait_case(api, path(other), lambda c: any(
        e["type"] == "notice_suppressed" for e in c["timeline"]))
    assert kinds(engine, other) == ["followup_feedback_request"]


async def test_followups_api_reads(api: httpx.AsyncClient, client: Client, settings: Settings,
                                   engine: Engine) -> None:
    await customer(api)
    fid = (await start(client, settings, engine))["case_id"]
    assert (await api.get(path(fid))).status_code == 401
    assert (await api.get(path(fid), headers=auth("warehouse"))).status_code == 403
    assert (await api.get(path("followup-NOPE"), headers=auth("cs"))).status_code == 404
    r = await api.get("/api/v1/followups", params={"customer_id": "c-1"}, headers=auth("cs"))
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [fid]
    with Session(engine) as s:
        assert s.get(Case, fid) is not None


async def test_follow_ups_left_due_are_started_by_the_hourly_sweep(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    from datetime import UTC, datetime

    from shopflow.models import FollowupDue
    from shopflow.workflows.care import DueFollowups
    from shopflow.workflows.care_payloads import CareRun

    await customer(api)
    with Session(engine) as s:
        now = datetime.now(UTC)
        s.add(FollowupDue(workflow_id="followup-SO-5", source_kind="order", source_id="SO-5",
                          order_no="SO-5", customer_id="c-1", reason="delivered", due_at=now))
        s.add(FollowupDue(workflow_id="followup-SO-6-quality_return", source_kind="return",
                          source_id="R-6", order_no="SO-6", customer_id="c-1",
                          reason="quality_return", due_at=now))
        s.add(FollowupDue(workflow_id="followup-SO-7", source_kind="order", source_id="SO-7",
                          order_no="SO-7", customer_id="c-1", reason="delivered", due_at=now,
                          status="started"))
        s.commit()
    with tenv.auto_time_skipping_disabled():
        result = await client.execute_workflow(DueFollowups.run, CareRun(), id="sweep-1",
                                               task_queue=settings.task_queue)
    assert sorted(result.started) == ["followup-SO-5", "followup-SO-6-quality_return"]
    with Session(engine) as s:
        assert {r.workflow_id: r.status for r in s.exec(select(FollowupDue))} == {
            "followup-SO-5": "started", "followup-SO-6-quality_return": "started",
            "followup-SO-7": "started"}
    c = await case(api, path("followup-SO-6-quality_return"))
    assert (c["reason"], c["ref"]) == ("quality_return", "R-6")
    with tenv.auto_time_skipping_disabled():
        again = await client.execute_workflow(DueFollowups.run, CareRun(), id="sweep-2",
                                              task_queue=settings.task_queue)
    assert again.started == []
