"""Issue 14, point 7: scheduled work survives one bad address. Birthday care and KPI reports
send through the give-up path of every other notice: a refused address fails that notice (ops
told), the run goes on with the next customer, and POST /reports answers 201, never 500."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice
from shopflow.settings import Settings
from shopflow.workflows.care import BirthdayCare
from shopflow.workflows.care_payloads import CareResult, CareRun
from tests.helpers import auth
from tests.notices_support import OPS, SmtpServer, mail_settings

pytestmark = pytest.mark.asyncio


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return mail_settings(settings, smtp)


def notices(engine: Engine, kind: str) -> dict[str, Notice]:
    with Session(engine) as s:
        return {n.recipient: n for n in s.exec(select(Notice).where(Notice.kind == kind))}


async def test_a_refused_birthday_address_skips_that_greeting_and_the_run_goes_on(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, settings: Settings, engine: Engine,
        smtp: SmtpServer) -> None:
    for cid in ("c-1", "c-2", "c-3"):
        r = await api.put(f"/api/v1/customers/{cid}", headers=auth("cs"), json={
            "name": f"Customer {cid}", "email": f"{cid}@example.com", "birthday": "1990-03-14",
            "locale": "en"})
        assert r.status_code == 200, r.text
    smtp.inbox.refuse.add("c-1@example.com")  # 550: this address never takes mail
    with tenv.auto_time_skipping_disabled():
        result: CareResult = await tenv.client.execute_workflow(
            BirthdayCare.run, CareRun("2025-03-14"), id=f"bd-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue)
    assert sorted(result.started) == ["c-2", "c-3"]
    assert result.failed == ["c-1"]
    sent = notices(engine, "birthday_greeting")
    assert sent["c-1@example.com"].status == "failed"
    assert {sent[f"{c}@example.com"].status for c in ("c-2", "c-3")} == {"sent"}
    assert len(smtp.inbox.to("c-2@example.com")) == len(smtp.inbox.to("c-3@example.com")) == 1
    assert [n.kind for n in notices(engine, "notice_failed").values()] == ["notice_failed"]


async def test_a_refused_ops_address_still_stores_the_report_and_answers_201(
        api: httpx.AsyncClient, engine: Engine, smtp: SmtpServer) -> None:
    smtp.inbox.refuse.add(OPS)
    r = await api.post("/api/v1/reports", headers=auth("ops"),
                       json={"kind": "adhoc", "start": "2025-01-01", "end": "2025-02-01"})
    assert r.status_code == 201, r.text
    stored = await api.get(r.json()["url"], headers=auth("ops"))
    assert stored.status_code == 200
    assert notices(engine, "kpi_report")[OPS].status == "failed"
