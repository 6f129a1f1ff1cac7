"""Scale out, measured: two ``shopflow api`` processes and one, then two, ``shopflow worker``
processes against one Temporal dev server and one PostgreSQL database (fresh, dropped after).
Orders are driven from intake to completed, 20 in flight, created through one API and worked
through the other; cases/s with one worker, then with two, and how the cases spread.

    .venv/bin/python -m bench.scale_out [N]

On a 2-core machine that also runs the Temporal server, PostgreSQL and the bench, a second
worker process can only add what the cores have spare: the figure to look at on bigger
machines is the ratio, and the spread shows the cases really share out.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import dev_server
from bench.table import BIN, PG_ADMIN, Proc, drive_order, pg_create, pg_drop, stack_env, start_stack
from tests.test_scale_out import worker_identities


async def run(http: httpx.AsyncClient, urls: list[str], n: int, in_flight: int) -> tuple[float,
                                                                                           list[str]]:
    sem = asyncio.Semaphore(in_flight)

    async def one(i: int) -> str:
        async with sem:
            return await drive_order(http, urls[i % 2], steps_url=urls[(i + 1) % 2])

    t0 = time.perf_counter()
    nos = await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0), list(nos)


async def main(n: int) -> None:
    logs = Path(tempfile.mkdtemp(prefix="shopflow-scale-"))
    print(f"scale-out bench, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"{n} orders per run, logs in {logs}", flush=True)
    env = await dev_server()
    address = env.client.service_client.config.target_host
    pg = pg_create()
    if pg is None:
        await env.shutdown()
        return
    url = f"{PG_ADMIN}/{pg}"
    stacks = []
    second: Proc | None = None
    try:
        stacks = await start_stack("scale", address, url, logs, workers=1, apis=2)
        urls = [s.url for s in stacks]
        async with httpx.AsyncClient(timeout=120) as http:
            await run(http, urls, 4, 4)  # warm up
            one, _ = await run(http, urls, n, 20)
            print(f"  1 worker : {one:.2f} cases/s", flush=True)
            second = Proc("scale-worker1", [str(BIN / "shopflow"), "worker"],
                          stack_env(address, url, stacks[0].task_queue, 0), logs)
            await asyncio.sleep(15)  # its start-up (imports, sandbox validation)
            two, nos = await run(http, urls, n, 20)
            print(f"  2 workers: {two:.2f} cases/s ({two / one:.2f}x)", flush=True)
        spread: dict[str, int] = {}
        for no in nos:
            for ident in await worker_identities(env.client, f"order-{no}"):
                spread[ident.split("@")[0]] = spread.get(ident.split("@")[0], 0) + 1
        print(f"  cases touched per worker process (second run): {spread}")
        print(f"\n| workers | cases/s, 20 in flight | ratio |\n|---|---|---|\n"
              f"| 1 | {one:.2f} | 1.00x |\n| 2 | {two:.2f} | {two / one:.2f}x |")
    finally:
        if second is not None:
            second.stop()
        for s in stacks:
            s.stop()
        pg_drop(pg)
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40))
    sys.stdout.flush()
    os._exit(0)
