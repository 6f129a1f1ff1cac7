"""The customer's status page (issue 18, the customer's side): a signed link with an expiry
opens a page, in the customer's language, that says where a sample, order, return or complaint
is, and nothing staff-only; every other link is a plain 404. The order confirmation carries
the link."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from shopflow.models import Case, Customer, FeedbackRequest, Notice, Shipment
from shopflow.security.links import (
    DEV_KEY,
    status_case,
    status_token,
    status_url,
    token_hash,
)
from shopflow.settings import Settings
from tests.helpers import app_for
from tests.scenes import pay, place, ship, wait_order

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
SECRET_NOTE = "VIP: refund without asking, reviewer wang.fang"


# --- the token ------------------------------------------------------------------------------

def test_token_round_trip_and_expiry() -> None:
    token = status_token(DEV_KEY, "order-WEB-1|x", NOW + timedelta(days=1))
    assert status_case(DEV_KEY, token, NOW) == "order-WEB-1|x"
    assert status_case(DEV_KEY, token, NOW + timedelta(days=1)) is None  # expired
    assert len(token.partition(".")[2]) == 43  # 256-bit mac


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the mac
    lambda t: ("B" if t[0] != "B" else "C") + t[1:],  # the payload
    lambda t: base64.urlsafe_b64encode(b"order-OTHER|9999999999").decode().rstrip("=")
    + "." + t.partition(".")[2],  # another case under this mac
    lambda t: t.partition(".")[0],  # no mac
    lambda t: "",
    lambda t: "...",
    lambda t: "é." + t,
    lambda t: t + t,
])
def test_a_tampered_token_reads_as_no_case(tamper: Any) -> None:
    token = status_token(DEV_KEY, "order-WEB-1", NOW + timedelta(days=1))
    assert status_case(DEV_KEY, tamper(token), NOW) is None


def test_a_token_of_another_key_reads_as_no_case() -> None:
    token = status_token(b"another key", "order-WEB-1", NOW + timedelta(days=1))
    assert status_case(DEV_KEY, token, NOW) is None


# --- the page, from the read-model -----------------------------------------------------------

CASES = [  # kind, id, status, stage, (zh-CN words, en words) the page must show
    ("sample", "S-1", "open", "review", ("审核中", "Being reviewed")),
    ("order", "WEB-9", "shipped", "delivery", ("已发货", "On its way")),
    ("return", "RT-1", "approved", "awaiting_parcel", ("请按说明寄回商品",
                                                       "Please send the items back")),
    ("complaint", "CP-1", "waiting_customer", "handling", ("等待您的回复",
                                                           "Waiting for your reply")),
]


@pytest.fixture
async def page_client(settings: Settings, engine: Engine) -> Any:
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as http:
        yield http


def _seed(engine: Engine, kind: str, case_id: str, status: str, stage: str, locale: str) -> None:
    with Session(engine) as s:
        s.add(Customer(id=f"c-{case_id}", name="Li Wei", locale=locale))
        s.add(Case(id=case_id, kind=kind, workflow_id=f"{kind}-{case_id}", status=status,
                   stage=stage, customer_id=f"c-{case_id}",
                   data={"notes": SECRET_NOTE, "assignee": "wang.fang", "credit_rating": "A",
                         "total": "161.50"},
                   created_at=NOW - timedelta(days=3), updated_at=NOW - timedelta(days=1)))
        if kind == "order":
            s.add(Shipment(tracking_no="SF9", courier="SF Express", order_no=case_id,
                           case_id=case_id, workflow_id=f"order-{case_id}",
                           tracking_url="https://track.example.com/SF/SF9",
                           shipped_at=NOW - timedelta(days=1), updated_at=NOW))
        s.commit()


def _path(settings: Settings, case_id: str) -> str:
    return status_url(settings, case_id, datetime.now(UTC)).removeprefix(settings.public_url)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize(("kind", "case_id", "status", "stage", "words"), CASES)
async def test_each_process_in_the_customer_language(
        page_client: httpx.AsyncClient, settings: Settings, engine: Engine, locale: str,
        kind: str, case_id: str, status: str, stage: str, words: tuple[str, str]) -> None:
    _seed(engine, kind, case_id, status, stage, locale)
    r = await page_client.get(_path(settings, case_id))
    assert r.status_code == 200, r.text
    html = r.text
    assert f'<html lang="{locale}">' in html
    assert words[0 if locale == "zh-CN" else 1] in html
    assert case_id in html and (NOW - timedelta(days=3)).date().isoformat() in html
    assert ("下一步" if locale == "zh-CN" else "Next step") in html
    # Nothing staff-only: no note, person, rating, amount, status code or workflow id.
    for hidden in (SECRET_NOTE, "wang.fang", "credit", "161.50", f"{kind}-{case_id}",
                   f">{status}<"):
        assert hidden not in html
    if kind == "order":
        assert 'href="https://track.example.com/SF/SF9"' in html and "SF9" in html
    # The headers of the other public pages, and no caching of a customer's status.
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    # Also under /api/v1 (in the OpenAPI).
    assert (await page_client.get("/api/v1" + _path(settings, case_id))).text == html


def test_a_return_waiting_for_its_price_difference_says_so(engine: Engine) -> None:
    from shopflow.services.status import customer_status

    _seed(engine, "return", "RT-2", "exchange_pending", "exchange", "en")
    with Session(engine) as s:
        case = s.get(Case, "RT-2")
        assert case is not None
        case.data = {**case.data, "difference": {"status": "due", "amount": "4.50"}}
        s.add(case)
        s.commit()
    view = customer_status(engine, "RT-2")
    assert view is not None and view["stage"] == "Waiting for the price difference"
    assert "4.50" not in str(view)  # no amount on the page
    with Session(engine) as s:
        case = s.get(Case, "RT-2")
        assert case is not None
        case.data = {**case.data, "difference": {"status": "paid"}}
        s.add(case)
        s.commit()
    assert customer_status(engine, "RT-2")["stage"] == "Exchange being prepared"  # type: ignore[index]


async def test_unknown_expired_and_tampered_links_are_a_plain_404(
        page_client: httpx.AsyncClient, settings: Settings, engine: Engine) -> None:
    _seed(engine, "order", "WEB-9", "shipped", "delivery", "en")
    good = _path(settings, "WEB-9")
    expired = status_token(DEV_KEY, "WEB-9", datetime.now(UTC) - timedelta(seconds=1))
    unknown = _path(settings, "WEB-404")  # signed, but no such case
    for path in (good[:-2] + "xx", f"/status/{expired}", unknown, "/status/nonsense",
                 "/status/%00", "/status/" + "A" * 5000, "/api/v1/status/a.b"):
        r = await page_client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "Not found" in r.text and "WEB-9" not in r.text and "SF9" not in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "/api/v1/status/{token}" in (await page_client.get("/openapi.json")).json()["paths"]


# --- the link in the notice, end to end ------------------------------------------------------

@pytest.mark.usefixtures("catalogue")
async def test_the_order_confirmation_links_to_its_status_page(
        api: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
    no = await place(api, order_no="WEB-77")
    await pay(api, no, tx="PAY-77")
    await ship(api, no, tracking="SF77")
    await wait_order(api, no, "shipped")
    with Session(engine) as s:
        notice = s.exec(select(Notice).where(Notice.case_id == no,
                                             Notice.kind == "order_confirmed")).one()
    assert "status_url" not in notice.data  # the link lives only in the message
    line = next(x for x in notice.body_text.splitlines() if "/status/" in x)
    url = line[line.index("http"):].strip()
    assert url.startswith(f"{settings.public_url}/status/") and f'href="{url}"' in notice.body_html
    r = await api.get(url.removeprefix(settings.public_url))
    assert r.status_code == 200, r.text
    assert "已发货" in r.text and "SF77" in r.text  # zh-CN: the customer's default language


# --- the feedback form says what it is about ------------------------------------------------

@pytest.mark.parametrize(("kind", "case_id", "data", "about"), [
    ("sample", "S-7", {"items": [{"sku": "TEA", "requested_quantity": 3,
                                  "approved_quantity": 2}]}, "Sample request S-7"),
    ("followup", "FU-7", {"order_no": "WEB-7", "items": [
        {"sku": "CUP", "name": "Celadon cup", "quantity": 1}]}, "Order WEB-7"),
    ("complaint", "CP-7", {"order_no": "WEB-7"}, "Complaint CP-7"),
])
async def test_the_feedback_form_says_what_it_is_about(
        page_client: httpx.AsyncClient, engine: Engine, kind: str, case_id: str,
        data: dict[str, Any], about: str) -> None:
    with Session(engine) as s:
        s.add(Case(id=case_id, kind=kind, workflow_id=f"{kind}-{case_id}", status="open",
                   stage="awaiting_feedback", data=data, created_at=NOW, updated_at=NOW))
        s.add(FeedbackRequest(token=token_hash("link-7"), case_id=case_id,
                              workflow_id=f"{kind}-{case_id}", kind=kind, created_at=NOW))
        s.commit()
    html = (await page_client.get("/feedback/link-7")).text
    assert f"About: {about}" in html
    if kind == "sample":
        assert "TEA × 2" in html  # the approved quantity: what was sent
    if kind == "followup":
        assert "Celadon cup × 1" in html and "Usage" in html
    if kind == "complaint":
        assert "How was your complaint handled?" in html and "Usage" not in html
