"""A worker process for tests/test_notices_crash.py: the real worker (every workflow and activity,
settings from SHOPFLOW_* variables), whose email channel, when NOTICE_TEST_STALL_AFTER_SEND names
a file, stops dead right after the SMTP server accepted a message: it writes that file and
sleeps, before the outbox can record anything, for the test to SIGKILL the process there.

Run: python -m tests.notices_worker (from the repository root)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from shopflow.db import make_engine
from shopflow.notifications.channels import Channel, build_channels
from shopflow.settings import Settings
from shopflow.temporal import connect
from shopflow.worker import build_worker


class StallAfterSend:
    def __init__(self, inner: Channel, marker: Path) -> None:
        self.inner, self.marker, self.name = inner, marker, inner.name

    def send(self, *args: Any) -> str:
        status = self.inner.send(*args)
        self.marker.write_text(status)
        time.sleep(3600)  # killed here
        return status


async def main() -> None:
    settings = Settings()
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    channels = build_channels(settings)
    marker = os.environ.get("NOTICE_TEST_STALL_AFTER_SEND")
    if marker:
        channels["email"] = StallAfterSend(channels["email"], Path(marker))
    worker = build_worker(client, settings, engine, channels=channels)
    print("worker running", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
