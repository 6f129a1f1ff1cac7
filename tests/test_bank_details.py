"""Bank details for a COD transfer refund (issue 17.6): finance asks on the reconciliation page
or through ``POST /api/v1/refunds/{id}/bank-details-request`` (finance/ops/admin, audited, one
open request at a time), the customer gets one notice with a one-time link (only its hash is
stored), answers on a public form (each bad field named), the link then refuses a second answer
(410), finance sees the account masked to its last 4 digits and records the transfer made
(``POST /api/v1/refunds/{id}/transfer-paid``, once, only after the details came)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import select
from temporalio.client import Client
from temporalio.worker import Worker

from shopflow.activities.notices import NoticeActivities
from shopflow.db import session_scope
from shopflow.models import AuditEvent, BankDetailsRequest, Customer, Notice, Order
from shopflow.models.types import utcnow
from shopflow.security.links import token_hash
from shopflow.settings import Settings
from shopflow.workflows.shared import NoticeRequest
from tests.helpers import app_for, auth
from tests.test_reconciliation import by_provider, refund, t
from tests.test_ui_pages import csrf_of, sign_in

pytestmark = pytest.mark.asyncio
DAY = "2025-02-10"
LINK = re.compile(r"http://shop\.test/bank-details/([A-Za-z0-9_-]+)")


class FakeClient:
    """Records the workflow starts (the notice's), or fails them like an unreachable server."""

    def __init__(self, fail: bool = False) -> None:
        self.started: list[tuple[NoticeRequest, str]] = []
        self.fail = fail

    async def start_workflow(self, _: Any, arg: NoticeRequest, *, id: str, **__: Any) -> None:
        if self.fail:
            raise RuntimeError("Failed client connect: unreachable")
        self.started.append((arg, id))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"timezone": "UTC"})


