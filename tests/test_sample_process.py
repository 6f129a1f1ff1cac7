"""The sample approval process end to end: API, worker with real activities, time-skipping
Temporal. Each test walks a case the way its users would and checks what they would see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice
from tests.helpers import (
    auth,
    case,
    complete,
    eventually,
    form_token,
    make_product,
    open_task,
    record_history,
    stock,
    upload_document,
    wait_case,
)
from tests.test_ui_pages import sign_in

pytestmark = pytest.mark.asyncio


def application(customer_id: str = "c-1", **overrides: Any) -> dict[str, Any]:
    body = {
        "customer": {"id": customer_id, "name": "Li Wei", "email": "li@example.com",
                     "address": "1 West Lake Rd, Hangzhou", "phone": "13800000000"},
        "channel": "web",
        "items": [{"sku": "TEA", "quantity": 3}, {"sku": "CUP", "quantity": 2}],
        "purpose": "trial for our tea house",
    }
    body.update(overrides)
    return body


@pytest.fixture
async def catalogue(api: httpx.AsyncClient) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await make_product(api, "CUP", stock=4, sample_limit=3)


async def submit(api: httpx.AsyncClient, documents: int = 1, **overrides: Any) -> str:
    """A request through the API, with its qualification document (``documents=0``: none)."""
    r = await api.post("/api/v1/samples", headers=auth("channel"), json=application(**overrides))
    assert r.status_code == 201, r.text
    sid: str = r.json()["id"]
    for _ in range(documents):
        doc = await upload_document(api, sid)
        assert doc.status_code == 201, doc.text
    return sid


async def pass_preliminary(api: httpx.AsyncClient, sid: str) -> None:
    task = await open_task(api, sid, "sample.preliminary_review")
    r = await complete(api, task, "approve")
    assert r.status_code == 200, r.text


async def approve_review(api: httpx.AsyncClient, sid: str, **quantities: int) -> dict[str, Any]:
    task = await open_task(api, sid, "sample.review")
    items = [{"sku": sku, "approved_quantity": q} for sku, q in quantities.items()]
    r = await complete(api, task, "approve", items=items)
    assert r.status_code == 200, r.text
    return task


async def dispatch(api: httpx.AsyncClient, sid: str, tracking_no: str | None = None) -> None:
    """Shipped with a tracking number of its own (each parcel's is registered with the
    courier: a number another parcel has is refused)."""
    task = await open_task(api, sid, "sample.dispatch")
    r = await complete(api, task, "shipped", courier="SF Express",
                       tracking_no=tracking_no or f"SF{sid[:12]}")
    assert r.status_code == 200, r.text


def notices(engine: Any, sid: str) -> list[str]:
    with Session(engine) as s:
        return [n.kind for n in s.exec(select(Notice).where(Notice.case_id == sid)
                                       .order_by(Notice.id))]


async def test_happy_path_through_archive_keeps_stock_right(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Any) -> None:
    sid = await submit(api)
    assert (await case(api, f"/api/v1/samples/{sid}"))["stage"] == "preliminary_review"
    await pass_preliminary(api, sid)

    review = await open_task(api, sid, "sample.review")
    assert review["context"]["credit_rating"] == "unrated"  # nobody rated this customer
    assert review["context"]["purchase_history"] == {"orders_count": 0, "orders_value": 0.0}
    assert review["context"]["stock_available"] == {"TEA": 10, "CUP": 4}
    r = await complete(api, review, "approve", items=[{"sku": "TEA", "approved_quantity": 3},
                                                      {"sku": "CUP", "approved_quantity": 2}])
    assert r.status_code == 200, r.text
    assert await stock(api, "TEA") == {"sku": "TEA", "on_hand": 10, "reserved": 3,
                                       "available": 7, "damaged": 0}

    slip = await api.get(f"/api/v1/samples/{sid}/slip", headers=auth("warehouse"))
    assert slip.status_code == 200 and "1 West Lake Rd" in slip.text and "TEA" in slip.text
    await dispatch(api, sid, "SF1001")
    assert await stock(api, "TEA") == {"sku": "TEA", "on_hand": 7, "reserved": 0,
                                       "available": 7, "damaged": 0}
    assert (await stock(api, "CUP"))["on_hand"] == 2
    # the workflow records the stage once the dispatch Update has answered
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: c["stage"] == "awaiting_feedback")
    assert sample["shipment"]["tracking_no"] == "SF1001"

    await tenv.sleep(timedelta(days=7, hours=1))
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: (c.get("feedback") or {}).get("status") == "requested")
    url = sample["feedback"]["url"]
    token = url.rsplit("/", 1)[1]
    assert url == f"http://shop.test/feedback/{token}"
    form = await api.get(f"/feedback/{token}")
    assert form.status_code == 200 and "satisfaction" in form.text
    r = await api.post(f"/api/v1/feedback/{token}",
                       json={"satisfaction": 5, "usage": "served to guests", "suggestions": ""})
    assert r.status_code == 200, r.text
    again = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 4})
    assert again.status_code == 409

    sample = await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "archived")
    assert sample["stage"] == "archived"
    assert sample["feedback"]["satisfaction"] == 5
    types = [e["type"] for e in sample["timeline"]]
    for expected in ("submitted", "task_completed", "shipped", "feedback_requested",
                     "feedback_received", "archived"):
        assert expected in types
    # archived is recorded, then the dossier stored
    dossier = await eventually(lambda: _ok(api.get(f"/api/v1/samples/{sid}/dossier",
                                                   headers=auth("ops"))))
    d = dossier.json()
    assert d["case"]["status"] == "archived"
    decisions = [(t["kind"], t["completed_by"]) for t in d["tasks"]]
    assert ("sample.review", "dev-reviewer") in decisions
    html = await api.get(f"/api/v1/samples/{sid}/dossier?format=html", headers=auth("ops"))
    assert html.status_code == 200 and "SF1001" in html.text
    assert notices(engine, sid) == ["sample_received", "sample_approved", "sample_shipped",
                                    "sample_feedback_request"]
    await record_history(tenv, sample["workflow_id"], "sample_local")


async def test_reject_at_preliminary_review_notifies_and_ends_rejected(
        api: httpx.AsyncClient, catalogue: None, engine: Any) -> None:
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review")
    missing = await complete(api, task, "reject")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "missing_field"
    r = await complete(api, task, "reject", reason="not a business customer")
    assert r.status_code == 200
    sample = await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "rejected")
    assert sample["stage"] == "preliminary_review"
    await eventually(lambda: "sample_rejected" in notices(engine, sid))
    assert (await stock(api, "TEA"))["reserved"] == 0


async def test_request_info_answered_returns_to_preliminary_review(
        api: httpx.AsyncClient, catalogue: None, engine: Any) -> None:
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review")
    r = await complete(api, task, "request_info", question="Which shop will use them?")
    assert r.status_code == 200
    await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "waiting_info")
    await eventually(lambda: "sample_info_request" in notices(engine, sid))
    r = await api.post(f"/api/v1/samples/{sid}/info", headers=auth("channel"),
                       json={"text": "Our Shanghai branch"})
    assert r.status_code == 200, r.text
    again = await api.post(f"/api/v1/samples/{sid}/info", headers=auth("channel"),
                           json={"text": "twice"})
    assert again.status_code == 409
    second = await open_task(api, sid, "sample.preliminary_review")
    assert second["id"] != task["id"]
    assert second["context"]["info_answers"][0]["text"] == "Our Shanghai branch"


async def test_request_info_unanswered_closes_as_rejected(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Any) -> None:
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review")
    await complete(api, task, "request_info", question="Business licence please")
    await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "waiting_info")
    await tenv.sleep(timedelta(days=7, minutes=5))
    sample = await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "rejected")
    assert sample["timeline"][-1]["type"] == "rejected"
    assert notices(engine, sid).count("sample_rejected") == 1


async def test_partial_approval_reserves_only_what_was_approved(
        api: httpx.AsyncClient, catalogue: None) -> None:
    sid = await submit(api)
    await pass_preliminary(api, sid)
    review = await open_task(api, sid, "sample.review")
    too_many = await complete(api, review, "approve", items=[{"sku": "TEA", "approved_quantity": 4}])
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "quantity_exceeds_request"
    zero = await complete(api, review, "approve", items=[{"sku": "TEA", "approved_quantity": 0}])
    assert zero.status_code == 422
    r = await complete(api, review, "approve", items=[{"sku": "TEA", "approved_quantity": 1}])
    assert r.status_code == 200
    assert r.json()["result"] == {"approved": {"TEA": 1}}
    assert (await stock(api, "TEA"))["reserved"] == 1
    assert (await stock(api, "CUP"))["reserved"] == 0
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert {i["sku"]: i["approved_quantity"] for i in sample["items"]} == {"TEA": 1, "CUP": 0}


async def test_approval_above_available_stock_is_refused(
        api: httpx.AsyncClient, catalogue: None) -> None:
    sid = await submit(api, items=[{"sku": "CUP", "quantity": 3}])
    await pass_preliminary(api, sid)
    review = await open_task(api, sid, "sample.review")
    # Stock taken by someone else after the review opened: the reservation refuses, task stays open.
    other = await submit(api, customer_id="c-2", items=[{"sku": "CUP", "quantity": 3}])
    await pass_preliminary(api, other)
    await approve_review(api, other, CUP=3)
    r = await complete(api, review, "approve", items=[{"sku": "CUP", "approved_quantity": 3}])
    assert r.status_code == 422 and r.json()["error"]["code"] == "insufficient_stock"
    assert (await api.get(f"/api/v1/tasks/{review['id']}", headers=auth("reviewer"))
            ).json()["status"] == "open"
    r = await complete(api, review, "approve", items=[{"sku": "CUP", "approved_quantity": 1}])
    assert r.status_code == 200
    assert await stock(api, "CUP") == {"sku": "CUP", "on_hand": 4, "reserved": 4,
                                       "available": 0, "damaged": 0}


async def test_reject_at_review(api: httpx.AsyncClient, catalogue: None, engine: Any) -> None:
    sid = await submit(api)
    await pass_preliminary(api, sid)
    review = await open_task(api, sid, "sample.review")
    r = await complete(api, review, "reject", reason="credit rating too low")
    assert r.status_code == 200
    await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "rejected")
    await eventually(lambda: "sample_rejected" in notices(engine, sid))
    assert (await stock(api, "TEA"))["reserved"] == 0


async def test_overdue_task_escalates_to_ops(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Any) -> None:
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review", role="cs")
    assert task["escalated"] is False
    await tenv.sleep(timedelta(hours=25))
    escalated = await eventually(lambda: _task(api, task["id"], lambda t: t["escalated"]))
    # opened to ops as well: cs keeps it (escalation never takes work away)
    assert (escalated["role"], escalated["escalation_role"]) == ("cs", "ops")
    assert escalated["overdue"] is True
    cs_inbox = (await api.get("/api/v1/tasks", params={"case_id": sid},
                              headers=auth("cs"))).json()
    assert cs_inbox["total"] == 1
    await eventually(lambda: "task_escalated" in notices(engine, sid))
    with Session(engine) as s:
        ops_notice = s.exec(select(Notice).where(Notice.kind == "task_escalated")).one()
    assert ops_notice.recipient == "ops@localhost"
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert "task_escalated" in [e["type"] for e in sample["timeline"]]
    # ops can now decide it
    r = await complete(api, escalated, "approve", role="ops")
    assert r.status_code == 200, r.text


async def _task(api: httpx.AsyncClient, task_id: str, check: Any) -> dict[str, Any] | None:
    t = (await api.get(f"/api/v1/tasks/{task_id}", headers=auth("ops"))).json()
    return t if check(t) else None


async def test_cancel_before_dispatch_releases_stock_and_after_is_409(
        api: httpx.AsyncClient, catalogue: None, engine: Any) -> None:
    sid = await submit(api)
    await pass_preliminary(api, sid)
    await approve_review(api, sid, TEA=2)
    assert (await stock(api, "TEA"))["reserved"] == 2
    await open_task(api, sid, "sample.dispatch")
    r = await api.post(f"/api/v1/samples/{sid}/cancel", headers=auth("cs"),
                       json={"reason": "customer withdrew"})
    assert r.status_code == 200, r.text
    assert await stock(api, "TEA") == {"sku": "TEA", "on_hand": 10, "reserved": 0,
                                       "available": 10, "damaged": 0}
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert sample["status"] == "cancelled"
    assert all(t["status"] in ("done", "cancelled") for t in sample["tasks"])
    await eventually(lambda: "sample_cancelled" in notices(engine, sid))

    shipped = await submit(api, customer_id="c-3")
    await pass_preliminary(api, shipped)
    await approve_review(api, shipped, TEA=1)
    await dispatch(api, shipped)
    r = await api.post(f"/api/v1/samples/{shipped}/cancel", headers=auth("ops"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"
    assert (await stock(api, "TEA"))["on_hand"] == 9


async def test_feedback_with_a_problem_opens_a_cs_task(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Any) -> None:
    sid = await submit(api)
    await pass_preliminary(api, sid)
    await approve_review(api, sid, TEA=1)
    await dispatch(api, sid)
    await tenv.sleep(timedelta(days=7, hours=1))
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: (c.get("feedback") or {}).get("status") == "requested")
    token = form_token(sample)
    r = await api.post(f"/api/v1/feedback/{token}",
                       json={"satisfaction": 2, "problem": "the tin arrived dented"})
    assert r.status_code == 200
    task = await open_task(api, sid, "sample.feedback_problem")
    assert task["role"] == "cs" and task["context"]["feedback"]["problem"] == "the tin arrived dented"
    r = await complete(api, task, "resolved", resolution="a new tin is on its way")
    assert r.status_code == 200
    await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "archived")
    assert "sample_problem_resolved" in notices(engine, sid)


async def test_the_call_fills_in_the_form_with_the_customer(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment) -> None:
    sid, token = await shipped_awaiting_feedback(api, tenv)
    await tenv.sleep(timedelta(days=14, hours=1))
    call = await open_task(api, sid, "sample.feedback_call")
    r = await api.post(f"/feedback/{token}", data={"satisfaction": "1"})  # cs, on the phone
    assert r.status_code == 200 and "谢谢" in r.text
    r = await complete(api, call, "reached", notes="the tea was too strong for them")
    assert r.status_code == 200, r.text
    problem = await open_task(api, sid, "sample.feedback_problem")
    assert problem["context"]["why"] == "low_score"
    assert (await complete(api, problem, "resolved", resolution="sent a milder tea")
            ).status_code == 200
    sample = await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "archived")
    assert sample["feedback"]["satisfaction"] == 1 and sample["feedback_call"]["outcome"] == "reached"


async def shipped(api: httpx.AsyncClient, **overrides: Any) -> str:
    sid = await submit(api, **overrides)
    await pass_preliminary(api, sid)
    await approve_review(api, sid, TEA=1)
    await dispatch(api, sid)
    return sid


async def asked_for_feedback(api: httpx.AsyncClient, sid: str) -> str:
    """The form's token, once the sample's feedback request went out."""
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: (c.get("feedback") or {}).get("status") == "requested")
    return form_token(sample)


async def shipped_awaiting_feedback(api: httpx.AsyncClient, tenv: WorkflowEnvironment,
                                    **overrides: Any) -> tuple[str, str]:
    """A sample approved, shipped and asked for feedback: (its id, the form's token)."""
    sid = await shipped(api, **overrides)
    await tenv.sleep(timedelta(days=7, hours=1))
    return sid, await asked_for_feedback(api, sid)


async def test_a_low_score_or_not_satisfied_opens_the_problem_task_without_text(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment) -> None:
    low, unhappy, fine = [await shipped(api, customer_id=c) for c in ("c-1", "c-2", "c-3")]
    await tenv.sleep(timedelta(days=7, hours=1))
    low_token, unhappy_token, fine_token = [await asked_for_feedback(api, sid)
                                            for sid in (low, unhappy, fine)]
    assert (await api.post(f"/api/v1/feedback/{low_token}",
                           json={"satisfaction": 2})).status_code == 200
    r = await api.post(f"/api/v1/feedback/{unhappy_token}",
                       json={"satisfaction": 4, "dissatisfied": True})
    assert r.status_code == 200, r.text
    bad = await api.post(f"/api/v1/feedback/{fine_token}",
                         json={"satisfaction": 3, "dissatisfied": "maybe"})
    assert bad.status_code == 422 and "dissatisfied" in bad.text
    assert (await api.post(f"/api/v1/feedback/{fine_token}",
                           json={"satisfaction": 3})).status_code == 200

    task = await open_task(api, low, "sample.feedback_problem")
    assert task["context"]["why"] == "low_score" and task["context"]["feedback"]["problem"] is None
    other = await open_task(api, unhappy, "sample.feedback_problem")
    assert other["context"]["why"] == "dissatisfied"
    assert other["context"]["feedback"]["dissatisfied"] is True
    for t in (task, other):
        r = await complete(api, t, "resolved", resolution="called: a fresh tin is on its way")
        assert r.status_code == 200, r.text
    for sid in (low, unhappy, fine):
        await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "archived")
    r = await api.get("/api/v1/tasks", params={"case_id": fine, "status": "done"},
                      headers=auth("ops"))
    assert "sample.feedback_problem" not in [t["kind"] for t in r.json()["items"]]


