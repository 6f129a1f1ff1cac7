"""The pages in a real browser: Debian's chromium driven by Playwright against the app served by
uvicorn over real HTTP, with a worker and a time-skipping Temporal server behind it.

A sample travels from the customer-service check to dispatch the way its people would do it:
sign in with a token, see the request appear in the open inbox (no reload), claim, decide (a
wrong quantity first, shown inline), print the slip, ship, and ops finds the case on the
dashboard and reads its timeline. Screenshots of every page land in var/screenshots/. Without
/usr/bin/chromium the tests skip (and fail with CI=true)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from shopflow.api.app import create_app
from shopflow.api.auth import create_token
from shopflow.db import session_scope
from shopflow.models import Payment, Refund
from shopflow.settings import Settings
from tests.helpers import auth, make_product, upload_document

pytestmark = [pytest.mark.asyncio, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (f"{CHROMIUM} is missing: install it with `apt-get install chromium "
              "fonts-wqy-microhei` (make test does, as root)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # Ctrl-C belongs to pytest, not to this in-process server


@pytest.fixture
async def live(settings: Settings, engine: Engine, client: Client,
               worker: Worker) -> AsyncIterator[str]:
    """The whole app on a free port of 127.0.0.1, served by uvicorn in this event loop."""
    need_chromium()
    app = create_app(settings, engine=engine, client=client)
    app.state.ui.kpis.wait = 30  # a handful of rows: the dashboard shows its figures at once
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        sock.close()


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """One chromium (and one Playwright driver) per pytest process: starting them costs more CPU
    than most of these tests. Each test has its own contexts (cookies, pages): see browser."""
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def browser(chromium: Any) -> AsyncIterator[Any]:
    """The browser for one test: every context it opened (its people) is closed after it."""
    assert not chromium.contexts, "a test before left a browser context open"
    try:
        yield chromium
    finally:
        for ctx in list(chromium.contexts):
            await ctx.close()


@pytest.fixture
async def http(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live, timeout=20) as c:
        yield c


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def person(browser: Any, live: str, token: str, **context: Any) -> Any:
    """A browser of its own (its own cookies), signed in through the sign-in page; its
    language English unless ``locale`` says otherwise (the pages follow the browser's)."""
    ctx = await browser.new_context(**{"locale": "en-US", **context})
    ctx.set_default_timeout(15_000)
    page = await ctx.new_page()
    await page.goto(f"{live}/ui/")
    assert "/ui/login" in page.url
    await page.fill("input[name=token]", token)
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"{live}/ui/inbox")
    return page


async def reload_until(page: Any, selector: str, tries: int = 60) -> Any:
    """The inbox is a read-model the worker writes: reload until the row is there."""
    for _ in range(tries):
        if await page.locator(selector).count():
            return page.locator(selector).first
        await asyncio.sleep(0.25)
        await page.reload()
    raise AssertionError(f"{selector} never appeared on {page.url}")


async def no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 1, f"{page.url} scrolls sideways by {width}px on a phone-width screen"


