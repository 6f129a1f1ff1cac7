"""The web pages over plain HTTP (httpx on the app): sign-in and sessions, CSRF, role checks and
the 403 page, the inbox (order, overdue, filters, claims, pagination), the case page and the
dashboard, the task form's decision specs, and one task completed through a real workflow."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from shopflow.api.app import create_app
from shopflow.api.auth import create_token
from shopflow.db import session_scope
from shopflow.models import ApiToken, Case, Complaint, InventoryItem, Notice, Product, Task, TimelineEvent
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from shopflow.ui import decisions
from shopflow.ui.session import COOKIE
from tests.helpers import PDF, app_for, auth, eventually, make_product, open_task, wait_case

pytestmark = pytest.mark.asyncio
BASE = "http://shop.test"


# --- helpers ----------------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


async def sign_in(ui: httpx.AsyncClient, token: str, next_: str = "/ui/inbox") -> httpx.Response:
    page = await ui.get("/ui/login")
    assert page.status_code == 200
    return await ui.post("/ui/login", data={"csrf_token": csrf_of(page.text), "token": token,
                                            "next": next_})


async def post_form(ui: httpx.AsyncClient, page_path: str, action: str,
                    data: dict[str, Any], files: Any = None) -> httpx.Response:
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    page = await ui.get(page_path)
    assert page.status_code == 200, page.text
    return await ui.post(action, data={"csrf_token": csrf_of(page.text), **data}, files=files)


async def inbox_task(ui: httpx.AsyncClient, workflow_id: str, kind: str) -> str:
    """The path of the task the signed-in user finds in the inbox (the worker writes it: wait)."""
    pattern = re.compile(rf'data-task="({re.escape(workflow_id)}:\d+:{re.escape(kind)})"')

    async def find() -> str | None:
        m = pattern.search((await ui.get(f"/ui/inbox?kind={kind}")).text)
        return f"/ui/tasks/{m.group(1)}" if m else None

    return await eventually(find)


async def page_shows(ui: httpx.AsyncClient, path: str, text: str) -> str:
    async def find() -> str | None:
        page = (await ui.get(path)).text
        return page if text in page else None

    return await eventually(find)


def add_task(engine: Engine, task_id: str, *, kind: str = "sample.review", role: str = "reviewer",
             due_in: timedelta = timedelta(hours=5), status: str = "open", case_id: str = "s-1",
             context: dict[str, Any] | None = None, escalated: bool = False) -> None:
    with session_scope(engine) as s:
        s.add(Task(id=task_id, kind=kind, role=role, status=status, case_id=case_id,
                   case_kind=kind.split(".")[0], workflow_id=f"{kind.split('.')[0]}-{case_id}",
                   due_at=utcnow() + due_in, escalated=escalated,
                   context=context if context is not None else {
                       "customer": {"id": "c-1", "name": "Li Wei"},
                       "items": [{"sku": "TEA", "requested_quantity": 3, "approved_quantity": None}],
                       "credit_rating": "B", "stock_available": {"TEA": 10},
                       "purchase_history": {"orders_count": 2, "orders_value": 88.0}}))


def add_case(engine: Engine, case_id: str = "s-1", *, kind: str = "sample", stage: str = "review",
             status: str = "open", closed: bool = False, data: dict[str, Any] | None = None,
             created_ago: timedelta = timedelta(0)) -> None:
    at = utcnow() - created_ago
    with session_scope(engine) as s:
        s.add(Case(id=case_id, kind=kind, workflow_id=f"{kind}-{case_id}", status=status,
                   stage=stage, customer_id="c-1", created_at=at, updated_at=at,
                   closed_at=at if closed else None,
                   data=data if data is not None else {
                       "customer": {"id": "c-1", "name": "Li Wei"},
                       "items": [{"sku": "TEA", "requested_quantity": 3,
                                  "approved_quantity": None}]}))


@pytest.fixture
async def ui(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app over httpx, with no Temporal behind it: the pages read the database only."""
    app = app_for(settings, engine)
    app.state.ui.kpis.wait = 30  # the figures of a few rows: always wait for them here
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


# --- sign-in, sessions, CSRF ------------------------------------------------------------------

async def test_pages_need_a_sign_in_and_root_leads_there(ui: httpx.AsyncClient) -> None:
    r = await ui.get("/")
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    r = await ui.get("/ui/inbox?kind=sample.review")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Finbox%3Fkind%3Dsample.review"
    page = await ui.get("/ui/login")
    assert page.status_code == 200 and '<meta charset="utf-8">' in page.text
    assert "Sign in" in page.text


async def test_static_files_come_from_the_package_and_nothing_else(ui: httpx.AsyncClient) -> None:
    css = await ui.get("/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"]
    assert (await ui.get("/ui/static/ui.js")).status_code == 200
    for bad in ("/ui/static/../pages.py", "/ui/static/%2e%2e%2fpages.py", "/ui/static/pages.py",
                "/ui/static/.hidden.css", "/ui/static/"):
        assert (await ui.get(bad)).status_code == 404, bad


async def test_sign_in_with_a_wrong_token_fails_and_opens_nothing(ui: httpx.AsyncClient) -> None:
    r = await sign_in(ui, "dev-nobody")
    assert r.status_code == 401
    assert "This token is not valid" in r.text
    r = await sign_in(ui, "sf_made_up_token")
    assert r.status_code == 401
    assert (await ui.get("/ui/inbox")).status_code == 303


