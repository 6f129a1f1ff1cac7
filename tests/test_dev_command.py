"""``shopflow dev`` (what ``make run`` runs): one command brings up the embedded Temporal server,
the API and a worker in a process of its own; it reaches /readyz, a case placed through the
API is worked by the worker process, and one Ctrl-C (SIGINT to the process group, as a terminal
sends it) stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import auth, eventually
from tests.notices_support import free_port
from tests.scenes import order_body

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
BIN = Path(sys.executable).parent


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def logs(where: Path) -> str:
    text = (where / "dev.log").read_text()
    temporal = where / "var" / "temporal.log"
    return text + (temporal.read_text()[-3000:] if temporal.exists() else "")


def alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_dev_runs_the_worker_in_its_own_process_and_ctrl_c_stops_everything(
        tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SHOPFLOW_ENV": "dev",
        "SHOPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'shopflow.db'}",
        "SHOPFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "SHOPFLOW_TEMPORAL_UI_PORT": str(ui_port),
        "SHOPFLOW_API_PORT": str(api_port),
        "SHOPFLOW_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "SHOPFLOW_TASK_QUEUE": "dev-test",
        "SHOPFLOW_LOG_FORMAT": "console",
    }
    env.pop("SHOPFLOW_WORKER_SANDBOX", None)  # the production default
    log = (tmp_path / "dev.log").open("wb")
    # Its own session: the test sends the terminal's SIGINT to that group only.
    proc = subprocess.Popen([str(BIN / "shopflow"), "dev"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:
            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    assert proc.poll() is None, logs(tmp_path)
                    return False

            await eventually(ready, timeout=180, interval=0.5)
            started = children_of(proc.pid)
            workers = [p for p in started if "shopflow.cli worker" in cmdline(p)]
            assert len(workers) == 1, [cmdline(p) for p in started]
            assert any("temporal" in cmdline(p) and "start-dev" in cmdline(p) for p in started)

            r = await http.post("/api/v1/orders", headers=auth("channel"), json=order_body(
                order_no="DEV-1", method="cod",
                items=[{"sku": "TEA-001", "quantity": 1, "unit_price": 68.0}]))
            assert r.status_code == 201, r.text
            # Only the worker process runs workflows: the order reaching its pick task proves it.
            async def pick_task() -> list[dict[str, object]]:
                assert proc.poll() is None, logs(tmp_path)
                r = await http.get("/api/v1/tasks", headers=auth("warehouse"),
                                   params={"case_id": "DEV-1", "kind": "order.fulfil"})
                return r.json()["items"]  # type: ignore[no-any-return]

            # A loaded machine: the worker process may still be starting.
            try:
                tasks = await eventually(pick_task, timeout=150, interval=0.5)
            except AssertionError:
                raise AssertionError(logs(tmp_path)[-4000:]) from None
            assert tasks[0]["status"] == "open"

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0, logs(tmp_path)[-3000:]
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in started if alive(p)], "a child outlived shopflow dev"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for p in started:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        log.close()


async def test_dev_stops_when_its_worker_dies(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    env = {**os.environ, "SHOPFLOW_ENV": "dev",
           "SHOPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'shopflow.db'}",
           "SHOPFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
           "SHOPFLOW_TEMPORAL_UI_PORT": str(ui_port), "SHOPFLOW_API_PORT": str(api_port),
           "SHOPFLOW_TASK_QUEUE": "dev-test", "SHOPFLOW_LOG_FORMAT": "console"}
    log = (tmp_path / "dev.log").open("wb")
    proc = subprocess.Popen([str(BIN / "shopflow"), "dev"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started: list[int] = []
    try:
        async def worker_up() -> int | None:
            assert proc.poll() is None, logs(tmp_path)
            return next((p for p in children_of(proc.pid)
                         if "shopflow.cli worker" in cmdline(p)), None)

        worker = await eventually(worker_up, timeout=120, interval=0.5)
        started = children_of(proc.pid)
        os.kill(worker, signal.SIGKILL)
        assert proc.wait(timeout=60) == 1  # the API and the Temporal server do not linger
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in started if alive(p)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
