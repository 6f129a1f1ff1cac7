"""`shopflow worker` outlives its Temporal worker: the SDK fails a worker whose server stays
unreachable past its own retries (~20 s; a Temporal restart under load did it in the Temporal
drill, and the process then ended quietly with code 0, leaving every case waiting). The
process builds the worker again and runs it once more (cli._keep_worker); on a stop it shuts
the running one down and returns."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from shopflow import cli


class FakeWorker:
    """What cli needs of temporalio's Worker: run (fails, or runs until shut down), shutdown,
    config (its activity executor)."""

    def __init__(self, fails: bool) -> None:
        self.fails = fails
        self.running = asyncio.Event()
        self.stopped = asyncio.Event()
        self.executor = ThreadPoolExecutor(max_workers=1)

    async def run(self) -> None:
        self.running.set()
        if self.fails:
            raise RuntimeError("Worker failed: poll failure, server unreachable")
        await self.stopped.wait()

    async def shutdown(self) -> None:
        self.stopped.set()

    def config(self) -> dict[str, Any]:
        return {"activity_executor": self.executor}


async def test_a_failed_temporal_worker_is_built_again_and_stopped_on_halt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[FakeWorker] = []

    def build(*_: Any, **__: Any) -> FakeWorker:
        built.append(FakeWorker(fails=len(built) < 2))  # fails twice, then runs
        return built[-1]

    clients: list[object] = []

    async def connect(*_: Any, **__: Any) -> object:
        clients.append(object())
        return clients[-1]

    monkeypatch.setattr("shopflow.worker.build_worker", build)
    monkeypatch.setattr("shopflow.temporal.connect", connect)
    halt = asyncio.Event()
    settings: Any = SimpleNamespace(temporal_address="127.0.0.1:1")
    keeper = asyncio.create_task(cli._keep_worker(None, settings, None, halt,  # type: ignore[arg-type]
                                                  pause=0.01))
    for _ in range(200):
        if len(built) == 3 and built[2].running.is_set():
            break
        await asyncio.sleep(0.01)
    assert len(built) == 3 and not keeper.done()  # the process goes on with a new worker
    assert all(w.executor._shutdown for w in built[:2])  # the failed ones' threads let go
    # and each new worker a new connection (the SDK refuses a second worker on a client that
    # still holds a failed one)
    assert len(clients) == 2
    halt.set()
    await asyncio.wait_for(keeper, timeout=5)
    assert built[2].stopped.is_set() and len(built) == 3


async def test_a_worker_that_cannot_be_built_ends_the_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def build(*_: Any, **__: Any) -> FakeWorker:
        raise TypeError("workflow X is not a workflow")

    monkeypatch.setattr("shopflow.worker.build_worker", build)
    settings: Any = SimpleNamespace(temporal_address="127.0.0.1:1")
    with pytest.raises(TypeError):
        await cli._keep_worker(None, settings, None, asyncio.Event())  # type: ignore[arg-type]
