"""When the last attempt of a notice ends without a word (it timed out: its worker was killed,
the SMTP server hung), notify() gives the notice up: failed and ops told, or, if it had been
handed over, counted as sent. The case goes on either way."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from shopflow.activities.cases import CaseActivities
from shopflow.activities.notices import NoticeActivities
from shopflow.db import session_scope
from shopflow.models import Customer, Notice, TimelineEvent
from shopflow.models.types import utcnow
from shopflow.notifications.channels import build_channels
from shopflow.settings import Settings
from shopflow.workflows.base import CaseWorkflow
from shopflow.workflows.shared import Act, NoticeRequest

OPS = "ops@shop.test"


@pytest.fixture
def acts(engine: Engine, settings: Settings) -> NoticeActivities:
    s = settings.model_copy(update={"ops_email": OPS})  # no SMTP: every notice is logged
    with session_scope(engine) as session:
        session.add(Customer(id="c-1", name="Li Wei", email="li@example.com"))
    return NoticeActivities(engine, s, build_channels(s))


def req(step: str = "shipped") -> NoticeRequest:
    return NoticeRequest(f"probe-1:{step}", "sample_shipped", "p1",
                         {"case_id": "p1", "courier": "SF", "tracking_no": "T1"}, "c-1")


def notices(engine: Engine) -> dict[str, Notice]:
    with Session(engine) as s:
        return {n.dedup_key: n for n in s.exec(select(Notice))}


def test_give_up_fails_a_waiting_notice_and_tells_ops_once(engine: Engine,
                                                          acts: NoticeActivities) -> None:
    acts.write_outbox(req())
    for _ in range(2):
        assert ActivityEnvironment().run(acts.give_up, req()) == "failed"
    got = notices(engine)
    assert got["probe-1:shipped"].status == "failed"
    assert "timed out" in (got["probe-1:shipped"].last_error or "")
    ops = got["probe-1:shipped:failed:0"]
    assert (ops.recipient, ops.status, ops.kind) == (OPS, "logged", "notice_failed")
    assert len(got) == 2


def test_give_up_writes_a_notice_no_attempt_could_write(engine: Engine,
                                                        acts: NoticeActivities) -> None:
    assert ActivityEnvironment().run(acts.give_up, req()) == "failed"
    assert notices(engine)["probe-1:shipped"].subject.startswith("样品已发货")


def test_give_up_counts_a_handed_over_notice_as_sent_and_leaves_a_sent_one_alone(
        engine: Engine, acts: NoticeActivities) -> None:
    handed = acts.write_outbox(req("a"))
    with session_scope(engine) as s:
        n = s.get(Notice, handed)
        assert n is not None
        n.status, n.attempts, n.handed_over_at = "sending", 1, utcnow()
        s.add(n)
    assert ActivityEnvironment().run(acts.give_up, req("a")) == "sent"
    assert ActivityEnvironment().run(acts.send, req("b")) == "logged"
    assert ActivityEnvironment().run(acts.give_up, req("b")) == "logged"
    got = notices(engine)
    assert (got["probe-1:a"].status, got["probe-1:a"].confirmed) == ("sent", False)
    assert not any(k.endswith(":failed:0") for k in got)


@workflow.defn(name="NoticeGiveUpProbe")
class Probe(CaseWorkflow):
    KIND = "probe"

    @workflow.run
    async def run(self, case_id: str) -> str:
        self.case_id, self.customer_id = case_id, "c-1"
        await self.notify("shipped", "sample_shipped", courier="SF", tracking_no="T1")
        return "went on"


@activity.defn(name=Act.NOTICE_SEND)
def lost_send(request: NoticeRequest) -> Any:
    """A last attempt that ended without recording anything (as a timeout would)."""
    raise ApplicationError("activity StartToClose timeout", non_retryable=True)


@pytest.mark.asyncio
async def test_notify_gives_up_a_notice_whose_last_attempt_timed_out_and_the_case_goes_on(
        engine: Engine, acts: NoticeActivities, tenv: WorkflowEnvironment) -> None:
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    async with Worker(tenv.client, task_queue=queue, workflows=[Probe],
                      activities=[lost_send, acts.give_up, CaseActivities(engine).record],
                      activity_executor=ThreadPoolExecutor(4),
                      workflow_runner=UnsandboxedWorkflowRunner()):
        result = await tenv.client.execute_workflow(Probe.run, "p1", id="probe-1",
                                                    task_queue=queue)
    assert result == "went on"
    got = notices(engine)
    assert got["probe-1:shipped"].status == "failed"
    assert got["probe-1:shipped:failed:0"].recipient == OPS
    with Session(engine) as s:
        events = [e.type for e in s.exec(select(TimelineEvent).where(TimelineEvent.case_id == "p1"))]
    assert events == ["notice_failed"]
