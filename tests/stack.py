"""The real stack as separate processes, for drills, the schema fuzzing and the load check: a
Temporal dev server (`temporal server start-dev`, SQLite file), `shopflow worker` and
`shopflow api` subprocesses on free ports, sharing one Shopflow database. Each part can be
stopped, killed (SIGKILL) and started again; everything stops at the end. `TcpProxy` puts a
cuttable link between the stack and its PostgreSQL server (the database outage drill)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import SQLModel

import shopflow.models  # noqa: F401  (registers every table)
from shopflow.db import make_engine
from shopflow.temporal import SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent
ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class Stack:
    def __init__(self, workdir: Path, *, database_url: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.dir = workdir
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.database_url = database_url or f"sqlite:///{workdir / 'shopflow.db'}"
        self.env = {
            **os.environ,
            "SHOPFLOW_ENV": "dev",
            "SHOPFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "SHOPFLOW_DATABASE_URL": self.database_url,
            "SHOPFLOW_API_HOST": "127.0.0.1",
            "SHOPFLOW_API_PORT": str(self.api_port),
            "SHOPFLOW_PUBLIC_URL": f"http://127.0.0.1:{self.api_port}",
            "SHOPFLOW_TASK_QUEUE": f"stack-{uuid.uuid4().hex[:8]}",
            "SHOPFLOW_LOG_LEVEL": "WARNING",
            "SHOPFLOW_LOG_FORMAT": "json",
            "SHOPFLOW_DOCUMENT_DIR": str(workdir / "documents"),
            **(env or {}),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        engine = make_engine(self.database_url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 (the child owns it)
        proc = subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_temporal(self) -> None:
        args = [str(BIN / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                "--port", str(self.temporal_port), "--db-filename", str(self.dir / "temporal.db"),
                "--sqlite-pragma", "journal_mode=wal", "--log-level", "error"]
        for name in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{name}=Keyword"]
        self._spawn("temporal", args)
        wait_port(self.temporal_port)

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker", [str(BIN / "shopflow"), "worker"])

    def start_api(self, timeout: float = 180.0) -> None:
        self._spawn("api", [str(BIN / "shopflow"), "api"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.procs["api"].poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the API did not come up: {self.log('api')[-2000:]}")

    def start(self) -> Stack:
        self.start_temporal()
        self.start_worker()
        self.start_api()
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self, name: str) -> None:
        self.kill(name, signal.SIGTERM)

    def stop_all(self) -> None:
        for name in ("api", "worker", "temporal"):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)


class TcpProxy:
    """A TCP proxy from a free port on 127.0.0.1 to ``host:port``, on its own thread and event
    loop. ``cut()`` is an outage: every live connection is reset and new ones are refused (no
    one listens); ``restore()`` listens again on the same port. The server behind it is never
    touched (the machine's shared PostgreSQL keeps running for everyone else)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def start(self) -> TcpProxy:
        self.thread.start()
        self._run(self._listen())
        return self

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.links -= {writer, up_writer}

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for link in list(self.links):
            link.transport.abort()  # a reset, as when the server or the network goes away
        self.links.clear()

    def cut(self) -> None:
        self._run(self._cut())

    def restore(self) -> None:
        self._run(self._listen())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
