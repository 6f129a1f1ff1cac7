"""Histories stay bounded (issue 14.6): a complaint takes 500 messages of 2,000 characters
through the API and still answers; the texts live in the database, record() sends what
changed, and the workflow continues as new above SHOPFLOW_HISTORY_EVENT_LIMIT events, so its
history stays far below Temporal's limit (which the same complaint reached at message 218)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import auth, case, complete, open_task
from tests.test_complaints import file, path

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

MESSAGES = 500
TEXT = 2000


async def history_size(tenv: WorkflowEnvironment, workflow_id: str) -> tuple[int, int]:
    history = await tenv.client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events), len(history.to_json().encode())


async def test_complaint_takes_500_long_messages_and_its_history_stays_small(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment) -> None:
    cid = await file(api)
    wf = f"complaint-{cid}"
    await open_task(api, cid, "complaint.handle")
    first_run = (await tenv.client.get_workflow_handle(wf).describe()).run_id
    sem = asyncio.Semaphore(4)

    async def send(n: int) -> None:
        text = f"message {n:03d} " + "长" * (TEXT - 12)
        async with sem:
            r = await api.post(f"{path(cid)}/messages", headers=auth("channel"),
                               json={"text": text})
        assert r.status_code == 200, r.text

    for batch in range(0, MESSAGES, 50):
        await asyncio.gather(*(send(n) for n in range(batch, batch + 50)))
        events, size = await history_size(tenv, wf)
        assert size < 5_000_000, (batch, events, size)

    c = await case(api, path(cid))
    assert len(c["messages"]) == MESSAGES
    assert sorted(m["text"][:11] for m in c["messages"]) == [
        f"message {n:03d}" for n in range(MESSAGES)]
    assert all(len(m["text"]) == TEXT for m in c["messages"])
    # the complaint still answers: staff respond and resolve on the same task
    task = await open_task(api, cid, "complaint.handle")
    r = await complete(api, task, "respond", message="We are on it.", await_reply=False)
    assert r.status_code == 200, r.text
    r = await complete(api, task, "resolve", resolution="Replaced.")
    assert r.status_code == 200, r.text
    c = await case(api, path(cid))
    assert c["status"] == "resolved" and len(c["messages"]) == MESSAGES + 1
    events, size = await history_size(tenv, wf)
    assert size < 5_000_000
    # it continued as new on the way, the state carried
    assert (await tenv.client.get_workflow_handle(wf).describe()).run_id != first_run
    print(f"\ncomplaint with {MESSAGES} messages of {TEXT} chars: current run {events} "
          f"events, {size} bytes")
