"""Scale out: two ``shopflow worker`` and two ``shopflow api`` processes against one Temporal dev
server and one PostgreSQL database. Orders placed through either API are worked by both
workers (each runs some of them), and every case is correct whichever API serves its next step:
no process keeps state of its own. (bench/scale_out.py measures the throughput.)"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.common import dev_server
from bench.table import Stack, drive_order, start_stack
from tests.helpers import eventually

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
ORDERS = 8


async def pollers(client: Client, task_queue: str) -> set[str]:
    r = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return {p.identity for p in r.pollers}


async def worker_identities(client: Client, workflow_id: str) -> set[str]:
    """The workers that ran the case's workflow tasks and activities."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found = set()
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            found.add(e.workflow_task_started_event_attributes.identity)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            found.add(e.activity_task_started_event_attributes.identity)
    found.discard("")  # a workflow task the server answered by itself (an Update's) names none
    return found


async def test_two_workers_and_two_apis_share_the_cases(pg_database: str) -> None:
    env: WorkflowEnvironment = await dev_server()
    logs = Path(tempfile.mkdtemp(prefix="shopflow-scale-"))
    stacks: list[Stack] = []
    try:
        address = env.client.service_client.config.target_host
        stacks = await start_stack("scale", address, pg_database, logs, workers=2, apis=2)
        worker_pids = {str(s.worker.pid) for s in stacks}
        # Both workers poll before the first order, so either may take it.
        await eventually(lambda: _both_polling(env.client, stacks[0].task_queue), timeout=180,
                         interval=0.5)
        import httpx

        async with httpx.AsyncClient(timeout=60) as http:
            # Created through one API, every later step through the other (and back).
            nos = await asyncio.gather(*(
                drive_order(http, stacks[i % 2].url, steps_url=stacks[(i + 1) % 2].url)
                for i in range(ORDERS)))
        assert len(set(nos)) == ORDERS
        ran_on: dict[str, set[str]] = {}
        for no in nos:
            ids = await worker_identities(env.client, f"order-{no}")
            ran_on[no] = {i.split("@")[0] for i in ids}
            assert ran_on[no] <= worker_pids, (ran_on[no], worker_pids)
        used = set().union(*ran_on.values())
        assert used == worker_pids, f"cases ran only on {used} of {worker_pids}: {ran_on}"
        # Stock is booked once per order whichever process served it: 100,000 received,
        # one unit shipped per order.
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.get(f"{stacks[1].url}/api/v1/inventory/TEA-001",
                               headers={"Authorization": "Bearer dev-ops"})
            stock = r.json()
        assert stock["reserved"] == 0
        assert stock["on_hand"] == 200 + 100_000 - ORDERS, stock  # demo seed + bench receipt
    finally:
        for s in stacks:
            s.stop()
        await env.shutdown()


async def _both_polling(client: Client, task_queue: str) -> bool:
    return len(await pollers(client, task_queue)) >= 2