async def test_dev_tokens_work_only_in_dev(settings: Settings, engine: Engine) -> None:
    prod_like = settings.model_copy(update={"env": "test"})
    app = create_app(prod_like, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as ui:
        assert (await sign_in(ui, "dev-reviewer")).status_code == 401
        token = create_token(engine, "reviewer", "alice")
        r = await sign_in(ui, token)
        assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
        assert "alice" in (await ui.get("/ui/inbox")).text


async def test_session_cookie_is_signed_httponly_lax_and_sign_out_ends_it(
        ui: httpx.AsyncClient) -> None:
    r = await sign_in(ui, "dev-reviewer")
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
    assert "dev-reviewer" not in cookie  # the token never travels in the cookie
    inbox = await ui.get("/ui/inbox")
    assert inbox.status_code == 200 and "dev-reviewer" in inbox.text

    # A forged cookie (the role changed, the signature kept) is worth nothing.
    value = ui.cookies[COOKIE]
    payload, sig = value.split(".")
    ui.cookies.set(COOKIE, f"{payload}x.{sig}", domain="shop.test", path="/ui")
    assert (await ui.get("/ui/inbox")).status_code == 303
    ui.cookies.set(COOKIE, value, domain="shop.test", path="/ui")

    out = await ui.post("/ui/logout", data={"csrf_token": csrf_of(inbox.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login?note=signed_out"
    assert "You are signed out" in (await ui.get(out.headers["location"])).text
    assert (await ui.get("/ui/inbox")).status_code == 303


async def test_a_revoked_token_ends_its_sessions(ui: httpx.AsyncClient, engine: Engine) -> None:
    token = create_token(engine, "warehouse", "wang")
    await sign_in(ui, token)
    assert (await ui.get("/ui/inbox")).status_code == 200
    with session_scope(engine) as s:
        s.execute(update(ApiToken).where(col(ApiToken.name) == "wang").values(revoked=True))
    assert (await ui.get("/ui/inbox")).status_code == 303


async def test_every_post_needs_the_csrf_token_of_its_session(
        ui: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
    add_case(engine)
    add_task(engine, "t-1")
    # Sign-in itself: no token, a wrong one.
    assert (await ui.post("/ui/login", data={"token": "dev-reviewer"})).status_code == 403
    r = await ui.post("/ui/login", data={"token": "dev-reviewer", "csrf_token": "guess"})
    assert r.status_code == 403 and "The form has expired" in r.text
    await sign_in(ui, "dev-reviewer")

    for action in ("/ui/tasks/t-1/claim", "/ui/tasks/t-1", "/ui/logout"):
        r = await ui.post(action, data={"decision": "reject", "reject.reason": "x"})
        assert r.status_code == 403, action
        assert "csrf_failed" in r.text
    # A valid token of another session is refused as well.
    other_app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other_app),
                                 base_url=BASE) as other:
        their = csrf_of((await other.get("/ui/login")).text)
    assert (await ui.post("/ui/tasks/t-1/claim", data={"csrf_token": their})).status_code == 403
    with Session(engine) as s:
        task = s.get(Task, "t-1")
        assert task is not None and task.status == "open" and task.assignee is None
    assert (await ui.get("/ui/inbox")).status_code == 200  # still signed in


async def test_sign_in_redirects_only_within_the_site(ui: httpx.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/v1/tasks", "/ui/\\x"):
        ui.cookies.clear()
        r = await sign_in(ui, "dev-cs", next_=target)
        assert r.status_code == 303 and r.headers["location"] == "/ui/", target
    ui.cookies.clear()
    r = await sign_in(ui, "dev-cs", next_="/ui/cases?kind=sample")
    assert r.headers["location"] == "/ui/cases?kind=sample"


async def test_without_a_ui_secret_production_refuses_sign_in(settings: Settings,
                                                              engine: Engine) -> None:
    prod = settings.model_copy(update={"env": "prod", "ui_secret": None})
    app = create_app(prod, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as ui:
        r = await ui.get("/ui/login")
        assert r.status_code == 503 and "SHOPFLOW_UI_SECRET" in r.text
    # With a secret, sessions signed by one process are good in another (several API workers).
    keyed = settings.model_copy(update={"env": "prod", "ui_secret": "s3cret-" * 6})
    token = create_token(engine, "ops", "olga")
    one, two = create_app(keyed, engine=engine), create_app(keyed, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=one), base_url=BASE) as a:
        await sign_in(a, token)
        cookie = a.cookies[COOKIE]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=two), base_url=BASE,
                                 cookies={COOKIE: cookie}) as b:
        assert (await b.get("/ui/inbox")).status_code == 200


# --- roles and the 403 page -------------------------------------------------------------------

async def test_a_role_without_the_task_gets_the_403_page(ui: httpx.AsyncClient,
                                                         engine: Engine) -> None:
    add_case(engine)
    add_task(engine, "t-1")
    await sign_in(ui, "dev-warehouse")
    r = await ui.get("/ui/tasks/t-1")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "Forbidden" in r.text and "this task is for role reviewer" in r.text
    assert 'data-testid="field-error"' not in r.text and "Li Wei" not in r.text
    r = await post_form(ui, "/ui/inbox", "/ui/tasks/t-1",
                        {"decision": "approve", "approve.items.0": "1"})
    assert r.status_code == 403
    r = await post_form(ui, "/ui/inbox", "/ui/tasks/t-1/claim", {})
    assert r.status_code == 403
    assert (await ui.get("/ui/dashboard")).status_code == 403
    assert (await ui.get("/ui/tasks/no-such-task")).status_code == 404
    nope = await ui.get("/ui/no/such/page")
    assert nope.status_code == 404 and "No page at /ui/no/such/page" in nope.text


async def test_ops_reads_any_task_but_acts_only_on_its_own(ui: httpx.AsyncClient,
                                                          engine: Engine) -> None:
    add_case(engine)
    add_task(engine, "t-1")
    await sign_in(ui, "dev-ops")
    r = await ui.get("/ui/tasks/t-1")
    assert r.status_code == 200 and 'data-testid="read-only"' in r.text
    assert 'name="decision"' not in r.text
    assert (await ui.get("/ui/dashboard")).status_code == 200


async def test_finance_cannot_read_sample_cases(ui: httpx.AsyncClient, engine: Engine) -> None:
    add_case(engine)
    await sign_in(ui, "dev-finance")
    assert (await ui.get("/ui/cases/sample/s-1")).status_code == 403
    assert (await ui.get("/ui/cases?kind=sample")).status_code == 403
    r = await ui.get("/ui/cases/sample/s-1/docs/slip")
    assert r.status_code == 403


# --- inbox --------------------------------------------------------------------------------------

async def test_inbox_lists_my_roles_open_tasks_by_due_time_and_pages(ui: httpx.AsyncClient,
                                                                      engine: Engine) -> None:
    for i in range(45):  # due from 10 hours ago (overdue) onwards, inserted out of order
        n = (i * 17) % 45
        add_task(engine, f"rev-{n:02d}", due_in=timedelta(hours=n - 10, minutes=30),
                 case_id=f"s-{n}")
    add_task(engine, "done-1", status="done", due_in=timedelta(hours=-50))
    add_task(engine, "wh-1", kind="sample.dispatch", role="warehouse")
    add_task(engine, "cs-1", kind="sample.preliminary_review", role="cs",
             due_in=timedelta(hours=1))
    await sign_in(ui, "dev-reviewer")

    page1 = await ui.get("/ui/inbox")
    assert page1.status_code == 200
    ids = re.findall(r'data-task="([^"]+)"', page1.text)
    assert ids == [f"rev-{n:02d}" for n in range(20)]
    assert len(re.findall(r'<tr class="overdue"', page1.text)) == 10
    assert "10 overdue" in " ".join(page1.text.split())
    assert "wh-1" not in page1.text and "cs-1" not in page1.text and "done-1" not in page1.text
    assert "Page 1 of 3" in page1.text and 'rel="next" href="/ui/inbox?page=2"' in page1.text

    page3 = await ui.get("/ui/inbox?page=3")
    assert re.findall(r'data-task="([^"]+)"', page3.text) == [f"rev-{n:02d}" for n in range(40, 45)]
    assert 'rel="prev" href="/ui/inbox?page=2"' in page3.text and 'rel="next"' not in page3.text
    assert re.findall(r'data-task="([^"]+)"', (await ui.get("/ui/inbox?page=9")).text) == []
    bad = await ui.get("/ui/inbox?page=0")
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]

    await ui.post("/ui/logout", data={"csrf_token": csrf_of(page3.text)})
    await sign_in(ui, "dev-ops")
    everything = await ui.get("/ui/inbox")
    assert "Page 1 of 3" in everything.text  # 47 open tasks of every role
    only_cs = await ui.get("/ui/inbox?role=cs")
    assert re.findall(r'data-task="([^"]+)"', only_cs.text) == ["cs-1"]
    dispatch = await ui.get("/ui/inbox?kind=sample.dispatch")
    assert re.findall(r'data-task="([^"]+)"', dispatch.text) == ["wh-1"]
    assert "Sample dispatch (1)" in dispatch.text


async def test_claim_and_release_from_the_inbox(ui: httpx.AsyncClient, engine: Engine,
                                                settings: Settings) -> None:
    add_case(engine)
    add_task(engine, "t-1")
    await sign_in(ui, "dev-reviewer")
    r = await post_form(ui, "/ui/inbox", "/ui/tasks/t-1/claim", {"next": "/ui/inbox?page=1"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox?page=1&note=claimed"
    inbox = await ui.get(r.headers["location"])
    assert "Task claimed" in inbox.text and ">Release<" in inbox.text
    with Session(engine) as s:
        task = s.get(Task, "t-1")
        assert task is not None and (task.status, task.assignee) == ("claimed", "dev-reviewer")

    # Another reviewer can neither claim it nor release it.
    token = create_token(engine, "reviewer", "alice")
    other_app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other_app),
                                 base_url=BASE) as alice:
        await sign_in(alice, token)
        page = await alice.get("/ui/tasks/t-1")
        assert "dev-reviewer has claimed this task" in page.text
        r = await alice.post("/ui/tasks/t-1/claim", data={"csrf_token": csrf_of(page.text)})
        assert r.headers["location"] == "/ui/tasks/t-1?note=claimed_by_other"
        r = await alice.post("/ui/tasks/t-1/release", data={"csrf_token": csrf_of(page.text)})
        assert r.headers["location"] == "/ui/tasks/t-1?note=not_claimed_by_you"

    r = await post_form(ui, "/ui/tasks/t-1", "/ui/tasks/t-1/release", {})
    assert r.headers["location"] == "/ui/tasks/t-1?note=released"
    with Session(engine) as s:
        task = s.get(Task, "t-1")
        assert task is not None and (task.status, task.assignee) == ("open", None)


# --- task page ------------------------------------------------------------------------------------

async def test_sample_review_page_shows_what_the_reviewer_needs(ui: httpx.AsyncClient,
                                                                 engine: Engine) -> None:
    add_case(engine)
    add_task(engine, "t-1", context={
        "customer": {"id": "c-1", "name": "<script>alert(1)</script>"},
        "items": [{"sku": "TEA", "requested_quantity": 3, "approved_quantity": None},
                  {"sku": "CUP", "requested_quantity": 2, "approved_quantity": None}],
        "credit_rating": "A", "purchase_history": {"orders_count": 4, "orders_value": 120.5},
        "stock_available": {"TEA": 10, "CUP": 1}, "purpose": "tea house trial"})
    with session_scope(engine) as s:
        for sku, on_hand in (("TEA", 2), ("CUP", 5)):
            s.add(Product(sku=sku, name=sku, sample_limit=5))
            s.flush()
            s.add(InventoryItem(sku=sku, on_hand=on_hand))
    await sign_in(ui, "dev-reviewer")
    page = (await ui.get("/ui/tasks/t-1")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert "Credit rating" in page and ">A<" in page
    assert "Purchase history" in page and "120.5" in page and "tea house trial" in page
    # One input per requested line, prefilled with what was asked and what stock allows
    # (when the task opened, and now).
    assert 'name="approve.items.0" value="2"' in page
    assert 'name="approve.items.1" value="1"' in page
    assert 'name="reject.reason"' in page and 'value="request_info"' not in page
    assert "/ui/static/ui.js" in page


async def test_a_form_error_found_before_the_workflow_is_shown_inline(ui: httpx.AsyncClient,
                                                                      engine: Engine) -> None:
    add_case(engine)
    add_task(engine, "t-x", kind="inventory.mystery", role="warehouse",
             context={"note": "count shelf 3"})
    await sign_in(ui, "dev-warehouse")
    page = await ui.get("/ui/tasks/t-x")
    assert "No form for this task kind yet" in page.text and "count shelf 3" in page.text
    r = await post_form(ui, "/ui/tasks/t-x", "/ui/tasks/t-x",
                        {"decision": "counted", "__data": "{not json"})
    assert r.status_code == 422
    assert 'data-testid="field-error"' in r.text and "Not valid JSON" in r.text
    assert "{not json" in r.text  # what was typed is kept
    r = await post_form(ui, "/ui/tasks/t-x", "/ui/tasks/t-x", {"decision": ""})
    assert r.status_code == 422 and "Choose a decision" in r.text


async def test_decision_specs_turn_forms_into_the_api_body() -> None:
    spec = decisions.form_for("sample.review")
    context = {"items": [{"sku": "TEA", "requested_quantity": 3},
                         {"sku": "CUP", "requested_quantity": 2},
                         {"sku": "POT", "requested_quantity": 1}]}
    sub = decisions.read(spec, {"decision": "approve", "approve.items.0": "2",
                                "approve.items.1": "", "approve.items.2": "lots",
                                "reject.reason": "ignored", "comment": " ok "}, context)
    assert (sub.decision, sub.comment, sub.errors) == ("approve", "ok", {})
    assert sub.data == {"items": [{"sku": "TEA", "approved_quantity": 2},
                                  {"sku": "POT", "approved_quantity": "lots"}]}
    assert decisions.error_target(spec, sub, {"sku": "POT"}, context) == "approve.items.2"
    reject = decisions.read(spec, {"decision": "reject", "reject.reason": ""}, context)
    assert reject.data == {"reason": ""}  # sent, so the workflow names the missing field
    assert decisions.error_target(spec, reject, {"field": "reason"}, context) == "reject.reason"
    shipped = decisions.read(decisions.form_for("sample.dispatch"),
                             {"decision": "shipped", "shipped.courier": "SF",
                              "shipped.tracking_no": " SF1 "}, {})
    assert shipped.data == {"courier": "SF", "tracking_no": "SF1"}
    refund_spec = decisions.form_for("return.refund")
    refund = decisions.read(refund_spec, {"decision": "refunded", "refunded.amount": "12.50",
                                          "comment": "partial"}, {})
    assert refund.data == {"amount": 12.5} and refund.comment == "partial"
    assert decisions.initial_values(refund_spec, {"proposed": "161.00"}) == {
        "refunded.amount": "161.00"}  # the proposed amount to start with
    assert decisions.error_target(refund_spec, refund, {"proposed": "161.00"}, {},
                                  "comment_required") == "comment"

    # Inspection: every line with its result, resaleable only when chosen, notes when typed.
    inspection = decisions.form_for("return.inspection")
    lines = {"items": [{"sku": "TEA", "quantity": 2}, {"sku": "CUP", "quantity": 1}]}
    assert decisions.initial_values(inspection, lines) == {
        "pass.lines.0.result": "pass", "pass.lines.1.result": "pass"}
    passed = decisions.read(inspection, {
        "decision": "pass", "pass.lines.0.result": "pass", "pass.lines.0.resaleable": "",
        "pass.lines.1.result": "fail", "pass.lines.1.resaleable": "false",
        "pass.lines.1.notes": " scratched "}, lines)
    assert passed.data == {"lines": [{"sku": "TEA", "result": "pass"},
                                     {"sku": "CUP", "result": "fail", "resaleable": False,
                                      "notes": "scratched"}]}
    assert decisions.error_target(inspection, passed, {"sku": "CUP"}, lines) == "pass.lines.1"

    # Stocktake: a count of 0 is a count; a blank line stays as booked.
    stocktake = decisions.form_for("inventory.stocktake")
    sheet = {"lines": [{"sku": "TEA", "on_hand": 10}, {"sku": "CUP", "on_hand": 4},
                       {"sku": "POT", "on_hand": 1}]}
    counted = decisions.read(stocktake, {"decision": "counted", "counted.counts.0": "8",
                                         "counted.counts.1": "", "counted.counts.2": "0"}, sheet)
    assert counted.data == {"counts": [{"sku": "TEA", "counted": 8}, {"sku": "POT", "counted": 0}]}

    # Complaint: "wait for the reply" starts ticked; a return kind with quantities becomes
    # start_return, and only when the complaint has an order to return from.
    handle = decisions.form_for("complaint.handle")
    assert decisions.initial_values(handle, {})["respond.await_reply"] == "1"
    respond = decisions.read(handle, {"decision": "respond", "respond.message": "Sorry"}, {})
    assert respond.data == {"message": "Sorry", "await_reply": False}
    order_ctx = {"order_items": [{"sku": "TEA", "name": "Tea", "quantity": 2}]}
    resolve = decisions.read(handle, {"decision": "resolve", "resolve.resolution": "refund",
                                      "resolve.return_kind": "refund",
                                      "resolve.return_items.0": "1"}, order_ctx)
    assert resolve.data == {"resolution": "refund", "start_return": {
        "kind": "refund", "items": [{"sku": "TEA", "quantity": 1}]}}
    plain = decisions.read(handle, {"decision": "resolve", "resolve.resolution": "ok",
                                    "resolve.return_kind": "refund"}, {})
    assert plain.data == {"resolution": "ok"}  # no order: no return field on the form
    assert decisions.error_target(handle, resolve, {"field": "start_return.items"}, order_ctx,
                                  "invalid_field") == "resolve.return_items"
    generic = decisions.form_for("something.new")
    assert generic.generic
    assert decisions.read(generic, {"decision": "done", "__data": '{"a": 1}'}, {}).data == {"a": 1}
    # Another process registers its form; the page then follows it.
    decisions.register(decisions.TaskForm("test.kind", (decisions.Decision("ok"),)))
    assert not decisions.form_for("test.kind").generic
    del decisions.TASK_FORMS["test.kind"]


# --- cases and dashboard ------------------------------------------------------------------------

async def test_case_page_shows_items_shipment_tasks_notices_timeline_and_temporal_link(
        ui: httpx.AsyncClient, engine: Engine) -> None:
    add_case(engine, "s-9", stage="awaiting_feedback", data={
        "customer": {"id": "c-1", "name": "Li Wei"}, "purpose": "trial",
        "items": [{"sku": "TEA", "requested_quantity": 3, "approved_quantity": 2}],
        "shipment": {"courier": "SF Express", "tracking_no": "SF777"}})
    add_task(engine, "t-9", case_id="s-9", status="done")
    with session_scope(engine) as s:
        for seq, (type_, msg) in enumerate([("submitted", "sample request via web"),
                                            ("shipped", "SF Express SF777")], 1):
            s.add(TimelineEvent(case_id="s-9", workflow_id="sample-s-9", seq=seq, type=type_,
                                message=msg, actor="dev-warehouse"))
        s.add(Notice(dedup_key="sample-s-9:shipped", case_id="s-9", kind="sample_shipped",
                     recipient="li@example.com", subject="您的样品已发货", body_text="…",
                     status="sent"))
    await sign_in(ui, "dev-cs")
    page = (await ui.get("/ui/cases/sample/s-9")).text
    assert "SF777" in page and "您的样品已发货" in page and "sample request via web" in page
    assert page.index("sample request via web") < page.index("SF Express SF777</span>")
    assert "http://localhost:8233/namespaces/default/workflows/sample-s-9" in page
    assert "Awaiting feedback" in page and "trial" in page
    assert 'data-testid="doc-slip"' in page  # approved: the slip is printable
    assert (await ui.get("/ui/cases/sample/nope")).status_code == 404
    assert (await ui.get("/ui/cases/order/s-9")).status_code == 404

    listing = await ui.get("/ui/cases?kind=sample&stage=awaiting_feedback")
    assert "/ui/cases/sample/s-9" in listing.text
    assert "/ui/cases/sample/s-9" in (await ui.get("/ui/cases?q=c-1")).text
    assert "/ui/cases/sample/s-9" not in (await ui.get("/ui/cases?stage=review")).text


async def test_case_pages_are_generic_over_processes(ui: httpx.AsyncClient,
                                                     engine: Engine) -> None:
    add_case(engine, "SO-1", kind="order", stage="fulfilment", data={
        "customer": {"id": "c-1", "name": "Li Wei"}, "payment_method": "cod",
        "items": [{"sku": "TEA", "quantity": 2, "unit_price": 9.5}],
        "shipments": [{"courier": "ZTO", "tracking_no": "ZT1", "status": "in_transit"}]})
    await sign_in(ui, "dev-finance")
    page = await ui.get("/ui/cases/order/SO-1")
    assert page.status_code == 200
    assert "ZT1" in page.text and "9.5" in page.text and "cod" in page.text
    assert "Order SO-1" in " ".join(page.text.split()) or ">Order<" in page.text


async def test_dashboard_counts_open_cases_overdue_tasks_and_draws_charts(
        ui: httpx.AsyncClient, engine: Engine) -> None:
    add_case(engine, "s-1", stage="review")
    add_case(engine, "s-2", stage="review", created_ago=timedelta(days=2))
    add_case(engine, "s-3", stage="dispatch")
    add_case(engine, "s-4", stage="archived", status="archived", closed=True,
             created_ago=timedelta(days=3))
    add_case(engine, "SO-1", kind="order", stage="payment")
    add_task(engine, "late", due_in=timedelta(hours=-3))
    add_task(engine, "esc", escalated=True, role="ops")
    add_task(engine, "fine")
    with session_scope(engine) as s:
        s.execute(update(Task).where(col(Task.id) == "fine").values(
            status="done", completed_by="dev-reviewer", completed_at=utcnow()))
        s.add(Complaint(id="K-1", workflow_id="complaint-K-1", customer_id="cu-1",
                        category="delivery", status="closed", level=1,
                        created_at=utcnow() - timedelta(hours=30), resolved_at=utcnow()))
    await sign_in(ui, "dev-ops")
    r = await ui.get("/ui/dashboard")
    assert r.status_code == 200
    page = r.text
    assert re.search(r'data-testid="open-total">4<', page)
    assert re.search(r'data-testid="overdue-total">2<', page)
    assert "Review <strong>2</strong>" in page and "Payment <strong>1</strong>" in page
    assert page.count("<svg") == 2 and "Cases opened and closed per day" in page
    assert "On-time shipment rate" in page and "Sample conversion" in page  # the report's KPIs
    assert re.search(r'data-testid="staff">.*dev-reviewer', page, re.S)
    # resolution times per category and level (the report's figures)
    assert re.search(r'data-testid="resolution">.*Complaint.*Delivery.*30\.0 h.*level 1',
                     page, re.S)
    assert "Complaint resolution, median" in page
    assert "/ui/tasks/late" in page and "/ui/tasks/esc" in page
    assert (await ui.get("/ui/dashboard?days=3")).status_code == 422


async def test_the_dashboard_never_waits_long_for_its_kpis(
        settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from shopflow.ui import kpis

    real = kpis.compute
    release = threading.Event()

    def slow(*args: Any) -> dict[str, Any]:
        # Held until the first page has been answered: a page that waited for its figures
        # would never answer (no timing here; a loaded machine cannot make it flaky).
        release.wait(timeout=60)
        return real(*args)

    monkeypatch.setattr(kpis, "compute", slow)
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as ui:
        await sign_in(ui, "dev-ops")
        try:
            first = await asyncio.wait_for(ui.get("/ui/dashboard"), timeout=30)
        finally:
            release.set()
        assert 'data-testid="kpi-pending"' in first.text
        assert '<meta http-equiv="refresh" content="3">' in first.text
        for _ in range(120):  # the background refresh finishes
            second = await ui.get("/ui/dashboard")
            if "kpi-pending" not in second.text:
                break
            await asyncio.sleep(0.25)
        assert 'data-testid="kpi-chart"' in second.text and "kpi-pending" not in second.text


# --- one task through the real workflow ---------------------------------------------------------

async def test_the_task_form_completes_through_the_workflow_update(
        api: httpx.AsyncClient, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    r = await api.post("/api/v1/samples", headers=auth("channel"), json={
        "customer": {"id": "c-1", "name": "Li Wei", "address": "1 West Lake Rd",
                     "phone": "13800000000"},
        "channel": "web", "items": [{"sku": "TEA", "quantity": 3}], "purpose": "trial"})
    sid = r.json()["id"]
    prelim = await open_task(api, sid, "sample.preliminary_review")
    await sign_in(api, "dev-cs")
    path = f"/ui/tasks/{prelim['id']}"
    # The workflow's own validator answers: reject without a reason, shown at the field.
    r = await post_form(api, path, path, {"decision": "reject", "reject.reason": " "})
    assert r.status_code == 422
    assert re.search(r'id="err-reject.reason"[^>]*>reason is required', r.text)
    assert "missing_field" in r.text
    r = await post_form(api, path, path, {"decision": "approve"})
    assert r.status_code == 200 and 'data-testid="task-result"' in r.text
    assert re.search(r'data-testid="result-decision">Approve<', r.text)
    # where it was made: the task page itself, its result kept as the page follows its case live
    assert f'data-here="{path}"' in r.text and 'id="decided" data-keep' in r.text
    assert f'data-live="/ui/cases/sample/{sid}/events?since=' in r.text
    again = await post_form(api, "/ui/inbox", path, {"decision": "approve"})
    assert again.status_code == 409 and "task_not_open" in again.text
    with Session(engine) as s:
        done = s.exec(select(Task).where(Task.id == prelim["id"])).one()
        assert done.status == "done" and done.completed_by == "dev-cs"


async def test_customer_service_files_a_sample_request_from_a_form(api: httpx.AsyncClient,
                                                                   engine: Engine) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await sign_in(api, "dev-cs")
    form = {"customer.id": "c-7", "customer.name": "", "channel": "phone",
            "customer.phone": "13900000000", "customer.address": "7 Lake Rd",
            "items.0.sku": "TEA", "items.0.quantity": "9", "purpose": "trial",
            "request_key": "k-1"}
    licence = {"documents": ("licence.pdf", PDF, "application/pdf")}
    r = await post_form(api, "/ui/samples/new", "/ui/samples/new", form, licence)
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text  # the name is missing
    assert 'value="c-7"' in r.text  # what was typed stays
    form["customer.name"] = "王芳"
    r = await post_form(api, "/ui/samples/new", "/ui/samples/new", form, licence)
    assert r.status_code == 422 and "at most 5 of TEA as samples" in r.text  # the API's rule
    form["items.0.quantity"] = "2"
    r = await post_form(api, "/ui/samples/new", "/ui/samples/new", form, licence)
    assert r.status_code == 303, r.text
    case_url = r.headers["location"]
    assert case_url.startswith("/ui/cases/sample/") and case_url.endswith("?note=created")
    # The same form sent twice (a double click) files one request.
    again = await post_form(api, "/ui/samples/new", "/ui/samples/new", form, licence)
    assert again.headers["location"] == case_url
    with Session(engine) as s:
        assert len(s.exec(select(Case).where(Case.kind == "sample")).all()) == 1
    page = await api.get(case_url)
    assert "王芳" in page.text and "Created." in page.text
    await api.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(api, "dev-reviewer")
    assert (await api.get("/ui/samples/new")).status_code == 403


async def test_customer_service_answers_for_the_customer_and_cancels_from_the_case_page(
        api: httpx.AsyncClient, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    r = await api.post("/api/v1/samples", headers=auth("channel"), json={
        "customer": {"id": "c-1", "name": "Li Wei", "phone": "13800000000",
                     "address": "1 West Lake Rd"}, "channel": "phone",
        "items": [{"sku": "TEA", "quantity": 1}], "purpose": "trial"})
    sid = r.json()["id"]
    task = await open_task(api, sid, "sample.preliminary_review")
    await sign_in(api, "dev-cs")
    path = f"/ui/tasks/{task['id']}"
    r = await post_form(api, path, path, {"decision": "request_info",
                                          "request_info.question": "Which shop?"})
    assert r.status_code == 200, r.text
    case_path = f"/ui/cases/sample/{sid}"

    async def waiting() -> bool:
        return "Answer for the customer" in (await api.get(case_path)).text

    await eventually(waiting)
    r = await post_form(api, case_path, f"{case_path}/actions/info", {"info.text": " "})
    assert r.status_code == 422 and 'data-testid="action-error"' in r.text
    r = await post_form(api, case_path, f"{case_path}/actions/info",
                        {"info.text": "The Shanghai branch"})
    assert r.status_code == 303 and r.headers["location"] == f"{case_path}?note=info_sent"
    second = await open_task(api, sid, "sample.preliminary_review")
    assert second["id"] != task["id"]
    r = await post_form(api, case_path, f"{case_path}/actions/cancel",
                        {"cancel.reason": "customer withdrew"})
    assert r.status_code == 303
    page = await api.get(case_path)
    assert ">Cancelled<" in page.text and "customer withdrew" in page.text
    assert "Cancel the sample request" not in page.text  # nothing left to cancel


ORDER_FORM = {
    "order_no": "", "channel": "phone", "customer.id": "c-1", "customer.name": "Li Wei",
    "customer.email": "li@example.com", "customer.phone": "13800000000",
    "items.0.sku": "TEA", "items.0.quantity": "2", "items.0.unit_price": "68",
    "address.line1": "1 West Lake Rd", "address.city": "Hangzhou", "address.region": "Zhejiang",
    "address.postcode": "310000", "address.country": "CN", "payment_method": "online",
    "request_key": "form-1",
}


async def test_a_channel_takes_an_order_from_a_form(api: httpx.AsyncClient,
                                                    engine: Engine) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await make_product(api, "CUP", stock=10, sample_limit=5)
    # Who may take orders is the API's rule (channel, cs for phone and e-mail, and admin): the
    # warehouse may not.
    await sign_in(api, "dev-warehouse")
    assert (await api.get("/ui/orders/new")).status_code == 403
    r = await api.post("/api/v1/orders", headers=auth("warehouse"), json={})
    assert r.status_code == 403
    page = await api.get("/ui/inbox")
    assert "/ui/orders/new" not in page.text
    await api.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(api, "dev-channel")
    page = await api.get("/ui/orders/new")
    assert page.status_code == 200 and 'href="/ui/orders/new" aria-current="page"' in page.text
    assert re.search(r'name="request_key" value="[0-9a-f]{32}"', page.text)

    # The API's schema: the name is missing, a quantity is no number, the city is blank.
    form = {**ORDER_FORM, "customer.name": "", "items.1.sku": "CUP", "items.1.quantity": "two",
            "items.1.unit_price": "9.5", "address.city": ""}
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new", form)
    assert r.status_code == 422
    for name in ("customer.name", "items.1.quantity", "address.city"):
        assert f'id="err-{name}"' in r.text, name
    assert 'value="1 West Lake Rd"' in r.text and 'value="form-1"' in r.text  # kept as typed
    # The API's own checks (the same function as POST /api/v1/orders): no way to reach them.
    form = {**ORDER_FORM, "customer.email": "", "customer.phone": ""}
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new", form)
    assert r.status_code == 422 and 'id="err-customer"' in r.text
    assert "the customer needs an email or a phone number" in r.text
    form = {**ORDER_FORM, "items.1.sku": "TEA", "items.1.quantity": "1", "items.1.unit_price": "1"}
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new", form)
    assert r.status_code == 422 and 'id="err-items"' in r.text and "each SKU may appear once" in r.text
    with Session(engine) as s:
        assert s.exec(select(Case).where(Case.kind == "order")).all() == []  # nothing started

    # No number given: one is generated. Sent twice (a double click): one order.
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new", ORDER_FORM)
    assert r.status_code == 303, r.text
    first = r.headers["location"]
    assert re.fullmatch(r"/ui/cases/order/SO-\d{8}-000001\?note=created", first), first
    again = await post_form(api, "/ui/orders/new", "/ui/orders/new", ORDER_FORM)
    assert again.status_code == 303 and again.headers["location"] == first
    # Two at the same moment with a new key: still one order.
    page = await api.get("/ui/orders/new")
    both = {**ORDER_FORM, "request_key": "form-2", "csrf_token": csrf_of(page.text)}
    r1, r2 = await asyncio.gather(api.post("/ui/orders/new", data=both),
                                  api.post("/ui/orders/new", data=both))
    assert r1.headers["location"] == r2.headers["location"] != first
    with Session(engine) as s:
        assert len(s.exec(select(Case).where(Case.kind == "order")).all()) == 2

    # The channel's own number; the same number with other content is the API's 409.
    named = {**ORDER_FORM, "order_no": "PHONE-7", "request_key": "form-3"}
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new", named)
    assert r.headers["location"] == "/ui/cases/order/PHONE-7?note=created"
    other = {**named, "items.0.quantity": "3", "request_key": "form-4"}
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new", other)
    assert r.status_code == 409 and 'id="err-order_no"' in r.text
    assert "order PHONE-7 exists with different content" in r.text

    page = await api.get(first.split("?")[0])
    assert page.status_code == 200 and "Created." not in page.text
    assert "Li Wei" in page.text and "TEA" in page.text
    order_no = first.split("/")[-1].split("?")[0]
    o = await wait_case(api, f"/api/v1/orders/{order_no}",
                        lambda o: o["status"] == "awaiting_payment")
    assert o["channel"] == "phone" and o["total"] == 136.0 and o["customer_id"] == "c-1"
    assert o["shipping_address"]["name"] == "Li Wei"  # defaults to the customer


async def test_an_order_is_worked_through_the_pages(api: httpx.AsyncClient) -> None:
    """Taken, paid, picked, shipped, delivered and invoiced without a single API call."""
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await sign_in(api, "dev-channel")
    r = await post_form(api, "/ui/orders/new", "/ui/orders/new",
                        {**ORDER_FORM, "order_no": "WEB-7", "channel": "web"})
    assert r.status_code == 303, r.text
    case_path = "/ui/cases/order/WEB-7"
    assert r.headers["location"] == f"{case_path}?note=created"
    page = await api.get(case_path)
    await api.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})

    # Finance books the payment: a wrong amount is the API's 422, shown on the form.
    await sign_in(api, "dev-finance")
    await page_shows(api, case_path, "Record the payment")
    pay = f"{case_path}/actions/payment"
    r = await post_form(api, case_path, pay, {"payment.transaction_id": "PAY-1",
                                              "payment.amount": "100"})
    assert r.status_code == 422 and "the order total is 136.00" in r.text
    r = await post_form(api, case_path, pay, {"payment.transaction_id": "PAY-1",
                                              "payment.amount": "136.00"})
    assert r.status_code == 303 and r.headers["location"].endswith("note=payment_recorded")

    # The warehouse finds the task in its inbox, picks with the pick list and ships.
    page = await api.get(case_path)
    await api.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(api, "dev-warehouse")
    task_path = await inbox_task(api, "order-WEB-7", "order.fulfil")
    page = await api.get(task_path)
    assert 'data-testid="doc-pick_list"' in page.text and 'data-testid="doc-packing_slip"' in page.text
    pick = await api.get(f"{case_path}/docs/pick_list")
    assert pick.status_code == 200 and "TEA" in pick.text
    r = await post_form(api, task_path, task_path, {"decision": "shipped",
                                                    "shipped.courier": "SF Express",
                                                    "shipped.tracking_no": "SF 7007"})
    assert r.status_code == 422  # the workflow's rule, shown at the field
    assert re.search(r'id="err-shipped.tracking_no"[^>]*>tracking_no is up to 64 letters', r.text)
    r = await post_form(api, task_path, task_path, {"decision": "shipped",
                                                    "shipped.courier": "SF Express",
                                                    "shipped.tracking_no": "SF7007"})
    assert r.status_code == 200 and 'data-testid="task-result"' in r.text, r.text

    # The courier's "delivered" is booked from the case page; the order completes.
    await page_shows(api, case_path, 'value="SF7007"')
    r = await post_form(api, case_path, f"{case_path}/actions/shipment",
                        {"shipment.tracking_no": "SF7007", "shipment.type": "delivered"})
    assert r.status_code == 303, r.text
    page = await api.get(case_path)
    await api.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(api, "dev-finance")
    page_text = await page_shows(api, case_path, 'data-testid="doc-invoice"')
    assert "SF7007" in page_text and "Completed" in page_text
    invoice = await api.get(f"{case_path}/docs/invoice")
    assert invoice.status_code == 200 and "WEB-7" in invoice.text
