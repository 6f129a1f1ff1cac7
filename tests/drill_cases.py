"""One case of every process on the real stack (tests/stack.py), started and driven to its end
through the API the way people, couriers and customers would: a sample, an order (and the
follow-up its delivery starts), a return of that order, a complaint. The drills start them,
cause their fault, recover, finish them and check the books (`check_everything`). Blocking
httpx and polling, no sleeps: every call is retried while the stack answers 503 or not at all,
and a decision whose answer was lost counts as taken when its retry finds the task decided."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func
from sqlmodel import col, or_, select

from shopflow.db import make_engine, session_scope
from shopflow.models import InventoryItem, Notice, Payment, Refund, Reservation, StockMovement
from tests.helpers import PDF
from tests.notices_support import SmtpServer
from tests.stack import BIN, Stack

T = TypeVar("T")
SKU = "DRILL"


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev-{role}"}


def eventually(check: Callable[[], T | None], timeout: float = 120.0, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as err:
            last = err
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"not reached in {timeout} s; last: {last!r}")


def call(send: Callable[[], httpx.Response], *ok: int, timeout: float = 120.0) -> httpx.Response:
    """Retry a request while the stack is out (no answer, or 503 with Retry-After) until it
    answers one of ``ok``; any other answer fails the drill."""
    def once() -> httpx.Response | None:
        r = send()
        if r.status_code == 503:
            assert r.headers.get("Retry-After"), r.text
            return None
        assert r.status_code in ok, (r.request.url, r.status_code, r.text)
        return r
    return eventually(once, timeout)


def order_body(no: str, method: str = "cod", sku: str = SKU) -> dict[str, Any]:
    return {"order_no": no, "channel": "web",
            "customer": {"id": f"c-{no}", "name": "Drill", "phone": "13800000000",
                         "email": f"{no.lower()}@drill.test"},
            "items": [{"sku": sku, "quantity": 2, "unit_price": "10.00"}],
            "shipping_address": "1 Drill Road, Hangzhou", "payment_method": method}


def customer(name: str) -> dict[str, Any]:
    return {"id": f"c-{name}", "name": "Drill", "phone": "13800000000",
            "email": f"{name.lower()}@drill.test", "address": "1 Drill Road, Hangzhou"}


@dataclass
class Cases:
    """What one drill started, by process: ids as the API gives them."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:4])
    samples: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    returns: list[str] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)
    enquiries: list[str] = field(default_factory=list)
    # scheduled runs (their workflow ids) and the cases they opened (revisits, stocktakes)
    scheduled: list[str] = field(default_factory=list)

    def workflow_ids(self) -> list[str]:
        return ([f"sample-{s}" for s in self.samples] + [f"order-{o}" for o in self.orders]
                + [f"followup-{o}" for o in self.orders] + [f"return-{r}" for r in self.returns]
                + [f"complaint-{c}" for c in self.complaints]
                + [f"enquiry-{e}" for e in self.enquiries] + self.scheduled)


# --- starting ------------------------------------------------------------------------------

def start_order(http: httpx.Client, cases: Cases, no: str, method: str = "cod",
                sku: str = SKU) -> dict[str, Any]:
    r = call(lambda: http.post("/api/v1/orders", json=order_body(no, method, sku),
                               headers={**auth("channel"), "Idempotency-Key": no}), 200, 201)
    assert r.json()["order_no"] == no
    cases.orders.append(no)
    return r.json()  # type: ignore[no-any-return]


def start_sample(http: httpx.Client, cases: Cases) -> str:
    key = f"S-{cases.run}-{len(cases.samples)}"
    r = call(lambda: http.post("/api/v1/samples", headers={**auth("channel"),
                                                           "Idempotency-Key": key},
                               json={"customer": customer(key), "channel": "web",
                                     "items": [{"sku": SKU, "quantity": 1}],
                                     "purpose": "drill tasting"}), 200, 201)
    cases.samples.append(r.json()["id"])
    return r.json()["id"]  # type: ignore[no-any-return]


def start_complaint(http: httpx.Client, cases: Cases) -> str:
    key = f"C-{cases.run}-{len(cases.complaints)}"
    r = call(lambda: http.post("/api/v1/complaints", headers={**auth("cs"),
                                                              "Idempotency-Key": key},
                               json={"customer": customer(key), "category": "service",
                                     "description": "drill: slow answer", "channel": "phone"}),
             200, 201)
    cases.complaints.append(r.json()["id"])
    return r.json()["id"]  # type: ignore[no-any-return]