async def test_a_sample_travels_through_the_pages(live: str, browser: Any,
                                                  http: httpx.AsyncClient) -> None:
    await make_product(http, "TEA", stock=10, sample_limit=5)  # type: ignore[arg-type]
    await make_product(http, "CUP", stock=4, sample_limit=3)  # type: ignore[arg-type]
    # Customer service has the inbox open before the request comes in: it shows up there
    # without a reload (the live inbox, issue 17.7).
    cs = await person(browser, live, "dev-cs")
    await cs.evaluate("window.notReloaded = true")
    r = await http.post("/api/v1/samples", headers=auth("channel"), json={
        "customer": {"id": "c-88", "name": "李伟 Li Wei", "company": "西湖茶社",
                     "address": "杭州市西湖路 1 号", "phone": "13800000000",
                     "email": "li@example.com"},
        "channel": "phone", "items": [{"sku": "TEA", "quantity": 3}, {"sku": "CUP", "quantity": 2}],
        "purpose": "茶馆试用 trial for our tea house",
        "qualification_docs": [{"name": "营业执照 business licence",
                                "url": "https://example.com/licence.pdf"}]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    doc = await upload_document(http, sid)  # type: ignore[arg-type]
    assert doc.status_code == 201, doc.text

    # Customer service: the sign-in page, then the preliminary check from the inbox.
    login_ctx = await browser.new_context(locale="zh-CN")
    login = await login_ctx.new_page()
    await login.goto(f"{live}/ui/")
    await shot(login, "01-sign-in")
    await login.fill("input[name=token]", "dev-nobody")
    await login.click("main button[type=submit]")
    # a browser that asks for Chinese gets Chinese only; the header's switch turns it English
    assert (await login.text_content("[data-testid=login-error]")).strip() == "令牌无效或已吊销"
    assert await login.get_attribute("html", "lang") == "zh-CN"
    await login.click("[data-testid=language-switch] button")
    await login.wait_for_selector("html[lang=en]")
    assert (await login.text_content("main h1")).strip() == "Sign in"
    await login_ctx.close()

    row = cs.locator(f"tr[data-task^='sample-{sid}:'] a[href^='/ui/tasks/']").first
    await row.wait_for()
    assert await cs.evaluate("window.notReloaded === true"), "the inbox was reloaded"
    await shot(cs, "02-inbox-cs")
    await row.click()
    await cs.check("input[name=decision][value=approve]")
    await cs.click("form[data-decision-form] button[type=submit]")
    await cs.wait_for_selector("[data-testid=task-result]")

    # The reviewer: claims the review, sees what to decide on, gets a wrong quantity refused
    # inline, then approves part of the request.
    reviewer = await person(browser, live, "dev-reviewer")
    row_sel = f"tr[data-task^='sample-{sid}:']"
    await reload_until(reviewer, row_sel)
    await reviewer.click(f"{row_sel} button:has-text('Claim')")
    await reviewer.wait_for_selector("p.note")
    assert "Task claimed" in await reviewer.text_content("p.note")
    await shot(reviewer, "03-inbox-reviewer-claimed")
    await reviewer.click(f"{row_sel} a:has-text('Open')")
    await reviewer.wait_for_selector("[data-testid=credit-rating]")
    assert (await reviewer.text_content("[data-testid=credit-rating]")).strip() == "Unrated"
    assert "0 orders" in await reviewer.text_content("[data-testid=purchase-history]")
    stock = await reviewer.text_content("[data-testid=stock-available]")
    assert "TEA" in stock and "10" in stock and "CUP" in stock
    review_url = reviewer.url

    # The form follows the decision: a reason only for reject, quantities only for approve.
    await reviewer.check("input[name=decision][value=reject]")
    assert await reviewer.is_visible("textarea[name='reject.reason']")
    assert not await reviewer.is_visible("input[name='approve.items.0']")
    await reviewer.check("input[name=decision][value=approve]")
    assert not await reviewer.is_visible("textarea[name='reject.reason']")
    await reviewer.fill("input[name='approve.items.0']", "5")
    await reviewer.fill("input[name='approve.items.1']", "")
    await shot(reviewer, "04-task-review")
    await reviewer.click("form[data-decision-form] button[type=submit]")
    error = reviewer.locator("#err-approve\\.items\\.0")
    await error.wait_for()
    assert "5 of TEA is more than the 3 requested" in await error.text_content()
    assert await reviewer.get_attribute("input[name='approve.items.0']", "aria-invalid") == "true"
    assert await reviewer.input_value("input[name='approve.items.0']") == "5"  # kept as typed
    await shot(reviewer, "05-task-review-error-inline")
    await reviewer.fill("input[name='approve.items.0']", "2")
    await reviewer.click("form[data-decision-form] button[type=submit]")
    await reviewer.wait_for_selector("[data-testid=task-result]")
    result = await reviewer.text_content("[data-testid=result-data]")
    assert "TEA" in result and "2" in result and "CUP" not in result  # only TEA, 2 of it
    assert "Approve" in await reviewer.text_content("[data-testid=result-decision]")
    await shot(reviewer, "06-task-review-result")

    # The warehouse: may not open the review (403 page), prints the slip, ships.
    warehouse = await person(browser, live, "dev-warehouse")
    response = await warehouse.goto(review_url)
    assert response is not None and response.status == 403
    assert "Forbidden" in await warehouse.text_content("h1")
    await shot(warehouse, "07-forbidden-403")
    await warehouse.goto(f"{live}/ui/inbox")
    row = await reload_until(warehouse, "tr[data-task$=':sample.dispatch'] a[href^='/ui/tasks/']")
    await warehouse.set_viewport_size(PHONE)  # the inbox on a phone: rows become cards
    await no_sideways_scroll(warehouse)
    await shot(warehouse, "08-phone-inbox-warehouse")
    await warehouse.set_viewport_size({"width": 1280, "height": 720})
    await row.click()
    async with warehouse.context.expect_page() as new_tab:
        await warehouse.click("[data-testid=doc-slip]")
    slip = await new_tab.value
    await slip.wait_for_load_state()
    slip_text = await slip.text_content("body")
    assert "样品发货单" in slip_text and "杭州市西湖路 1 号" in slip_text and "TEA" in slip_text
    assert "CUP" not in slip_text  # not approved, not packed
    await shot(slip, "09-sample-slip")
    await slip.close()
    await warehouse.fill("input[name='shipped.courier']", "顺丰速运 SF Express")
    await warehouse.fill("input[name='shipped.tracking_no']", "SF1234567890")
    await shot(warehouse, "10-task-dispatch")
    await warehouse.click("form[data-decision-form] button[type=submit]")
    await warehouse.wait_for_selector("[data-testid=task-result]")
    assert "SF1234567890" in await warehouse.text_content("[data-testid=result-data]")
    await shot(warehouse, "11-task-dispatch-result")

    # Ops: the dashboard shows the case waiting for feedback; its page has the whole timeline.
    ops = await person(browser, live, "dev-ops")
    await ops.goto(f"{live}/ui/dashboard")
    table = await ops.text_content("[data-testid=open-by-stage]")
    assert "Sample" in table and "Awaiting feedback 1" in " ".join(table.split())
    assert await ops.locator("[data-testid=kpi-chart] svg rect").count() > 0
    assert await ops.locator("[data-testid=throughput-chart] svg").count() == 1
    await shot(ops, "12-dashboard")
    await ops.click("a.chip:has-text('Awaiting feedback')")
    await ops.click(f"a[href='/ui/cases/sample/{sid}']")
    await ops.wait_for_selector("[data-testid=timeline]")
    timeline = " ".join((await ops.text_content("[data-testid=timeline]")).split())
    for expected in ("Submitted", "Task completed", "sample.review: approve",
                     "SF1234567890", "dev-warehouse"):
        assert expected in timeline, expected
    assert "SF1234567890" in await ops.text_content("[data-testid=shipment]")
    href = await ops.get_attribute("[data-testid=temporal-link]", "href")
    assert href is not None and href.endswith(f"/workflows/sample-{sid}")
    await shot(ops, "13-case-timeline")

    # The same pages on a phone-width screen.
    phone = await person(browser, live, "dev-ops", viewport=PHONE, is_mobile=True,
                         device_scale_factor=2)
    for path, name in ((f"/ui/cases/sample/{sid}", "14-phone-case"),
                       ("/ui/cases", "15-phone-cases"), ("/ui/dashboard", "16-phone-dashboard")):
        await phone.goto(f"{live}{path}")
        await no_sideways_scroll(phone)
        await shot(phone, name)


async def test_an_online_order_travels_through_the_pages(live: str, browser: Any,
                                                        http: httpx.AsyncClient) -> None:
    """A channel user keys in an order (a mistake first, shown inline), books the payment; the
    warehouse picks with the pick list and ships with a tracking number; the courier's
    "delivered" is booked on the case page and the invoice is there to print."""
    await make_product(http, "TEA", stock=10, sample_limit=5)  # type: ignore[arg-type]
    await make_product(http, "CUP", stock=4, sample_limit=3)  # type: ignore[arg-type]

    channel = await person(browser, live, "dev-channel")
    await channel.click("header a:has-text('New order')")
    await channel.wait_for_selector("[data-testid=order-form]")
    await channel.fill("input[name='customer.id']", "c-66")
    await channel.fill("input[name='customer.name']", "王芳 Wang Fang")
    await channel.fill("input[name='customer.phone']", "13900000000")
    await channel.select_option("select[name='items.0.sku']", "TEA")
    await channel.fill("input[name='items.0.quantity']", "2")
    await channel.fill("input[name='items.0.unit_price']", "68")
    await channel.select_option("select[name='items.1.sku']", "CUP")
    await channel.fill("input[name='items.1.quantity']", "1")
    await channel.fill("input[name='items.1.unit_price']", "25.50")
    await channel.fill("input[name='address.line1']", "杭州市西湖区文三路 8 号")
    await channel.check("input[name=payment_method][value=online]")
    await channel.click("[data-testid=order-form] button[type=submit]")
    error = channel.locator("#err-address\\.city")
    await error.wait_for()  # the city was left out: said at the field, the rest kept
    assert await channel.input_value("input[name='customer.name']") == "王芳 Wang Fang"
    await shot(channel, "20-order-new-error-inline")
    await channel.fill("input[name='address.city']", "杭州 Hangzhou")
    await channel.click("[data-testid=order-form] button[type=submit]")
    await channel.wait_for_url("**/ui/cases/order/*")
    order_no = channel.url.split("/ui/cases/order/")[1].split("?")[0]
    assert order_no.startswith("SO-")  # numbered for us
    assert "Created." in await channel.text_content("p.note")
    await shot(channel, "21-order-created")

    # The payment (the shop's payment provider told the channel): 161.50 in all.
    pay_form = await reload_until(channel, "form[action$='/actions/payment']")
    await channel.fill("input[name='payment.transaction_id']", "ALIPAY-2024-0001")
    await channel.fill("input[name='payment.amount']", "161.50")
    await shot(channel, "22-order-payment")
    await pay_form.locator("button[type=submit]").click()
    await channel.wait_for_url("**note=payment_recorded")

    # The warehouse: the task in the inbox, the pick list to print, then shipped.
    warehouse = await person(browser, live, "dev-warehouse")
    row_sel = f"tr[data-task^='order-{order_no}:'][data-task$=':order.fulfil']"
    await reload_until(warehouse, row_sel)
    await warehouse.click(f"{row_sel} button:has-text('Claim')")
    await warehouse.wait_for_selector("p.note")
    await warehouse.click(f"{row_sel} a:has-text('Open')")
    await warehouse.wait_for_selector("[data-testid=doc-pick_list]")
    async with warehouse.context.expect_page() as new_tab:
        await warehouse.click("[data-testid=doc-pick_list]")
    pick = await new_tab.value
    await pick.wait_for_load_state()
    pick_text = await pick.text_content("body")
    assert order_no in pick_text and "TEA" in pick_text and "CUP" in pick_text
    await shot(pick, "23-order-pick-list")
    await pick.close()
    await warehouse.fill("input[name='shipped.courier']", "顺丰速运 SF Express")
    await warehouse.fill("input[name='shipped.tracking_no']", "SF9000000001")
    await shot(warehouse, "24-task-order-fulfil")
    await warehouse.click("form[data-decision-form] button[type=submit]")
    await warehouse.wait_for_selector("[data-testid=task-result]")
    assert "SF9000000001" in await warehouse.text_content("[data-testid=result-data]")
    await shot(warehouse, "25-task-order-fulfil-result")

    # The courier reports the parcel delivered: booked on the order's page.
    await warehouse.goto(f"{live}/ui/cases/order/{order_no}")
    event_form = await reload_until(warehouse, "form[action$='/actions/shipment']")
    await warehouse.select_option("select[name='shipment.tracking_no']", "SF9000000001")
    await warehouse.select_option("select[name='shipment.type']", "delivered")
    await shot(warehouse, "26-order-parcel-delivered")
    await event_form.locator("button[type=submit]").click()
    await warehouse.wait_for_url("**note=shipment_event")

    # The channel prints the invoice of the completed order.
    await channel.goto(f"{live}/ui/cases/order/{order_no}")
    await reload_until(channel, "[data-testid=doc-invoice]")
    assert "Completed" in await channel.text_content(".head")
    timeline = " ".join((await channel.text_content("[data-testid=timeline]")).split())
    for expected in ("order.fulfil: shipped", "dev-warehouse", "dev-channel"):
        assert expected in timeline, expected
    await shot(channel, "27-order-completed")
    async with channel.context.expect_page() as new_tab:
        await channel.click("[data-testid=doc-invoice]")
    invoice = await new_tab.value
    await invoice.wait_for_load_state()
    invoice_text = await invoice.text_content("body")
    assert order_no in invoice_text and "161.50" in invoice_text and "王芳" in invoice_text
    await shot(invoice, "28-order-invoice")

    # The order form on a phone.
    phone = await person(browser, live, "dev-channel", viewport=PHONE, is_mobile=True,
                         device_scale_factor=2)
    await phone.goto(f"{live}/ui/orders/new")
    await no_sideways_scroll(phone)
    await shot(phone, "29-phone-order-new")


async def test_a_lead_assigns_the_warehouse_ships_a_batch_and_search_finds_it(
        live: str, browser: Any, http: httpx.AsyncClient, settings: Settings,
        engine: Engine) -> None:
    """Issue 17: the warehouse lead hands one order to Wang from the inbox, prints one pick list
    for the other two, ships them from a pasted CSV (Wang's order and an unknown one are named,
    not shipped), and finds a parcel with the header's search box; customer service finds a
    customer, files a complaint and a phone order (catalogue price) from the customer's page;
    ops reads the step map from the dashboard (each also at phone width)."""
    settings.role_leads = {"warehouse": ["dev-warehouse"]}  # the live app reads it per request
    wang = create_token(engine, "warehouse", "wang")
    await make_product(http, "TEA", stock=10, sample_limit=5)  # type: ignore[arg-type]
    await make_product(http, "CUP", stock=4, sample_limit=3)  # type: ignore[arg-type]
    nos = []
    for i in (1, 2, 3):
        r = await http.post("/api/v1/orders", headers=auth("channel"), json={
            "order_no": f"B-{i}", "channel": "web", "payment_method": "cod",
            "customer": {"id": f"c-b{i}", "name": f"客户 {i}", "phone": "13900000000"},
            "items": [{"sku": "TEA", "quantity": 1, "unit_price": 68}],
            "shipping_address": {"line1": f"文三路 {i} 号", "city": "杭州"}})
        assert r.status_code == 201, r.text
        nos.append(r.json()["order_no"])

    lead = await person(browser, live, "dev-warehouse")
    await lead.click("[data-testid=inbox-views] a[data-view=unassigned]")
    await lead.wait_for_url("**/ui/inbox?view=unassigned")
    rows = {no: f"tr[data-task^='order-{no}:'][data-task$=':order.fulfil']" for no in nos}
    for sel in rows.values():
        await reload_until(lead, sel)
    await lead.fill(f"{rows['B-1']} form.assign input[name=to]", "wang")
    await lead.click(f"{rows['B-1']} form.assign button")
    await lead.wait_for_url("**note=assigned")
    assert await lead.locator(rows["B-1"]).count() == 0  # not unassigned any more
    await shot(lead, "30-inbox-lead-assigned")

    mine = await person(browser, live, wang)
    await mine.goto(f"{live}/ui/inbox?view=mine")
    assert "wang" in await mine.text_content(f"{rows['B-1']} [data-testid=assignee]")
    await mine.context.close()

    await lead.click("[data-testid=inbox-views] a[data-view=all]")
    for no in ("B-2", "B-3"):
        await lead.check(f"{rows[no]} input[name=task]")
    async with lead.context.expect_page() as new_tab:
        await lead.click("form#bulk button[value=pick_list]")
    pick = await new_tab.value
    await pick.wait_for_load_state()
    totals = " ".join((await pick.text_content("[data-testid=pick-totals]")).split())
    assert "TEA" in totals and "2" in totals and "B-2" in totals and "B-1" not in totals
    await shot(pick, "31-combined-pick-list")
    await pick.close()

    await lead.click("header a:has-text('Ship a batch')")
    await lead.fill("textarea[name=csv]", "order_no,courier,tracking_no\n"
                    "B-2,顺丰 SF,SF8000000002\nB-3,顺丰 SF,SF8000000003\n"
                    "B-1,顺丰 SF,SF8000000001\nB-9,顺丰 SF,SF8000000009\n")
    await lead.click("[data-testid=ship-form] button[type=submit]")
    await lead.wait_for_selector("[data-testid=ship-results]")
    assert await lead.locator("tr.ok").count() == 2
    assert await lead.get_attribute("tr[data-line='4'] [data-code]", "data-code") == \
        "claimed_by_other"  # Wang's order: his to ship
    assert await lead.get_attribute("tr[data-line='5'] [data-code]", "data-code") == "not_found"
    await shot(lead, "32-ship-batch-results")
    await lead.set_viewport_size(PHONE)
    await no_sideways_scroll(lead)
    await shot(lead, "33-phone-ship-batch")
    await lead.set_viewport_size({"width": 1280, "height": 720})

    await lead.fill("header input[name=q]", "SF8000000003")
    await lead.press("header input[name=q]", "Enter")
    await lead.wait_for_selector("[data-testid=search-results]")
    await shot(lead, "34-search")
    await lead.click("[data-testid=search-results] a[href='/ui/cases/order/B-3']")
    await lead.wait_for_selector("[data-testid=timeline]")
    assert "SF8000000003" in await lead.text_content("[data-testid=timeline]")

    # Customer service starts from the customer: search, their page, a complaint filed from it.
    cs = await person(browser, live, "dev-cs")
    await cs.fill("header input[name=q]", "客户 2")
    await cs.press("header input[name=q]", "Enter")
    await cs.click("[data-testid=search-results] a[href='/ui/customers/c-b2']")
    await cs.wait_for_selector("[data-testid=customer-cases] tr[data-case='order:B-2']")
    await shot(cs, "35-customer-page")
    await cs.click("[data-testid=new-complaint]")
    assert await cs.input_value("input[name='customer.name']") == "客户 2"
    await cs.fill("input[name=order_no]", "B-2")
    await cs.select_option("select[name=category]", "delivery")
    await cs.fill("textarea[name=description]", "包裹外箱破损 the box arrived crushed")
    await cs.click("[data-testid=complaint-form] button[type=submit]")
    await cs.wait_for_url("**/ui/cases/complaint/*")
    await cs.goto(f"{live}/ui/customers/c-b2")
    assert await cs.locator("[data-testid=customer-cases] tr[data-case^='complaint:']").count() == 1
    await cs.set_viewport_size(PHONE)
    await no_sideways_scroll(cs)
    await shot(cs, "36-phone-customer-page")

    # ... and files a phone order from it: the customer filled in, the catalogue's price.
    r = await http.patch("/api/v1/products/CUP", headers=auth("admin"), json={
        "price": "45.00", "specification": "120 ml", "origin": "龙泉 Longquan"})
    assert r.status_code == 200, r.text
    await cs.click("[data-testid=new-order]")
    await cs.wait_for_selector("[data-testid=order-form]")
    assert await cs.input_value("input[name='customer.name']") == "客户 2"
    assert await cs.input_value("select[name=channel]") == "phone"
    await no_sideways_scroll(cs)
    await shot(cs, "39-phone-order-from-customer")
    await cs.set_viewport_size({"width": 1280, "height": 720})
    await cs.select_option("select[name='items.0.sku']", "CUP")
    await cs.fill("input[name='items.0.quantity']", "2")
    await cs.fill("input[name='address.line1']", "文三路 2 号")
    await cs.fill("input[name='address.city']", "杭州")
    await cs.check("input[name=payment_method][value=cod]")
    await cs.click("[data-testid=order-form] button[type=submit]")
    await cs.wait_for_url("**/ui/cases/order/*")
    no = cs.url.split("/")[-1].split("?")[0]
    order = (await http.get(f"/api/v1/orders/{no}", headers=auth("cs"))).json()
    assert (order["channel"], order["customer_id"], order["total"]) == ("phone", "c-b2", 90.0)

    # Ops reads where cases wait: the dashboard's link, the step map, at phone width too.
    ops = await person(browser, live, "dev-ops")
    await ops.click("header a:has-text('Dashboard')")
    await ops.click("[data-testid=steps-link]")
    await ops.wait_for_url("**/ui/reports/steps")
    orders = ops.locator("section[data-process=order]")
    assert "Order fulfilment" in await orders.text_content()  # the fulfil tasks, done and open
    assert await ops.locator("[data-testid=steps-csv]").count() == 1
    await shot(ops, "40-step-map")
    await ops.set_viewport_size(PHONE)
    await no_sideways_scroll(ops)
    await shot(ops, "41-phone-step-map")


async def test_signing_out_in_the_browser_ends_the_session(live: str, browser: Any) -> None:
    page = await person(browser, live, "dev-reviewer")
    assert "dev-reviewer" in await page.text_content("[data-testid=whoami]")
    await page.click("header button:has-text('Sign out')")
    await page.wait_for_url(f"{live}/ui/login?note=signed_out")
    cookies = await page.context.cookies()
    assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies if c["name"] == "shopflow_ui")
    await page.goto(f"{live}/ui/inbox")
    assert "/ui/login" in page.url


async def test_without_chromium_these_tests_skip_with_a_reason_but_fail_on_ci(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        need_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        need_chromium()


async def test_finance_settles_a_day(live: str, browser: Any, engine: Engine) -> None:
    """Issue 17.6: finance opens the reconciliation from its menu, reads today's payments,
    refunds and COD transfer refunds per provider, settles the online day with a note, and the
    page says who settled it (on a phone-width screen too)."""
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        s.add(Payment(order_no="R-1", transaction_id="tx-r1", method="online",
                      amount_cents=12345, received_at=now))
        s.add(Payment(order_no="R-2", transaction_id="cod-r2", method="cod", amount_cents=5000,
                      status="collected", received_at=now))
        s.add(Refund(key="r-r2", order_no="R-2", amount_cents=1500, method="bank_transfer",
                     status="transfer_due", completed_at=now))
    fin = await person(browser, live, "dev-finance")
    await fin.click("header a:has-text('Reconciliation')")
    await fin.wait_for_url("**/ui/reconciliation")
    online = "section[data-provider=online]"
    assert "123.45" in await fin.text_content(f"{online} [data-testid=totals-online]")
    assert "35.00" in await fin.text_content("[data-testid=totals-cod]")  # 50.00 - 15.00
    await shot(fin, "37-reconciliation")
    await fin.fill("[data-testid=settle-online] input[name=note]", "对账单一致 statement matches")
    await fin.click("[data-testid=settle-online] button[type=submit]")
    await fin.wait_for_url("**note=settled")
    settled = await fin.text_content("[data-testid=settled-online]")
    assert "finance" in settled and "statement matches" in settled
    assert await fin.locator("[data-testid=settle-cod]").count() == 1
    await fin.set_viewport_size(PHONE)
    await no_sideways_scroll(fin)
    await shot(fin, "38-phone-reconciliation")
