"""Enquiries (咨询) end to end: API, worker with real activities, time-skipping Temporal. The
first-response time is 4 hours; a missed one escalates the task to ops."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice, Order
from tests.helpers import (
    auth,
    case,
    complete,
    eventually,
    open_task,
    record_history,
    wait_case,
)
from tests.test_ui_pages import post_form, sign_in

pytestmark = pytest.mark.asyncio


def enquiry_body(**overrides: Any) -> dict[str, Any]:
    body = {"customer": {"id": "c-1", "name": "Zhao Lei", "email": "zhao@example.com"},
            "channel": "chat", "subject": "cold brew",
            "question": "这款茶适合冷泡吗？ Can this tea be cold-brewed?"}
    body.update(overrides)
    return body


async def ask(api: httpx.AsyncClient, role: str = "channel", **overrides: Any) -> str:
    r = await api.post("/api/v1/enquiries", headers=auth(role), json=enquiry_body(**overrides))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["workflow_id"] == f"enquiry-{body['id']}" and body["status"] == "open"
    return body["id"]  # type: ignore[no-any-return]


def path(eid: str) -> str:
    return f"/api/v1/enquiries/{eid}"


def notices(engine: Any, eid: str) -> list[str]:
    with Session(engine) as s:
        return [n.kind for n in s.exec(select(Notice).where(Notice.case_id == eid)
                                       .order_by(Notice.id))]


async def test_an_enquiry_answered_late_escalates_then_closes(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    eid = await ask(api)
    c = await case(api, path(eid))
    assert (c["kind"], c["status"], c["stage"]) == ("enquiry", "open", "answering")
    task = await open_task(api, eid, "enquiry.answer")
    assert task["role"] == "cs" and task["context"]["question"].startswith("这款茶")
    await eventually(lambda: notices(engine, eid) == ["enquiry_received"])

    await tenv.sleep(timedelta(hours=5))  # past the 4-hour first response
    late = await eventually(lambda: _escalated(api, task["id"]))
    assert late["escalation_role"] == "ops" and late["role"] == "cs"
    missing = await complete(api, task, "answer")
    assert missing.status_code == 422 and missing.json()["error"]["details"]["field"] == "message"
    wrong = await complete(api, task, "refund")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_decision"
    assert (await complete(api, task, "answer", role="warehouse", message="x")).status_code == 403
    r = await complete(api, task, "answer", message="可以。Yes: 8 g in 500 ml, 6 hours cold.")
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(eid), lambda c: c["status"] == "closed")
    assert c["outcome"] == "answered" and c["sla"]["response_sla_met"] is False
    await eventually(lambda: "enquiry_answered" in notices(engine, eid))
    assert [e["type"] for e in c["timeline"]][0] == "submitted"
    assert "task_escalated" in [e["type"] for e in c["timeline"]]
    await record_history(tenv, f"enquiry-{eid}", "enquiry_answered_local")


async def test_an_enquiry_is_handed_over_to_a_complaint(
        api: httpx.AsyncClient, engine: Any) -> None:
    eid = await ask(api, role="cs", channel="phone")
    task = await open_task(api, eid, "enquiry.answer")
    bad = await complete(api, task, "to_complaint", category="mood")
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "category"
    r = await complete(api, task, "to_complaint", category="quality",
                       description="the tea tastes of smoke")
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(eid), lambda c: c["status"] == "closed")
    assert c["outcome"] == "complaint" and c["sla"]["response_sla_met"] is True
    cid = c["complaint"]["id"]
    complaint = await case(api, f"/api/v1/complaints/{cid}")
    assert complaint["description"] == "the tea tastes of smoke"
    assert complaint["customer"]["id"] == "c-1"
    await open_task(api, cid, "complaint.handle")


async def test_an_enquiry_is_handed_over_to_the_customers_order_only(
        api: httpx.AsyncClient, engine: Any) -> None:
    with Session(engine) as s:
        s.add(Order(order_no="SO-7", customer_id="c-1", status="paid", total_cents=6800))
        s.add(Order(order_no="SO-8", customer_id="someone-else", total_cents=100))
        s.commit()
    eid = await ask(api)
    task = await open_task(api, eid, "enquiry.answer")
    for order_no, code in (("SO-404", "unknown_order"), ("SO-8", "order_of_another_customer")):
        r = await complete(api, task, "to_order", order_no=order_no)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    assert (await case(api, path(eid)))["status"] == "open"  # the task stays open
    await sign_in(api, "dev-cs")
    page = f"/ui/tasks/{task['id']}"
    r = await post_form(api, page, page, {"decision": "to_order", "to_order.order_no": "SO-7",
                                          "to_order.message": "Ordered for you: SO-7."})
    assert r.status_code == 200, r.text
    c = await wait_case(api, path(eid), lambda c: c["status"] == "closed")
    assert c["outcome"] == "order" and c["order"]["order_no"] == "SO-7"
    assert c["answer"] == "Ordered for you: SO-7."
    listed = await api.get("/ui/cases", params={"kind": "enquiry"})
    assert listed.status_code == 200 and eid in listed.text
    r = await api.get("/api/v1/enquiries", params={"outcome": "order"}, headers=auth("cs"))
    assert r.status_code == 200 and [x["id"] for x in r.json()["items"]] == [eid]
    assert r.json()["items"][0]["outcome"] == "order"
    r = await api.get("/api/v1/enquiries", params={"status": "open"}, headers=auth("ops"))
    assert r.json()["total"] == 0
    api.cookies.clear()  # sign out
    await sign_in(api, "dev-ops")
    dash = await api.get("/ui/dashboard")
    assert dash.status_code == 200 and "Enquiry" in dash.text


async def test_enquiry_api_auth_validation_lookup_and_idempotency(api: httpx.AsyncClient) -> None:
    body = enquiry_body()
    assert (await api.post("/api/v1/enquiries", json=body)).status_code == 401
    for role in ("reviewer", "warehouse", "finance", "ops"):
        assert (await api.post("/api/v1/enquiries", json=body,
                               headers=auth(role))).status_code == 403, role
    for change, field in (({"question": ""}, "question"), ({"channel": "fax"}, "channel"),
                          ({"surprise": 1}, "surprise"), ({"customer": {"id": "c-1"}}, "name")):
        r = await api.post("/api/v1/enquiries", json={**body, **change}, headers=auth("cs"))
        assert r.status_code == 422 and field in r.text, (change, r.text)
    r = await api.post("/api/v1/enquiries", json={**body, "order_no": "SO-404"},
                       headers=auth("cs"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_order"
    key = {"Idempotency-Key": "enquiry-1", **auth("channel")}
    first = await api.post("/api/v1/enquiries", json=body, headers=key)
    again = await api.post("/api/v1/enquiries", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await api.post("/api/v1/enquiries", json={**body, "question": "else"}, headers=key)
    assert other.status_code == 409
    eid = first.json()["id"]
    assert (await api.get(path(eid))).status_code == 401
    assert (await api.get(path(eid), headers=auth("warehouse"))).status_code == 403
    assert (await api.get(path("EQ-NOPE"), headers=auth("cs"))).status_code == 404
    assert (await api.get(path(eid), headers=auth("channel"))).status_code == 200
    listed = await api.get("/api/v1/enquiries", params={"customer_id": "c-1", "page_size": 1},
                           headers=auth("channel"))
    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert listed.json()["items"][0]["question"].startswith("这款茶")
    bad = await api.get("/api/v1/enquiries", params={"status": "lost"}, headers=auth("cs"))
    assert bad.status_code == 422 and "status" in bad.text
    assert (await api.get("/api/v1/enquiries", headers=auth("warehouse"))).status_code == 403
    spec = (await api.get("/openapi.json")).json()["paths"]
    assert "post" in spec["/api/v1/enquiries"] and "get" in spec["/api/v1/enquiries/{enquiry_id}"]


async def _escalated(api: httpx.AsyncClient, task_id: str) -> dict[str, Any] | None:
    r = await api.get(f"/api/v1/tasks/{task_id}", headers=auth("ops"))
    return r.json() if r.json()["escalated"] else None  # type: ignore[no-any-return]


async def test_customer_service_takes_an_enquiry_from_a_form(api: httpx.AsyncClient) -> None:
    await sign_in(api, "dev-warehouse")
    assert (await api.get("/ui/enquiries/new")).status_code == 403
    api.cookies.clear()
    await sign_in(api, "dev-cs")
    form = "/ui/enquiries/new"
    page = await api.get(form)
    assert page.status_code == 200 and 'data-testid="enquiry-form"' in page.text
    key = re.search(r'name="request_key" value="([^"]+)"', page.text)
    assert key
    fields = {"customer.id": "c-5", "customer.name": "Sun Li", "customer.phone": "139",
              "channel": "phone", "subject": "gift box", "request_key": key.group(1)}
    r = await post_form(api, form, form, {**fields, "question": " "})
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text and "question" in r.text
    r = await post_form(api, form, form, {**fields, "question": "Do you gift-wrap?"})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/ui/cases/enquiry/EQ") and location.endswith("?note=created")
    eid = location.split("/")[-1].split("?")[0]
    again = await post_form(api, form, form, {**fields, "question": "Do you gift-wrap?"})
    assert again.headers["location"] == location  # a double submit: the same enquiry
    c = await case(api, path(eid))
    assert c["question"] == "Do you gift-wrap?" and c["channel"] == "phone"
    await open_task(api, eid, "enquiry.answer")
    profile = await api.get("/ui/customers/c-5")
    assert 'data-testid="new-enquiry"' in profile.text
