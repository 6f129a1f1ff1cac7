"""Notices end to end: the API, a worker with the real activities on a time-skipping Temporal
server, and a real SMTP server (aiosmtpd) started by the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice
from shopflow.settings import Settings
from shopflow.workflows.base import NOTICE_RETRY
from tests.helpers import (
    auth,
    complete,
    eventually,
    make_product,
    open_task,
    upload_document,
    wait_case,
)
from tests.notices_support import OPS, SmtpServer, mail_settings

pytestmark = pytest.mark.asyncio


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()  # started by each test: some begin with the server down
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return mail_settings(settings, smtp)


async def submit(api: httpx.AsyncClient, cid: str, email: str, locale: str = "zh-CN") -> str:
    r = await api.post("/api/v1/samples", headers=auth("channel"), json={
        "customer": {"id": cid, "name": "Li Wei", "email": email, "locale": locale,
                     "address": "1 West Lake Rd"},
        "channel": "web", "items": [{"sku": "TEA", "quantity": 2}], "purpose": "trial"})
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


def outbox(engine: Engine, case_id: str) -> list[Notice]:
    with Session(engine) as s:
        return list(s.exec(select(Notice).where(Notice.case_id == case_id).order_by(Notice.id)))


async def test_sample_notices_arrive_once_with_the_right_subject_language_and_links(
        api: httpx.AsyncClient, smtp: SmtpServer, tenv: WorkflowEnvironment,
        engine: Engine) -> None:
    smtp.start()
    await make_product(api, "TEA", stock=10, sample_limit=5)
    sid = await submit(api, "c-zh", "li@example.com")
    assert (await upload_document(api, sid)).status_code == 201
    task = await open_task(api, sid, "sample.preliminary_review")
    assert (await complete(api, task, "approve")).status_code == 200
    task = await open_task(api, sid, "sample.review")
    r = await complete(api, task, "approve", items=[{"sku": "TEA", "approved_quantity": 2}])
    assert r.status_code == 200, r.text
    task = await open_task(api, sid, "sample.dispatch")
    r = await complete(api, task, "shipped", courier="SF Express", tracking_no="SF1001")
    assert r.status_code == 200, r.text
    await tenv.sleep(timedelta(days=7, hours=1))
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: (c.get("feedback") or {}).get("status") == "requested")
    await eventually(lambda: len(smtp.inbox.to("li@example.com")) >= 4)

    mails = smtp.inbox.to("li@example.com")
    assert [m.subject for m in mails] == [
        f"样品申请已收到（{sid}）", f"样品申请已批准（{sid}）", f"样品已发货（{sid}）",
        f"请评价您收到的样品（{sid}）"]
    assert all(m.message["Content-Language"] == "zh-CN" for m in mails)
    assert len({m.message["Message-ID"] for m in mails}) == 4
    assert "SF1001" in mails[2].part("plain") and "SF Express" in mails[2].part("html")
    link = sample["feedback"]["url"]
    assert link.startswith("http://shop.test/feedback/")
    assert link in mails[3].part("plain")
    assert f'<a href="{link}">{link}</a>' in mails[3].part("html")
    assert '<html lang="zh-CN">' in mails[3].part("html")

    r = await api.get("/api/v1/notices", params={"case_id": sid}, headers=auth("cs"))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 4 and {n["status"] for n in body["items"]} == {"sent"}
    assert [n["kind"] for n in body["items"]] == ["sample_feedback_request", "sample_shipped",
                                                   "sample_approved", "sample_received"]

    en = await submit(api, "c-en", "jo@example.com", locale="en")
    await eventually(lambda: smtp.inbox.to("jo@example.com"))
    [mail] = smtp.inbox.to("jo@example.com")
    assert mail.subject == f"Sample request received ({en})"
    assert mail.message["Content-Language"] == "en"
    assert "We have received your sample request" in mail.part("plain")
    assert '<html lang="en">' in mail.part("html")
    await tenv.sleep(timedelta(minutes=1))
    assert len(smtp.inbox.to("li@example.com")) == 4 and len(smtp.inbox.to("jo@example.com")) == 1


async def test_the_notice_retries_outlast_a_mail_server_down_for_minutes() -> None:
    """The waits between a notice's attempts (Temporal's backoff: initial interval times the
    coefficient per attempt, capped at the maximum interval) add up to minutes, never more than a
    minute apart: a mail server down for a minute (the drill's outage) loses no notice, and is
    tried again within a minute once it is back. (6 attempts before: 62 s in all.)"""
    p = NOTICE_RETRY
    assert p.maximum_interval is not None
    waits = [min(p.initial_interval.total_seconds() * p.backoff_coefficient ** n,
                 p.maximum_interval.total_seconds()) for n in range(p.maximum_attempts - 1)]
    assert sum(waits) >= 5 * 60
    assert max(waits) <= 60


async def test_smtp_down_then_up_is_retried_with_backoff_and_delivered_once(
        api: httpx.AsyncClient, smtp: SmtpServer, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    sid = await submit(api, "c-1", "li@example.com")  # the SMTP server is down
    first = await eventually(lambda: [n for n in outbox(engine, sid) if n.attempts >= 1
                                      and n.status == "pending" and n.last_error])
    assert "unreachable" in (first[0].last_error or "")
    smtp.start()
    sent = await eventually(lambda: [n for n in outbox(engine, sid) if n.status == "sent"],
                            timeout=30)
    assert sent[0].attempts >= 2 and sent[0].confirmed and sent[0].last_error is None
    await open_task(api, sid, "sample.preliminary_review")  # the case went on meanwhile
    assert len(smtp.inbox.to("li@example.com")) == 1


async def test_an_outage_past_the_retry_limit_fails_the_notice_tells_ops_and_the_case_goes_on(
        api: httpx.AsyncClient, smtp: SmtpServer, tenv: WorkflowEnvironment,
        engine: Engine) -> None:
    smtp.inbox.defer.add("li@example.com")  # 451 for the customer, for good
    smtp.start()
    await make_product(api, "TEA", stock=10, sample_limit=5)
    sid = await submit(api, "c-1", "li@example.com")
    await eventually(lambda: [n for n in outbox(engine, sid) if n.attempts >= 1])
    await tenv.sleep(timedelta(minutes=10))  # through the retry policy's backoff

    def failed() -> list[Notice]:
        return [n for n in outbox(engine, sid) if n.kind == "sample_received"
                and n.status == "failed"]

    [notice] = await eventually(failed, timeout=30)
    assert notice.attempts == NOTICE_RETRY.maximum_attempts
    assert "451" in (notice.last_error or "")
    [ops] = await eventually(lambda: smtp.inbox.to(OPS))
    assert ops.subject == f"通知发送失败：sample_received（{sid}）"
    await open_task(api, sid, "sample.preliminary_review")  # the case went on
    sample = await wait_case(api, f"/api/v1/samples/{sid}",
                             lambda c: any(e["type"] == "notice_failed" for e in c["timeline"]))
    assert sample["status"] == "open"
    assert smtp.inbox.to("li@example.com") == []

    # Ops fixes the cause and resends: delivered once, however often they click.
    smtp.inbox.defer.clear()
    r = await api.post(f"/api/v1/notices/{notice.id}/resend", headers=auth("ops"))
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("pending", "sending", "sent")
    again = await api.post(f"/api/v1/notices/{notice.id}/resend", headers=auth("ops"))
    assert again.status_code == 409
    await eventually(lambda: smtp.inbox.to("li@example.com"))
    # the mail is in the inbox a moment before the outbox row says so
    [sent] = await eventually(lambda: [n for n in outbox(engine, sid)
                                       if n.id == notice.id and n.status == "sent"])
    r = await api.get(f"/api/v1/notices/{notice.id}", headers=auth("cs"))
    assert r.json()["status"] == "sent" and r.json()["resends"] == 1
    assert r.json()["resent_by"] == "dev-ops"
    assert len(smtp.inbox.to("li@example.com")) == 1 and len(smtp.inbox.to(OPS)) == 1


async def test_an_order_whose_notice_fails_for_good_goes_on(
        api: httpx.AsyncClient, smtp: SmtpServer, tenv: WorkflowEnvironment,
        engine: Engine) -> None:
    """An order sends its notices from local activities (issue 15.2): a notice refused for good
    is failed, ops are told, and the order reaches its pick task all the same."""
    smtp.inbox.defer.add("li@example.com")  # 451 for the customer, for good
    smtp.start()
    await make_product(api, "TEA", stock=10)
    r = await api.post("/api/v1/orders", headers=auth("channel"), json={
        "order_no": "W-9", "channel": "web", "payment_method": "cod",
        "customer": {"id": "c-1", "name": "Li Wei", "email": "li@example.com"},
        "items": [{"sku": "TEA", "quantity": 1, "unit_price": 68.0}],
        "shipping_address": {"name": "Li Wei", "phone": "13800000000", "line1": "1 West Lake Rd",
                             "city": "Hangzhou", "region": "Zhejiang", "postcode": "310000"}})
    assert r.status_code == 201, r.text
    await eventually(lambda: [n for n in outbox(engine, "W-9") if n.attempts >= 1])
    await tenv.sleep(timedelta(minutes=10))  # through the retry policy's backoff
    [notice] = await eventually(lambda: [n for n in outbox(engine, "W-9")
                                         if n.kind == "order_confirmed" and n.status == "failed"],
                                timeout=30)
    assert notice.attempts == NOTICE_RETRY.maximum_attempts
    await eventually(lambda: smtp.inbox.to(OPS))
    await open_task(api, "W-9", "order.fulfil")  # the order went on
    order = await wait_case(api, "/api/v1/orders/W-9",
                            lambda c: any(e["type"] == "notice_failed" for e in c["timeline"]))
    assert order["status"] == "fulfilling"
