"""A worker process for the bare baseline: the bench's bare workflows on the SDK's default
sandbox, nothing of Shopflow. ``python -m bench.bare_worker ADDRESS TASK_QUEUE``"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.bare import BareCase, noop


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    # The SDK's defaults but for the cache, as large as Shopflow's so both keep every case.
    async with Worker(client, task_queue=task_queue, workflows=[BareCase], activities=[noop],
                      activity_executor=ThreadPoolExecutor(32), max_concurrent_activities=32,
                      max_cached_workflows=10000):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    os._exit(0)
