"""The worker process killed (SIGKILL) right after the SMTP server accepted a notice, before the
outbox recorded it: after a restart the notice is still received exactly once, and the case goes
on. A real worker process on a Temporal server started by the test, a shared database, a real
SMTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.api.app import create_app
from shopflow.models import Notice
from shopflow.settings import Settings
from tests.helpers import auth, eventually, make_product, open_task, start_dev_server
from tests.notices_support import SmtpServer

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
# Temporal retries the killed attempt once its start-to-close timeout passes: the setting
# (60 s by default) made short here, with SMTP steps shorter still.
SEND_TIMEOUT = timedelta(seconds=10)
SMTP_TIMEOUT = 5.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The API's settings: cases copy the notice send timeout into their input at start."""
    return settings.model_copy(update={"notice_send_timeout": SEND_TIMEOUT,
                                       "smtp_timeout": SMTP_TIMEOUT})


@pytest.fixture
async def devenv() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (real time): unlike the time-skipping test server, it hands a
    dead worker's cached workflow on to another worker after the sticky-queue timeout."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def api_only(settings: Settings, engine: Engine,
                   devenv: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    """The API with no worker in this process: the worker runs in a subprocess."""
    app = create_app(settings, engine=engine, client=devenv.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as http:
        yield http


class WorkerProcess:
    def __init__(self, settings: Settings, temporal: WorkflowEnvironment, smtp: SmtpServer,
                 log: Path) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SHOPFLOW_ENV": "test",
            "SHOPFLOW_DATABASE_URL": settings.database_url,
            "SHOPFLOW_TASK_QUEUE": settings.task_queue,
            "SHOPFLOW_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
            "SHOPFLOW_PUBLIC_URL": settings.public_url,
            "SHOPFLOW_SMTP_HOST": "127.0.0.1",
            "SHOPFLOW_SMTP_PORT": str(smtp.port),
            "SHOPFLOW_SMTP_STARTTLS": "false",
            "SHOPFLOW_SMTP_TIMEOUT": str(SMTP_TIMEOUT),
            "SHOPFLOW_NOTICE_SEND_TIMEOUT": str(SEND_TIMEOUT.total_seconds()),
            "SHOPFLOW_LOG_FORMAT": "console",
        }
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, **extra: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tests.notices_worker"], cwd=ROOT,
                                    env={**self.env, **extra}, stdout=out, stderr=out)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def workers(settings: Settings, devenv: WorkflowEnvironment, smtp: SmtpServer,
            tmp_path: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(settings, devenv, smtp, tmp_path / "worker.log")
    yield w
    w.stop_all()


def received_notice(engine: Engine, case_id: str) -> Notice | None:
    with Session(engine) as s:
        return s.exec(select(Notice).where(Notice.case_id == case_id,
                                           Notice.kind == "sample_received")).first()


async def test_worker_killed_right_after_the_send_still_delivers_exactly_once(
        api_only: httpx.AsyncClient, workers: WorkerProcess, smtp: SmtpServer,
        devenv: WorkflowEnvironment, engine: Engine, tmp_path: Path) -> None:
    marker = tmp_path / "sent"
    first = workers.start(NOTICE_TEST_STALL_AFTER_SEND=str(marker))
    await make_product(api_only, "TEA", stock=10, sample_limit=5)
    r = await api_only.post("/api/v1/samples", headers=auth("channel"), json={
        "customer": {"id": "c-1", "name": "Li Wei", "email": "li@example.com",
                     "address": "1 West Lake Rd"},
        "channel": "web", "items": [{"sku": "TEA", "quantity": 2}], "purpose": "trial"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    try:
        await eventually(marker.exists, timeout=60)
    except AssertionError:
        pytest.fail("the worker never sent: " + workers.log.read_text(errors="replace")[-3000:])
    assert len(smtp.inbox.to("li@example.com")) == 1
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    notice = received_notice(engine, sid)
    assert notice is not None
    # Killed inside the window: the server has the message, the outbox has no outcome.
    assert notice.status == "sending" and notice.handed_over_at is not None

    workers.start()
    # Temporal notices the lost attempt when its start-to-close timeout (SEND_TIMEOUT) passes.
    try:
        notice = await eventually(
            lambda: (n := received_notice(engine, sid)) is not None and n.status == "sent" and n,
            timeout=SEND_TIMEOUT.total_seconds() + 90, interval=0.5)
        await open_task(api_only, sid, "sample.preliminary_review")  # the case went on
    except AssertionError:
        print(workers.log.read_text(errors="replace")[-5000:])
        raise
    assert notice.confirmed is False and (notice.last_error or "").startswith("unconfirmed")
    assert notice.attempts == 1
    mails = smtp.inbox.to("li@example.com")
    assert len(mails) == 1, [m.subject for m in mails]
    assert mails[0].subject == f"样品申请已收到（{sid}）"
    # The case took the send timeout from the settings it started with (its notices are local
    # activities, whose timeouts the history does not show: the timer is in the case's input).
    history = await devenv.client.get_workflow_handle(f"sample-{sid}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    inp = json.loads(started.input.payloads[0].data)
    assert inp["timers"]["notice_send"] == SEND_TIMEOUT.total_seconds()