async def test_no_feedback_by_the_close_is_a_call_for_customer_service(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Any) -> None:
    sid, token = await shipped_awaiting_feedback(api, tenv)
    await tenv.sleep(timedelta(days=3, hours=1))
    await eventually(lambda: "sample_feedback_reminder" in notices(engine, sid))
    await tenv.sleep(timedelta(days=11))
    call = await open_task(api, sid, "sample.feedback_call")
    assert call["role"] == "cs" and call["context"]["customer"]["phone"] == "13800000000"
    assert call["context"]["feedback"] == {"status": "requested"}  # no link in a list
    seen = (await api.get(f"/api/v1/tasks/{call['id']}", headers=auth("cs"))).json()
    assert seen["context"]["feedback"]["url"] == f"http://shop.test/feedback/{token}"
    assert "link" not in seen["context"]["feedback"]
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert sample["status"] == "open" and sample["feedback"]["status"] == "requested"
    assert (await api.get(f"/feedback/{token}")).status_code == 200  # still open for the call
    await sign_in(api, "dev-cs")
    page = await api.get(f"/ui/tasks/{call['id']}")
    assert page.status_code == 200 and f"http://shop.test/feedback/{token}" in page.text
    assert "Unreachable" in page.text  # the decision, in the person's language (en)

    assert (await complete(api, call, "reached", role="warehouse", notes="x")).status_code == 403
    missing = await complete(api, call, "unreachable")
    assert missing.status_code == 422 and missing.json()["error"]["details"]["field"] == "notes"
    r = await complete(api, call, "unreachable", notes="three calls, no answer")
    assert r.status_code == 200, r.text
    sample = await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "archived")
    assert sample["feedback"]["status"] == "no_response"
    assert sample["feedback_call"]["outcome"] == "unreachable"
    assert "feedback_no_response" in [e["type"] for e in sample["timeline"]]
    late = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 3})
    assert late.status_code == 409
    form = await api.get(f"/feedback/{token}")
    assert form.status_code == 409
    await record_history(tenv, f"sample-{sid}", "sample_feedback_call")