def start_enquiry(http: httpx.Client, cases: Cases) -> str:
    key = f"E-{cases.run}-{len(cases.enquiries)}"
    r = call(lambda: http.post("/api/v1/enquiries", headers={**auth("cs"),
                                                             "Idempotency-Key": key},
                               json={"customer": customer(key), "channel": "phone",
                                     "question": "drill: does the tea keep a year?"}),
             200, 201)
    cases.enquiries.append(r.json()["id"])
    return r.json()["id"]  # type: ignore[no-any-return]


def start_every_process(http: httpx.Client, cases: Cases, order_method: str = "cod") -> None:
    """A sample, an order, a complaint and an enquiry (the return and the follow-up come from
    the order once it is delivered)."""
    start_sample(http, cases)
    start_order(http, cases, f"DO-{cases.run}-{len(cases.orders)}", order_method)
    start_complaint(http, cases)
    start_enquiry(http, cases)


# --- people at work ------------------------------------------------------------------------

def task(http: httpx.Client, case_id: str, kind: str) -> dict[str, Any]:
    """The case's open task of this kind, once its workflow has opened it."""
    def find() -> dict[str, Any] | None:
        r = http.get("/api/v1/tasks", params={"case_id": case_id, "kind": kind},
                     headers=auth("admin"))
        items = r.json()["items"] if r.status_code == 200 else []
        return items[0] if items else None
    return eventually(find)


def decide(http: httpx.Client, case_id: str, kind: str, decision: str, **data: Any) -> None:
    t = task(http, case_id, kind)
    r = call(lambda: http.post(f"/api/v1/tasks/{t['id']}/complete", headers=auth(t["role"]),
                               json={"decision": decision, "data": data}), 200, 409)
    if r.status_code == 409:  # our earlier attempt's answer was lost: it was taken
        assert r.json()["error"]["code"] == "task_not_open", r.text


def view(http: httpx.Client, path: str) -> dict[str, Any]:
    return call(lambda: http.get(path, headers=auth("ops")), 200).json()  # type: ignore[no-any-return]


def until(http: httpx.Client, path: str, done: Callable[[dict[str, Any]], bool],
          timeout: float = 120.0) -> dict[str, Any]:
    return eventually(lambda: (lambda c: c if done(c) else None)(view(http, path)), timeout)


def answer_survey(http: httpx.Client, path: str) -> None:
    """The customer answers the case's survey (the link staff see): satisfied."""
    c = until(http, path, lambda c: bool((c.get("feedback") or {}).get("url")))
    token = c["feedback"]["url"].rsplit("/", 1)[1]
    call(lambda: http.post(f"/api/v1/feedback/{token}", json={"satisfaction": 5}), 200, 409)


def event(http: httpx.Client, tracking: str, type_: str) -> None:
    call(lambda: http.post(f"/api/v1/shipments/{tracking}/events", headers=auth("warehouse"),
                           json={"type": type_, "at": "2026-11-30T00:00:00+00:00"}),
         200, 201)


def ship_order(http: httpx.Client, no: str) -> None:
    """The warehouse ships (the parcel is booked with the courier as tracking ``T<no>``)."""
    decide(http, no, "order.fulfil", "shipped", courier="SF", tracking_no=f"T{no}")


def deliver_order(http: httpx.Client, no: str) -> None:
    """The courier delivers, the customer answers the follow-up."""
    event(http, f"T{no}", "delivered")
    until(http, f"/api/v1/orders/{no}", lambda o: o["status"] == "completed")
    answer_survey(http, f"/api/v1/followups/followup-{no}")


def finish_order(http: httpx.Client, no: str) -> None:
    ship_order(http, no)
    deliver_order(http, no)


def finish_sample(http: httpx.Client, sid: str) -> None:
    call(lambda: http.post(f"/api/v1/samples/{sid}/documents", headers=auth("channel"),
                           files={"file": ("licence.pdf", PDF, "application/pdf")}), 200, 201)
    decide(http, sid, "sample.preliminary_review", "approve")
    decide(http, sid, "sample.review", "approve",
           items=[{"sku": SKU, "approved_quantity": 1}])
    decide(http, sid, "sample.dispatch", "shipped", courier="SF", tracking_no=f"S{sid}")
    answer_survey(http, f"/api/v1/samples/{sid}")


def finish_complaint(http: httpx.Client, cid: str) -> None:
    decide(http, cid, "complaint.handle", "resolve", resolution="called back and sorted")
    answer_survey(http, f"/api/v1/complaints/{cid}")


def finish_enquiry(http: httpx.Client, eid: str) -> None:
    decide(http, eid, "enquiry.answer", "answer", message="Yes, sealed it keeps a year.")


