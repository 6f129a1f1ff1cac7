"""The notices routes: who may list, look and resend, filters and paging, and the errors of
the contract (401/403/404/409/422 in the one error format)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from shopflow.models import Notice
from shopflow.settings import Settings
from tests.helpers import auth, eventually, make_product
from tests.notices_support import SmtpServer

pytestmark = pytest.mark.asyncio
REFUSED = "gone@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    server.inbox.refuse.add(REFUSED)
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                       "smtp_starttls": False, "ops_email": "ops@shop.test"})


async def submit(api: httpx.AsyncClient, cid: str, email: str) -> str:
    r = await api.post("/api/v1/samples", headers=auth("channel"), json={
        "customer": {"id": cid, "name": "Li Wei", "email": email, "address": "1 West Lake Rd"},
        "channel": "web", "items": [{"sku": "TEA", "quantity": 1}], "purpose": "trial"})
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


def settled(engine: Engine, case_id: str, status: str) -> Notice | None:
    with Session(engine) as s:
        return s.exec(select(Notice).where(Notice.case_id == case_id,
                                           Notice.kind == "sample_received",
                                           Notice.status == status)).first()


def error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert set(body) == {"code", "message", "details"} and body["message"]
    if code:
        assert body["code"] == code
    return body  # type: ignore[no-any-return]


@pytest.fixture
async def cases(api: httpx.AsyncClient, engine: Engine) -> dict[str, Any]:
    """Two samples: one whose notice was sent, one whose customer address is refused."""
    await make_product(api, "TEA", stock=10, sample_limit=5)
    ok = await submit(api, "c-ok", "li@example.com")
    bad = await submit(api, "c-bad", REFUSED)
    sent = await eventually(lambda: settled(engine, ok, "sent"))
    failed = await eventually(lambda: settled(engine, bad, "failed"))
    # ops was told about the failure: another (staff) notice on that case
    await eventually(lambda: settled_kind(engine, bad, "notice_failed"))
    return {"ok": ok, "bad": bad, "sent": sent.id, "failed": failed.id}


def settled_kind(engine: Engine, case_id: str, kind: str) -> Notice | None:
    with Session(engine) as s:
        return s.exec(select(Notice).where(Notice.case_id == case_id, Notice.kind == kind,
                                           Notice.status == "sent")).first()


async def test_list_filters_and_pages_for_cs_and_ops(api: httpx.AsyncClient,
                                                     cases: dict[str, Any]) -> None:
    for role in ("cs", "ops", "admin"):
        r = await api.get("/api/v1/notices", headers=auth(role))
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 3
    r = await api.get("/api/v1/notices", params={"case_id": cases["bad"]}, headers=auth("cs"))
    body = r.json()
    assert body["total"] == 2 and body["page"] == 1 and body["page_size"] == 20
    assert [(n["kind"], n["status"], n["audience"]) for n in body["items"]] == [
        ("notice_failed", "sent", "staff"), ("sample_received", "failed", "customer")]
    failed = body["items"][1]
    assert failed["recipient"] == REFUSED and "550" in failed["last_error"]
    assert failed["attempts"] == 1 and "body_html" not in failed

    r = await api.get("/api/v1/notices", params={"status": "failed"}, headers=auth("ops"))
    assert [n["id"] for n in r.json()["items"]] == [cases["failed"]]
    r = await api.get("/api/v1/notices", params={"status": "sent", "page_size": 1, "page": 2},
                      headers=auth("ops"))
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["page"] == 2
    r = await api.get("/api/v1/notices", params={"case_id": "nope"}, headers=auth("ops"))
    assert r.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}

    r = await api.get(f"/api/v1/notices/{cases['sent']}", headers=auth("cs"))
    assert r.status_code == 200
    one = r.json()
    assert one["status"] == "sent" and one["confirmed"] is True
    assert one["subject"].startswith("样品申请已收到") and "<html" in one["body_html"]
    assert cases["ok"] in one["body_text"]


async def test_auth_and_roles(api: httpx.AsyncClient, cases: dict[str, Any]) -> None:
    error(await api.get("/api/v1/notices"), 401, "unauthorized")
    error(await api.get("/api/v1/notices", headers={"Authorization": "Bearer wrong"}), 401)
    for role in ("channel", "reviewer", "warehouse", "finance"):
        error(await api.get("/api/v1/notices", headers=auth(role)), 403, "forbidden")
        error(await api.get(f"/api/v1/notices/{cases['sent']}", headers=auth(role)), 403)
        error(await api.post(f"/api/v1/notices/{cases['failed']}/resend", headers=auth(role)),
              403)
    error(await api.post(f"/api/v1/notices/{cases['failed']}/resend"), 401)


async def test_bad_input_is_422_and_unknown_ids_404(api: httpx.AsyncClient,
                                                    cases: dict[str, Any]) -> None:
    for params in ({"status": "bogus"}, {"page": 0}, {"page_size": 1000}, {"page": "x"},
                   {"case_id": "x" * 81}):
        error(await api.get("/api/v1/notices", params=params, headers=auth("ops")), 422,
              "invalid_input")
    error(await api.get("/api/v1/notices/abc", headers=auth("ops")), 422, "invalid_input")
    error(await api.get("/api/v1/notices/0", headers=auth("ops")), 422)
    error(await api.get("/api/v1/notices/99999", headers=auth("ops")), 404, "not_found")
    error(await api.post("/api/v1/notices/99999/resend", headers=auth("cs")), 404, "not_found")
    error(await api.post("/api/v1/notices/abc/resend", headers=auth("cs")), 422)


async def test_resend_only_a_failed_notice_and_only_once(
        api: httpx.AsyncClient, cases: dict[str, Any], smtp: SmtpServer,
        engine: Engine) -> None:
    body = error(await api.post(f"/api/v1/notices/{cases['sent']}/resend", headers=auth("cs")),
                 409, "notice_not_failed")
    assert body["details"] == {"status": "sent"}

    smtp.inbox.refuse.clear()
    first, second = await asyncio.gather(
        api.post(f"/api/v1/notices/{cases['failed']}/resend", headers=auth("cs")),
        api.post(f"/api/v1/notices/{cases['failed']}/resend", headers=auth("cs")))
    codes = sorted([first.status_code, second.status_code])
    assert codes == [202, 409], (first.text, second.text)
    accepted = first if first.status_code == 202 else second
    assert accepted.json()["id"] == cases["failed"]
    assert accepted.json()["status"] in ("pending", "sending", "sent")
    assert accepted.json()["resent_by"] == "dev-cs"

    await eventually(lambda: settled(engine, cases["bad"], "sent"))
    assert len(smtp.inbox.to(REFUSED)) == 1
    error(await api.post(f"/api/v1/notices/{cases['failed']}/resend", headers=auth("ops")),
          409, "notice_not_failed")
    await asyncio.sleep(0.5)
    assert len(smtp.inbox.to(REFUSED)) == 1


async def test_openapi_describes_the_notices_routes(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert "get" in paths["/api/v1/notices"] and "get" in paths["/api/v1/notices/{notice_id}"]
    assert "post" in paths["/api/v1/notices/{notice_id}/resend"]
    params = {p["name"] for p in paths["/api/v1/notices"]["get"]["parameters"]}
    assert {"case_id", "status", "page", "page_size"} <= params


async def test_channel_follows_the_profile_preference_and_the_request_channel(
        api: httpx.AsyncClient, engine: Engine, smtp: SmtpServer) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    r = await api.put("/api/v1/customers/c-sms", headers=auth("cs"),
                      json={"name": "Wang Fang", "phone": "13900000000",
                            "preferred_channel": "sms"})
    assert r.status_code == 200 and r.json()["preferred_channel"] == "sms"
    error(await api.put("/api/v1/customers/c-sms", headers=auth("cs"),
                        json={"preferred_channel": "fax"}), 422)
    by_pref = await submit(api, "c-sms", "wang@example.com")
    r = await api.post("/api/v1/samples", headers=auth("cs"), json={
        "customer": {"id": "c-phone", "name": "Zhao Lei", "email": "zhao@example.com",
                     "phone": "13700000000", "address": "1 West Lake Rd"},
        "channel": "phone", "items": [{"sku": "TEA", "quantity": 1}], "purpose": "trial"})
    assert r.status_code == 201, r.text
    by_phone = r.json()["id"]
    # The default SMS adapter only logs: the outbox records the notice as logged.
    pref = await eventually(lambda: settled(engine, by_pref, "logged"))
    phone = await eventually(lambda: settled(engine, by_phone, "logged"))
    assert (pref.channel, pref.recipient) == ("sms", "13900000000")
    assert (phone.channel, phone.recipient) == ("sms", "13700000000")
    assert smtp.inbox.messages == []
