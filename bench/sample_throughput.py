"""Sample cases against a bare Temporal workflow of the same shape, on one dev server, one run.

Drives N sample cases from application to shipment (three human decisions, via the same
Updates the API sends) and N bare workflows with the same number of activities and Updates, and
prints cases/s for both and their ratio, plus worker memory per waiting case.

    .venv/bin/python -m bench.sample_throughput [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlmodel import SQLModel, select
from temporalio.client import Client
from temporalio.worker import Worker

import shopflow.models  # noqa: F401
from bench.common import BareCase, BareShape, dev_server, noop, rss_kib
from shopflow.db import make_engine, session_scope
from shopflow.demo import seed_demo_data
from shopflow.models import Task
from shopflow.settings import Settings
from shopflow.worker import build_worker
from shopflow.workflows.sample_approval import SampleApproval, SampleInput, SampleItem, SampleTimers
from shopflow.workflows.shared import Actor, CompleteTaskInput, CustomerData, DocumentAdded

DECISIONS = [("sample.preliminary_review", "approve", {}),
             ("sample.review", "approve", {"items": [{"sku": "TEA-001", "approved_quantity": 1}]}),
             ("sample.dispatch", "shipped", {"courier": "SF", "tracking_no": "T1"})]
DAY = 86400.0


def sample_input(i: int) -> SampleInput:
    return SampleInput(
        sample_id=f"b{i}-{uuid.uuid4().hex[:6]}",
        customer=CustomerData(id=f"bench-{i % 50}", name="Bench", email="b@example.com"),
        channel="web", items=[SampleItem("TEA-001", 1)], purpose="bench",
        qualification_docs=[],
        timers=SampleTimers(task_due=DAY, info_timeout=7 * DAY, feedback_delay=7 * DAY,
                            feedback_reminder=3 * DAY, feedback_close=14 * DAY))


async def open_task_id(engine, workflow_id: str, kind: str) -> str:  # type: ignore[no-untyped-def]
    while True:
        with session_scope(engine, write=False) as s:
            t = s.exec(select(Task).where(Task.workflow_id == workflow_id, Task.kind == kind,
                                          Task.status == "open")).first()
        if t:
            return t.id
        await asyncio.sleep(0.02)


async def drive_sample(client: Client, engine, tq: str, i: int) -> None:  # type: ignore[no-untyped-def]
    inp = sample_input(i)
    wf_id = f"sample-{inp.sample_id}"
    handle = await client.start_workflow(SampleApproval.run, inp, id=wf_id, task_queue=tq)
    # the qualification document (its row and file are the API's; the case needs to know one)
    await handle.execute_update("add_document", DocumentAdded("d1", "licence.pdf",
                                                              "application/pdf", 100, "b"))
    for kind, decision, data in DECISIONS:
        task_id = await open_task_id(engine, wf_id, kind)
        await handle.execute_update("complete_task",
                                    CompleteTaskInput(task_id, decision, data, "", Actor("b", "ops")))


async def drive_bare(client: Client, tq: str, shape: BareShape) -> None:
    handle = await client.start_workflow(BareCase.run, shape, id=f"bare-{uuid.uuid4().hex}",
                                         task_queue=tq)
    for _ in shape.activities_before_each_update:
        while True:
            try:
                await handle.execute_update(BareCase.decide, "go")
                break
            except Exception:
                await asyncio.sleep(0.02)


async def main(n: int) -> None:
    env = await dev_server()
    db = Path(tempfile.mkdtemp(prefix="shopflow-bench-")) / "shopflow.db"
    settings = Settings(_env_file=None, database_url=f"sqlite:///{db}",  # type: ignore[call-arg]
                        task_queue=f"bench-{uuid.uuid4().hex[:6]}")
    engine = make_engine(settings.database_url)
    SQLModel.metadata.create_all(engine)
    seed_demo_data(engine)
    from shopflow.services.inventory import receive
    with session_scope(engine) as s:
        receive(s, "TEA-001", 10 * n, "bench", "bench", "bench-stock")
    try:
        await memory(env.client, engine, settings, n)
        async with build_worker(env.client, settings, engine):
            await drive_sample(env.client, engine, settings.task_queue, -1)
            t0 = time.perf_counter()
            await asyncio.gather(*(drive_sample(env.client, engine, settings.task_queue, i)
                                   for i in range(n)))
            sample_s = time.perf_counter() - t0
        shape = BareShape([5, 6, 6])  # activities before each decision in a sample case
        async with Worker(env.client, task_queue=settings.task_queue + "-bare",
                          workflows=[BareCase], activities=[noop],
                          activity_executor=ThreadPoolExecutor(32)):
            t0 = time.perf_counter()
            await asyncio.gather(*(drive_bare(env.client, settings.task_queue + "-bare", shape)
                                   for _ in range(n)))
            bare_s = time.perf_counter() - t0
        print(f"{n} cases to shipment: shopflow {n / sample_s:.1f}/s, bare {n / bare_s:.1f}/s, "
              f"ratio {sample_s / bare_s:.2f}x the bare time")
    finally:
        await env.shutdown()


async def memory(client: Client, engine, settings: Settings, n: int) -> None:  # type: ignore[no-untyped-def]
    """Worker memory per cached case waiting at its first task, against a bare waiting one."""
    import gc

    tq = settings.task_queue + "-mem"
    async with build_worker(client, settings.model_copy(update={"task_queue": tq}), engine):
        gc.collect()
        before = rss_kib()
        ids = []
        for i in range(n):
            inp = sample_input(10_000 + i)
            await client.start_workflow(SampleApproval.run, inp, id=f"sample-{inp.sample_id}",
                                        task_queue=tq)
            ids.append(f"sample-{inp.sample_id}")
        for wf_id in ids:
            await open_task_id(engine, wf_id, "sample.preliminary_review")
        gc.collect()
        per_case = (rss_kib() - before) / n
    async with Worker(client, task_queue=tq + "-bare", workflows=[BareCase], activities=[noop],
                      activity_executor=ThreadPoolExecutor(8)):
        before = rss_kib()
        for _ in range(n):
            await client.start_workflow(BareCase.run, BareShape([0, 0, 0]),
                                        id=f"bare-mem-{uuid.uuid4().hex}", task_queue=tq + "-bare")
        await asyncio.sleep(2)
        gc.collect()
        per_bare = (rss_kib() - before) / n
    print(f"worker memory per waiting case: shopflow {per_case:.0f} KiB, bare {per_bare:.0f} KiB, "
          f"ratio {per_case / max(per_bare, 1):.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