def return_of(http: httpx.Client, cases: Cases, no: str) -> str:
    """The customer sends one item of a delivered order back for a refund."""
    key = f"R-{no}"
    sku = view(http, f"/api/v1/orders/{no}")["items"][0]["sku"]
    r = call(lambda: http.post("/api/v1/returns", headers={**auth("channel"),
                                                           "Idempotency-Key": key},
                               json={"order_no": no, "items": [{"sku": sku, "quantity": 1}],
                                     "kind": "refund", "reason": "drill: changed my mind",
                                     "quality_issue": False}), 200, 201)
    cases.returns.append(r.json()["id"])
    return r.json()["id"]  # type: ignore[no-any-return]


def return_to_refund(http: httpx.Client, rid: str) -> None:
    """Approved, sent back, received and inspected: finance's refund task is open."""
    decide(http, rid, "return.review", "approve")
    call(lambda: http.post(f"/api/v1/returns/{rid}/shipment", headers=auth("channel"),
                           json={"courier": "ZTO", "tracking_no": f"R{rid}"}), 200)
    call(lambda: http.post(f"/api/v1/returns/{rid}/received", headers=auth("warehouse"),
                           json={}), 200, 409)
    decide(http, rid, "return.inspection", "pass")
    task(http, rid, "return.refund")


def refund_return(http: httpx.Client, rid: str) -> None:
    refund = task(http, rid, "return.refund")
    decide(http, rid, "return.refund", "refunded", amount=refund["context"]["proposed"])
    until(http, f"/api/v1/returns/{rid}", lambda r: r["status"] == "refunded")


def finish_return(http: httpx.Client, rid: str) -> None:
    return_to_refund(http, rid)
    refund_return(http, rid)


def finish_everything(http: httpx.Client, cases: Cases) -> None:
    """Every case to its end; each delivered order also gets a return, taken to its end."""
    for sid in cases.samples:
        finish_sample(http, sid)
    for cid in cases.complaints:
        finish_complaint(http, cid)
    for eid in cases.enquiries:
        finish_enquiry(http, eid)
    for no in list(cases.orders):
        finish_order(http, no)
    for no in list(cases.orders):
        finish_return(http, return_of(http, cases, no))


# --- scheduled processes (Temporal Schedules, shopflow/schedules.py) -------------------------

def sync_schedules(stack: Stack) -> None:
    """``shopflow schedules sync`` against the stack's Temporal, as ops run it (``shopflow dev``
    does it at start-up; the stack starts the worker and API alone)."""
    done = subprocess.run([str(BIN / "shopflow"), "schedules", "sync"], env=stack.env,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]


async def _trigger(address: str, schedule_id: str, timeout: float) -> str:
    from temporalio.client import (
        Client,
        ScheduleActionExecutionStartWorkflow,
        ScheduleOverlapPolicy,
    )

    client = await Client.connect(address)
    handle = client.get_schedule_handle(schedule_id)
    seen = {a.action.workflow_id for a in (await handle.describe()).info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)}
    # a run now even if an earlier one still runs (the schedule itself skips overlaps)
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for a in reversed((await handle.describe()).info.recent_actions):
            if (isinstance(a.action, ScheduleActionExecutionStartWorkflow)
                    and a.action.workflow_id not in seen):
                return a.action.workflow_id
        await asyncio.sleep(0.2)
    raise AssertionError(f"{schedule_id}: triggered, no run started in {timeout} s")


def trigger(stack: Stack, cases: Cases, schedule_id: str, timeout: float = 60.0) -> str:
    """Run a schedule now (as ops do from the Web UI) and note its run's workflow id, which
    ``check_everything`` then expects completed, once."""
    wid = asyncio.run(_trigger(stack.env["SHOPFLOW_TEMPORAL_ADDRESS"], schedule_id, timeout))
    cases.scheduled.append(wid)
    return wid


def schedule_day(stack: Stack) -> date:
    """Today where the schedules run (SHOPFLOW_SCHEDULE_TIMEZONE, else SHOPFLOW_TIMEZONE): the
    day a triggered run acts for (birthdays, revisit and stocktake ids)."""
    from shopflow.settings import Settings

    zone = (stack.env.get("SHOPFLOW_SCHEDULE_TIMEZONE") or stack.env.get("SHOPFLOW_TIMEZONE")
            or Settings.model_fields["timezone"].default)
    return datetime.now(ZoneInfo(zone)).date()