async def _ok(request: Any) -> httpx.Response | None:
    r = await request
    return r if r.status_code == 200 else None


async def test_the_parcel_goes_through_the_courier_and_feedback_waits_for_delivery(
        api: httpx.AsyncClient, catalogue: None, tenv: WorkflowEnvironment, engine: Any) -> None:
    """Seed 000 3.2-3.3 and 4.1: the sample's parcel is registered with the courier like an
    order's (tracking link, events through the same webhook); the feedback request goes out
    SHOPFLOW_FEEDBACK_DELAY after the delivery, not after the shipment."""
    from tests.scenes import event

    sid = await submit(api)
    await pass_preliminary(api, sid)
    await approve_review(api, sid, TEA=1)
    task = await open_task(api, sid, "sample.dispatch")
    bad = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF 1/2")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_tracking_no"
    r = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF-S-1")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["shipment"]["tracking_url"] == (
        "https://track.example.com/sf/SF-S-1")
    parcel = (await api.get("/api/v1/shipments/SF-S-1", headers=auth("warehouse"))).json()
    assert (parcel["case_kind"], parcel["case_id"], parcel["status"]) == ("sample", sid,
                                                                         "shipped")
    await eventually(lambda: "sample_shipped" in notices(engine, sid))
    with Session(engine) as s:
        shipped_notice = s.exec(select(Notice).where(Notice.case_id == sid,
                                                     Notice.kind == "sample_shipped")).one()
    assert "https://track.example.com/sf/SF-S-1" in shipped_notice.body_text

    # another request's parcel may not take the same number: refused, nothing leaves stock
    other = await submit(api, customer_id="c-2")
    await pass_preliminary(api, other)
    await approve_review(api, other, TEA=1)
    task = await open_task(api, other, "sample.dispatch")
    taken = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF-S-1")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "tracking_no_in_use"
    assert (await stock(api, "TEA"))["reserved"] == 1  # the other's approval, still held

    assert (await event(api, "SF-S-1", "in_transit", "left Hangzhou hub")).status_code == 201
    await tenv.sleep(timedelta(days=2))
    now = (await tenv.get_current_time()).isoformat()  # the courier's clock, two days on
    r = await event(api, "SF-S-1", "delivered", "signed by Li", at=now)
    assert r.status_code == 201 and r.json()["shipment_status"] == "delivered", r.text
    delivered_at = r.json()["at"]
    again = await event(api, "SF-S-1", "delivered", "signed by Li", at=delivered_at)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: c["shipment"].get("status") == "delivered")
    types = [e["type"] for e in sample["timeline"]]
    assert types.count("shipment_delivered") == 1 and "shipment_in_transit" in types

    await tenv.sleep(timedelta(days=6))  # 8 days after shipment, 6 after delivery: not yet
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert (sample.get("feedback") or {}).get("status") != "requested"
    await tenv.sleep(timedelta(days=1, hours=1))  # 7 days after delivery
    await asked_for_feedback(api, sid)
    await record_history(tenv, f"sample-{sid}", "sample_courier")
