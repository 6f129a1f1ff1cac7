"""Where the time of a create and of a case goes: py-spy (a sampling profiler) attached to the
API process while orders are created one after the other, then to the worker process while
orders are driven to completion. Prints the top frames by inclusive share of samples, grouped
by what they are (database, Temporal client/SDK, HTTP framework, serialisation, ours).

    .venv/bin/python -m bench.profile [SECONDS]

Collapsed stacks are kept in the run's directory (flame graphs: ``py-spy`` or speedscope).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.common import dev_server
from bench.table import BIN, create_order, drive_order, start_stack

GROUPS = [
    ("database (SQLAlchemy, sqlite3, psycopg)", ("sqlalchemy", "sqlite3", "psycopg", "sqlmodel")),
    ("Temporal SDK and client", ("temporalio",)),
    ("HTTP framework (uvicorn, starlette, fastapi, anyio)", ("uvicorn", "starlette", "fastapi",
                                                            "anyio", "h11", "httptools")),
    ("pydantic (validation, serialisation)", ("pydantic",)),
    ("logging (structlog)", ("structlog", "logging")),
    ("shopflow", ("shopflow",)),
]


# Frames every stack passes through (the command line, the event loop, thread start-up).
_GENERIC = ("typer/", "(asyncio/runners", "(asyncio/base_events", "(asyncio/events", "(threading",
            "(concurrent/futures", "(shopflow:", "shopflow/cli.py", "anyio/_backends")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration",
                             str(seconds), "--format", "raw", "--rate", "200", "--idle",
                             "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise(path: Path, title: str, top: int = 18) -> None:
    """Inclusive share per frame and per group, counting a stack once per frame/group."""
    frames: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        count = int(n)
        total += count
        parts = stack.split(";")
        leaf = parts[-1] if parts else ""
        if any(w in leaf for w in ("select (selectors", "epoll", "_worker (concurrent",
                                   "wait (threading", "_wait_for_tstate_lock")):
            idle += count
            continue
        for frame in set(parts):
            if not any(g in frame for g in _GENERIC):
                frames[frame] += count
        seen = set()
        for label, needles in GROUPS:
            if any(any(f"({n}/" in p or f"({n}.py" in p or f"/{n}/" in p for n in needles)
                   and not any(g in p for g in _GENERIC) for p in parts) and label not in seen:
                seen.add(label)
                groups[label] += count
    busy = max(total - idle, 1)
    print(f"\n## {title}: {total} samples, {100 * idle / max(total, 1):.0f}% idle (waiting)")
    print("busy time by component (inclusive, a stack counts for each it passes through):")
    for label, _ in GROUPS:
        print(f"  {100 * groups[label] / busy:5.1f}%  {label}")
    print("top frames (inclusive share of busy samples):")
    for frame, n in frames.most_common(top):
        print(f"  {100 * n / busy:5.1f}%  {frame[:150]}")


async def main(seconds: int) -> None:
    logs = Path(tempfile.mkdtemp(prefix="shopflow-profile-"))
    env = await dev_server()
    address = env.client.service_client.config.target_host
    stack = (await start_stack("profile", address, f"sqlite:///{logs / 'shopflow.db'}", logs))[0]
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(3):
                await create_order(http, stack.url)
            spy = record(stack.api.pid, seconds, logs / "api-create.txt")
            t_end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < t_end:
                await create_order(http, stack.url)
                n += 1
            spy.wait()
            print(f"API: {n} sequential creates in {seconds} s")
            spy = record(stack.worker.pid, seconds, logs / "worker-case.txt")
            t_end = time.monotonic() + seconds
            done = 0
            sem = asyncio.Semaphore(10)

            async def one() -> None:
                nonlocal done
                async with sem:
                    if time.monotonic() < t_end:
                        await drive_order(http, stack.url)
                        done += 1

            await asyncio.gather(*(one() for _ in range(400)))
            spy.wait()
            print(f"worker: {done} orders driven to completion, 10 in flight")
    finally:
        stack.stop()
        await env.shutdown()
    summarise(logs / "api-create.txt", "API process, sequential POST /orders")
    summarise(logs / "worker-case.txt", "worker process, orders intake to completed")
    print(f"\ncollapsed stacks: {logs}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
    sys.stdout.flush()
    os._exit(0)