def put_customer(http: httpx.Client, customer_id: str, **fields: Any) -> str:
    """A customer profile (birthday, tags ...) as cs keep it; their email address."""
    email = f"{customer_id.lower()}@drill.test"
    call(lambda: http.put(f"/api/v1/customers/{customer_id}", headers=auth("cs"),
                          json={"name": f"Drill {customer_id}", "email": email, **fields}), 200)
    return email


# --- the books -----------------------------------------------------------------------------

async def _statuses(address: str, workflow_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Each workflow's status (its latest run) and how many executions carry its id."""
    from temporalio.client import Client

    client = await Client.connect(address)
    found: dict[str, tuple[str, int]] = {}
    for wid in workflow_ids:
        desc = await client.get_workflow_handle(wid).describe()
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{wid}'")]
        found[wid] = (desc.status.name if desc.status else "", len(runs))
    return found


def check_everything(stack: Stack, cases: Cases) -> None:
    """Every case at its end, one workflow each; nothing done twice; stock balances."""
    ids = cases.workflow_ids()
    states = eventually(lambda: (lambda s: s if all(v[0] == "COMPLETED" for v in s.values())
                                 else None)(asyncio.run(_statuses(
                                     stack.env["SHOPFLOW_TEMPORAL_ADDRESS"], ids))), 60)
    assert all(runs == 1 for _, runs in states.values()), states  # one workflow per case
    engine = make_engine(stack.database_url)
    try:
        with session_scope(engine, write=False) as session:
            payments = session.exec(select(Payment.transaction_id)).all()
            assert len(payments) == len(set(payments))  # each payment booked once
            paid = Counter(p.order_no for p in session.exec(select(Payment)))
            assert all(paid[no] == 1 for no in cases.orders), paid  # every order paid once
            # each return refunded once (succeeded, or a transfer due for cash on delivery)
            refunds = session.exec(select(Refund).where(Refund.status != "refused")).all()
            per_return = Counter(r.case_id for r in refunds if r.case_kind == "return")
            assert all(per_return[rid] == 1 for rid in cases.returns), per_return
            for item in session.exec(select(InventoryItem)).all():  # every SKU the drills use
                sku = item.sku
                moves = session.exec(select(StockMovement).where(StockMovement.sku == sku)).all()
                received = sum(m.on_hand_delta for m in moves if m.reason == "receipt")
                shipped = -sum(m.on_hand_delta for m in moves if m.reason == "consumed")
                back = sum(m.on_hand_delta for m in moves
                           if m.reason not in ("receipt", "consumed"))
                # on hand = received - shipped (+ returned goods put back, +/- stocktakes);
                # every count is its movements' sum, each movement booked once
                assert item.on_hand == received - shipped + back, (
                    sku, Counter(m.reason for m in moves))
                assert item.damaged == sum(m.damaged_delta for m in moves), sku
                assert item.reserved == sum(m.reserved_delta for m in moves), sku
                held = session.exec(select(func.coalesce(func.sum(Reservation.quantity), 0))
                                    .where(Reservation.sku == sku,
                                           Reservation.status == "held")).one()
                assert item.reserved == held, sku
                assert min(item.on_hand, item.reserved, item.damaged) >= 0, sku
            settled = session.exec(select(StockMovement.dedup_key)).all()
            assert len(settled) == len(set(settled))  # each reserve/consume/release once
            notices = session.exec(select(Notice).where(col(Notice.case_id).is_not(None))).all()
            keys = [n.dedup_key for n in notices]
            assert len(keys) == len(set(keys))  # each notice once
    finally:
        engine.dispose()


def delivered_once(smtp: SmtpServer, stack: Stack, cases: Cases) -> None:
    """Every notice of the drill's cases that was sent reached the SMTP server exactly once."""
    engine = make_engine(stack.database_url)
    case_ids = [*cases.samples, *cases.orders, *cases.returns, *cases.complaints,
                *cases.enquiries, *(f"followup-{no}" for no in cases.orders), *cases.scheduled]
    try:
        with session_scope(engine, write=False) as session:
            # the cases' notices, and the scheduled runs' (birthday greetings, KPI reports)
            sent = session.exec(select(Notice).where(
                or_(col(Notice.case_id).in_(case_ids),
                    col(Notice.dedup_key).startswith("birthday:"),
                    col(Notice.dedup_key).startswith("report:")),
                Notice.status == "sent")).all()
    finally:
        engine.dispose()
    with smtp.inbox.lock:
        arrived = Counter(str(m.message["Message-ID"]) for m in smtp.inbox.messages)
    assert sent
    assert {n.message_id: arrived[n.message_id] for n in sent} == {
        n.message_id: 1 for n in sent}
    assert max(arrived.values()) == 1  # no notice twice, whichever drill sent it