@pytest.fixture
def cod_refunds(engine: Engine) -> dict[str, int]:
    """A COD order of customer C-1 with a transfer refund due (5.50), and an online refund."""
    with session_scope(engine) as s:
        s.add(Customer(id="C-1", name="Li Lei", email="li@example.com", locale="en"))
        s.add(Order(order_no="SO-1", customer_id="C-1", total_cents=5500, created_at=t(1),
                    payment_method="cod"))
    refund(engine, "r-cod", "bank_transfer", "transfer_due", 550, t(10, 16))
    refund(engine, "r-ok", "original", "succeeded", 1001, t(10, 15))
    with session_scope(engine, write=False) as s:
        from shopflow.models import Refund
        return {r.key: r.id for r in s.exec(select(Refund)).all()}  # type: ignore[misc]


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
async def http(settings: Settings, engine: Engine, fake: FakeClient,
               cod_refunds: dict[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings, engine, fake)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as client:
        yield client


def ask_path(refund_id: int) -> str:
    return f"/api/v1/refunds/{refund_id}/bank-details-request"


def outbox(engine: Engine, settings: Settings, req: NoticeRequest) -> Notice:
    """The notice's outbox row as the send activity writes it (rendered, once per dedup key)."""
    acts = NoticeActivities(engine, settings, channels={})
    first, again = acts.write_outbox(req), acts.write_outbox(req)
    assert first == again
    with session_scope(engine, write=False) as s:
        notice = s.get(Notice, first)
        assert notice is not None
        return notice


async def test_finance_asks_once_audited_and_the_notice_carries_a_hashed_one_time_link(
        http: httpx.AsyncClient, fake: FakeClient, engine: Engine, settings: Settings,
        cod_refunds: dict[str, int]) -> None:
    rid = cod_refunds["r-cod"]
    for role in ("cs", "warehouse", "reviewer", "channel"):
        assert (await http.post(ask_path(rid), headers=auth(role))).status_code == 403
    assert (await http.post(ask_path(rid))).status_code == 401
    r = await http.post(ask_path(rid), headers=auth("finance"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "requested" and body["refund_id"] == rid
    assert body["requested_by"] and body["account"] is None
    again = await http.post(ask_path(rid), headers=auth("ops"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "bank_details_requested"
    assert again.json()["error"]["details"]["requested_by"] == body["requested_by"]
    online = await http.post(ask_path(cod_refunds["r-ok"]), headers=auth("finance"))
    assert online.status_code == 409 and online.json()["error"]["code"] == "no_transfer_due"
    assert (await http.post(ask_path(99999), headers=auth("finance"))).status_code == 404
    assert (await http.post(ask_path(0), headers=auth("finance"))).status_code == 422
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/api/v1/refunds/{refund_id}/bank-details-request" in paths

    early = await http.post(f"/api/v1/refunds/{rid}/transfer-paid", headers=auth("finance"),
                            json={"reference": "BANK-1"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "bank_details_missing"
    [(notice_req, workflow_id)] = fake.started  # one notice, whatever was asked after
    assert workflow_id == f"bank-details-{body['id']}"
    assert notice_req.customer_id == "C-1" and notice_req.kind == "bank_details_request"
    notice = outbox(engine, settings, notice_req)
    assert notice.recipient == "li@example.com" and notice.locale == "en"
    [token] = LINK.findall(notice.body_text)
    assert "5.50" in notice.body_text and "SO-1" in notice.subject
    with session_scope(engine, write=False) as s:
        [row] = s.exec(select(BankDetailsRequest)).all()
        assert row.token == token_hash(token) and token not in repr(row)
        assert token not in repr(notice.data)  # the outbox keeps the ref, not the link
        events = s.exec(select(AuditEvent).where(AuditEvent.entity == "refund")).all()
        assert [(e.actor, e.action, e.entity_id) for e in events] == [
            (body["requested_by"], "bank_details_request", str(rid))]


async def test_the_customer_answers_once_each_bad_field_named_and_finance_sees_it_masked(
        http: httpx.AsyncClient, fake: FakeClient, engine: Engine, settings: Settings,
        cod_refunds: dict[str, int]) -> None:
    rid = cod_refunds["r-cod"]
    assert (await http.post(ask_path(rid), headers=auth("finance"))).status_code == 201
    [token] = LINK.findall(outbox(engine, settings, fake.started[0][0]).body_text)
    url = f"/bank-details/{token}"

    form = await http.get(url)
    assert form.status_code == 200 and "SO-1" in form.text and "5.50" in form.text
    assert "<script>" not in form.text and "style=" not in form.text  # CSP-clean
    csp = form.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    good = {"account_holder": "Li Lei", "bank_name": "ICBC Shanghai",
            "account_number": "6222 0212 3456 7890"}
    for field, value in (("account_holder", " "), ("bank_name", ""),
                         ("account_number", "6222-abc-7890"), ("account_number", "1234567")):
        bad = await http.post(url, data={**good, field: value})
        assert bad.status_code == 422, (field, bad.text)
        assert f'data-field="{field}"' in bad.text and f"{field}:" in bad.text
        assert 'value="Li Lei"' in bad.text or field == "account_holder"  # input kept
    done = await http.post(url, data=good)
    assert done.status_code == 200 and "Thank you" in done.text

    second = await http.post(url, data={**good, "account_number": "1111222233334444"})
    assert second.status_code == 410 and "used already" in second.text
    assert (await http.get(url)).status_code == 410
    assert (await http.get("/bank-details/not-a-link")).status_code == 404
    with session_scope(engine, write=False) as s:
        [row] = s.exec(select(BankDetailsRequest)).all()
        assert row.account_number == "6222021234567890" and row.status == "received"
        assert [e.actor for e in s.exec(select(AuditEvent).where(
            AuditEvent.action == "bank_details_received"))] == ["customer"]

    view = (await http.get("/api/v1/reconciliation", params={"date": DAY},
                           headers=auth("finance"))).json()
    [line] = by_provider(view)["cod"]["transfers"]
    shown = line["bank_details"]
    assert shown["status"] == "received" and shown["account"] == "****7890"
    assert "6222021234567890" not in str(view)
    again = await http.post(ask_path(rid), headers=auth("finance"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "bank_details_received"

    await sign_in(http, "dev-finance")
    page = await http.get("/ui/reconciliation", params={"date": DAY})
    assert f'data-testid="account-{rid}">****7890<' in page.text
    assert "6222021234567890" not in page.text and "ICBC Shanghai" in page.text
    assert f'data-testid="ask-bank-{rid}"' not in page.text
    # finance makes the transfer and records it (422 naming the reference; once)
    paid_path = f"/api/v1/refunds/{rid}/transfer-paid"
    blank = await http.post(paid_path, headers=auth("finance"), json={"reference": " "})
    assert blank.status_code == 422 and blank.json()["error"]["details"][0]["loc"][-1] == "reference"
    assert (await http.post(paid_path, headers=auth("cs"), json={"reference": "x"})).status_code == 403
    assert f'data-testid="transfer-paid-{rid}"' in page.text
    marked = await http.post(f"/ui/refunds/{rid}/transfer-paid", data={
        "csrf_token": csrf_of(page.text), "back": f"/ui/reconciliation?date={DAY}",
        "reference": "ICBC-20250211-7"})
    assert marked.headers["location"].endswith("note=transfer_marked_paid")
    twice = await http.post(paid_path, headers=auth("finance"), json={"reference": "again"})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "transfer_paid"
    after = await http.get("/ui/reconciliation", params={"date": DAY})
    assert f'data-testid="transfer-paid-{rid}"' not in after.text and "ICBC-20250211-7" in after.text
    with session_scope(engine, write=False) as s:
        assert [(e.action, e.after) for e in s.exec(select(AuditEvent).where(
            AuditEvent.action == "transfer_paid"))] == [
            ("transfer_paid", {"status": "succeeded", "reference": "ICBC-20250211-7"})]
    # the day settles with the transfer in it
    settled = await http.post("/api/v1/reconciliation/settle", headers=auth("finance"),
                              json={"date": DAY, "provider": "cod", "note": "paid by transfer"})
    assert settled.status_code == 201 and settled.json()["transfers"] == 5.5


async def test_an_expired_link_is_refused_and_finance_may_ask_again_from_the_page(
        http: httpx.AsyncClient, fake: FakeClient, engine: Engine, settings: Settings,
        cod_refunds: dict[str, int]) -> None:
    rid = cod_refunds["r-cod"]
    await sign_in(http, "dev-finance")
    page = await http.get("/ui/reconciliation", params={"date": DAY})
    assert f'data-testid="ask-bank-{rid}"' in page.text
    form = {"csrf_token": csrf_of(page.text), "back": f"/ui/reconciliation?date={DAY}"}
    asked = await http.post(f"/ui/refunds/{rid}/bank-details-request", data=form)
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/ui/reconciliation?date={DAY}&note=bank_details_asked"
    shown = await http.get(asked.headers["location"])
    assert "Asked, waiting for the customer" in shown.text
    assert f'data-testid="ask-bank-{rid}"' not in shown.text
    twice = await http.post(f"/ui/refunds/{rid}/bank-details-request", data=form)
    assert twice.headers["location"].endswith("note=bank_details_requested")
    assert len(fake.started) == 1
    [token] = LINK.findall(outbox(engine, settings, fake.started[0][0]).body_text)

    with session_scope(engine) as s:
        s.execute(update(BankDetailsRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    late = await http.post(f"/bank-details/{token}", data={
        "account_holder": "Li Lei", "bank_name": "ICBC", "account_number": "62220212345678"})
    assert late.status_code == 410 and "expired" in late.text
    expired = await http.get("/ui/reconciliation", params={"date": DAY})
    assert "The link expired" in expired.text and f'data-testid="ask-bank-{rid}"' in expired.text
    anew = await http.post(f"/ui/refunds/{rid}/bank-details-request", data=form)
    assert anew.headers["location"].endswith("note=bank_details_asked")
    assert len(fake.started) == 2 and fake.started[0][1] != fake.started[1][1]


async def test_temporal_unreachable_withdraws_the_request(
        settings: Settings, engine: Engine, cod_refunds: dict[str, int]) -> None:
    app = app_for(settings, engine, FakeClient(fail=True))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as http:
        r = await http.post(ask_path(cod_refunds["r-cod"]), headers=auth("finance"))
    assert r.status_code == 503, r.text
    with session_scope(engine, write=False) as s:
        assert s.exec(select(BankDetailsRequest)).all() == []
        assert [e.action for e in s.exec(select(AuditEvent).where(
            AuditEvent.entity == "refund"))] == ["bank_details_request", "bank_details_withdrawn"]


async def test_the_notice_workflow_sends_it_through_the_outbox_once(
        settings: Settings, engine: Engine, client: Client, worker: Worker,
        cod_refunds: dict[str, int]) -> None:
    app = app_for(settings, engine, client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as http:
        r = await http.post(ask_path(cod_refunds["r-cod"]), headers=auth("finance"))
        assert r.status_code == 201, r.text
        handle = client.get_workflow_handle(f"bank-details-{r.json()['id']}")
        assert await handle.result() is True
    with session_scope(engine, write=False) as s:
        [notice] = s.exec(select(Notice).where(Notice.kind == "bank_details_request")).all()
    assert notice.status in ("sent", "logged") and notice.dedup_key == f"bank-details:{r.json()['id']}"
    assert LINK.search(notice.body_text)
