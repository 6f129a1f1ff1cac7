"""Finance's reconciliation (issue 17.6): a day's payments, refunds and COD transfer refunds
per provider from hand-made rows (exact totals, the day's bounds in the time zone, what does
not count), settling once (409 the second time, audited), ``GET /api/v1/reconciliation``
(roles, 422s naming the field, formula-safe CSV) and the finance page with its settle form."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from shopflow.db import session_scope
from shopflow.models import AuditEvent, Payment, Refund
from shopflow.services import reconciliation
from shopflow.services.errors import Refused
from shopflow.settings import Settings
from shopflow.workflows.shared import Actor
from tests.helpers import app_for, auth
from tests.test_ui_pages import csrf_of, sign_in

pytestmark = pytest.mark.asyncio
DAY = date(2025, 2, 10)
FINANCE = Actor("fiona", "finance")


def t(day: int, hour: float = 0) -> datetime:
    return datetime(2025, 2, day, tzinfo=UTC) + timedelta(hours=hour)


def pay(engine: Engine, tx: str, method: str, cents: int, at: datetime,
        order_no: str = "SO-1") -> None:
    with session_scope(engine) as s:
        s.add(Payment(order_no=order_no, transaction_id=tx, method=method, amount_cents=cents,
                      status="captured" if method == "online" else "collected", received_at=at))


def refund(engine: Engine, key: str, method: str, status: str, cents: int,
           done: datetime | None, order_no: str = "SO-1") -> None:
    with session_scope(engine) as s:
        s.add(Refund(key=key, order_no=order_no, case_kind="return", case_id=f"R-{key}",
                     amount_cents=cents, method=method, status=status, created_at=t(1),
                     completed_at=done, provider_ref=f"ref-{key}" if done else None))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The books below are kept in UTC days (SHOPFLOW_TIMEZONE's default is Asia/Shanghai)."""
    return settings.model_copy(update={"timezone": "UTC"})


@pytest.fixture
def books(engine: Engine) -> None:
    """On 10 Feb (UTC): online payments 100.10 and 20.05 (one at 23:59), a COD collection of
    55.00; a succeeded online refund of 10.01, a COD transfer refund due of 5.50. Not counted:
    a payment on the 11th, a pending and a refused refund, a refund done on the 9th, and an
    order number that starts like a formula."""
    pay(engine, "tx-1", "online", 10010, t(10, 9))
    pay(engine, "tx-2", "online", 2005, t(10, 23.99))
    pay(engine, "cod-1", "cod", 5500, t(10, 12), order_no="=HYPERLINK(\"x\")")
    pay(engine, "tx-next", "online", 999, t(11, 0))
    refund(engine, "r-ok", "original", "succeeded", 1001, t(10, 15))
    refund(engine, "r-cod", "bank_transfer", "transfer_due", 550, t(10, 16))
    refund(engine, "r-pending", "original", "pending", 300, None)
    refund(engine, "r-refused", "original", "refused", 400, t(10, 17))
    refund(engine, "r-before", "original", "succeeded", 700, t(9, 23))


def by_provider(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["provider"]: p for p in view["providers"]}


async def test_totals_per_provider_from_the_books(engine: Engine, settings: Settings,
                                                 books: None) -> None:
    day = by_provider(reconciliation.day_view(engine, settings, DAY))
    online, cod = day["online"], day["cod"]
    assert online["totals"] == {"payments": 120.15, "refunds": 10.01, "transfers": 0.0,
                                "net": 110.14, "lines": 3}
    assert [p["reference"] for p in online["payments"]] == ["tx-1", "tx-2"]
    assert [(r["reference"], r["amount"]) for r in online["refunds"]] == [("ref-r-ok", 10.01)]
    assert cod["totals"] == {"payments": 55.0, "refunds": 0.0, "transfers": 5.5,
                             "net": 49.5, "lines": 2}
    assert [(r["order_no"], r["status"]) for r in cod["transfers"]] == [("SO-1", "transfer_due")]
    assert online["settlement"] is None and not online["changed_since_settled"]
    only_cod = reconciliation.day_view(engine, settings, DAY, "cod")
    assert [p["provider"] for p in only_cod["providers"]] == ["cod"]
    # The day is the schedule time zone's: in Shanghai (UTC+8) 10 Feb ends at 16:00 UTC.
    shanghai = settings.model_copy(update={"timezone": "Asia/Shanghai"})
    local = by_provider(reconciliation.day_view(engine, shanghai, DAY))["online"]
    assert [p["reference"] for p in local["payments"]] == ["tx-1"]
    assert local["totals"]["refunds"] == 17.01  # r-before: 23:00 UTC on the 9th is the 10th


async def test_a_day_is_settled_once_and_audited(engine: Engine, settings: Settings,
                                                 books: None) -> None:
    done = reconciliation.settle(engine, settings, DAY, "online", " books match ", FINANCE)
    assert done["settled_by"] == "fiona" and done["note"] == "books match"
    assert done["payments"] == 120.15 and done["refunds"] == 10.01
    with pytest.raises(Refused) as again:
        reconciliation.settle(engine, settings, DAY, "online", "again", FINANCE)
    assert again.value.status == 409 and again.value.code == "already_settled"
    with session_scope(engine, write=False) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.entity == "reconciliation")).all()
    assert [(e.actor, e.entity_id, e.action) for e in events] == [
        ("fiona", "2025-02-10:online", "settle")]
    day = by_provider(reconciliation.day_view(engine, settings, DAY))
    assert day["online"]["settlement"]["note"] == "books match"
    assert day["cod"]["settlement"] is None
    pay(engine, "tx-late", "online", 100, t(10, 20))  # booked after the settle
    assert by_provider(reconciliation.day_view(engine, settings, DAY))["online"][
        "changed_since_settled"]
    with pytest.raises(Refused) as future:
        reconciliation.settle(engine, settings, date.today() + timedelta(days=2), "cod", "",
                              FINANCE)
    assert future.value.status == 422 and future.value.details == {
        "date": (date.today() + timedelta(days=2)).isoformat()}


@pytest.fixture
async def http(settings: Settings, engine: Engine,
               books: None) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as client:
        yield client


def locs(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    return [d["loc"][-1] for d in details] if isinstance(details, list) else list(details)


PATH = "/api/v1/reconciliation"


async def test_the_api_answers_finance_ops_and_admin_with_json_or_csv(
        http: httpx.AsyncClient) -> None:
    params = {"date": "2025-02-10"}
    for role in ("finance", "ops", "admin"):
        r = await http.get(PATH, params=params, headers=auth(role))
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["date"] == "2025-02-10"
    assert by_provider(body)["online"]["totals"]["net"] == 110.14
    for role in ("cs", "reviewer", "warehouse", "channel"):
        assert (await http.get(PATH, params=params, headers=auth(role))).status_code == 403
        assert (await http.post(f"{PATH}/settle", json={"date": "2025-02-10",
                                                        "provider": "cod"},
                                headers=auth(role))).status_code == 403
    assert (await http.get(PATH)).status_code == 401
    assert (await http.get(PATH, headers=auth("finance"))).status_code == 200  # today

    exported = await http.get(PATH, params={**params, "format": "csv", "provider": "cod"},
                              headers=auth("finance"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == reconciliation.CSV_HEADER
    assert rows[1][:5] == ["2025-02-10", "cod", "payment", "'=HYPERLINK(\"x\")", "cod-1"]
    assert rows[1][-1] == "55.00"
    assert ["2025-02-10", "cod", "total", "", "net", "open", "", "49.50"] in rows
    assert PATH in (await http.get("/openapi.json")).json()["paths"]


async def test_settling_twice_is_a_409_and_bad_input_a_422_naming_the_field(
        http: httpx.AsyncClient) -> None:
    fin = auth("finance")
    body = {"date": "2025-02-10", "provider": "cod", "note": "bank statement 7"}
    first = await http.post(f"{PATH}/settle", json=body, headers=fin)
    assert first.status_code == 201, first.text
    assert first.json()["settled_by"] and first.json()["transfers"] == 5.5
    second = await http.post(f"{PATH}/settle", json=body, headers=auth("admin"))
    assert second.status_code == 409 and second.json()["error"]["code"] == "already_settled"
    shown = by_provider((await http.get(PATH, params={"date": "2025-02-10"}, headers=fin)).json())
    assert shown["cod"]["settlement"]["note"] == "bank statement 7"

    assert locs(await http.get(PATH, params={"date": "2025-02-30"}, headers=fin)) == ["date"]
    assert locs(await http.get(PATH, params={"provider": "paypal"}, headers=fin)) == ["provider"]
    assert locs(await http.get(PATH, params={"format": "xml"}, headers=fin)) == ["format"]
    edge = await http.get(PATH, params={"date": "9999-12-31"}, headers=fin)
    assert locs(edge) == ["date"]  # the day after cannot be held: 422, not 500
    for bad, field in (({"provider": "cod"}, "date"), ({**body, "provider": "x"}, "provider"),
                       ({**body, "date": "tomorrow"}, "date"),
                       ({**body, "note": "n" * 501}, "note"), ({**body, "extra": 1}, "extra")):
        assert locs(await http.post(f"{PATH}/settle", json=bad, headers=fin)) == [field]
    future = await http.post(f"{PATH}/settle", headers=fin, json={
        **body, "date": (date.today() + timedelta(days=2)).isoformat()})
    assert locs(future) == ["date"]


async def test_the_finance_page_shows_the_day_settles_it_and_exports_csv(
        http: httpx.AsyncClient) -> None:
    await sign_in(http, "dev-cs")
    assert 'href="/ui/reconciliation"' not in (await http.get("/ui/inbox")).text
    assert (await http.get("/ui/reconciliation")).status_code == 403
    assert (await http.get("/ui/reconciliation.csv")).status_code == 403
    http.cookies.clear()
    await sign_in(http, "dev-finance")
    assert 'href="/ui/reconciliation"' in (await http.get("/ui/inbox")).text
    page = await http.get("/ui/reconciliation", params={"date": "2025-02-10"})
    assert page.status_code == 200, page.text
    assert "120.15" in page.text and "110.14" in page.text and "49.50" in page.text
    assert 'href="/ui/reconciliation.csv?date=2025-02-10"' in page.text
    assert 'data-testid="settle-online"' in page.text
    form = {"csrf_token": csrf_of(page.text), "date": "2025-02-10", "provider": "online",
            "note": "matched"}
    done = await http.post("/ui/reconciliation/settle", data=form)
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/reconciliation?date=2025-02-10&note=settled"
    again = await http.post("/ui/reconciliation/settle", data=form)
    assert again.headers["location"].endswith("note=already_settled")
    settled = await http.get("/ui/reconciliation", params={"date": "2025-02-10"})
    assert 'data-testid="settled-online"' in settled.text and "matched" in settled.text
    assert 'data-testid="settle-online"' not in settled.text
    assert 'data-testid="settle-cod"' in settled.text
    exported = await http.get("/ui/reconciliation.csv", params={"date": "2025-02-10"})
    assert exported.status_code == 200 and "online,total,,net,settled,,110.14" in exported.text
    assert (await http.get("/ui/reconciliation", params={"date": "x"})).status_code == 422
    bad = await http.post("/ui/reconciliation/settle", data={**form, "provider": "paypal"})
    assert bad.status_code == 422
