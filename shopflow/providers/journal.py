"""A simulator's memory on disk (``SHOPFLOW_PROVIDER_SIM_JOURNAL``): one JSON line for each
thing the outside service did (a capture, a refund, a parcel booking), read back when a
simulator starts. A restarted or SIGKILLed worker then meets the gateway and the courier a
real one would: they remember what they did, so an idempotency key holds across workers, and
the drills count what moved. Without a path the simulators remember in memory only."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def read(path: Path | None, kind: str) -> list[dict[str, Any]]:
    """Every entry of ``kind`` so far, oldest first (a torn last line is skipped)."""
    if path is None or not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("kind") == kind:
            entries.append(entry)
    return entries


def append(path: Path | None, kind: str, **fields: Any) -> None:
    if path is None:
        return
    line = json.dumps({"kind": kind, **fields}, default=str) + "\n"
    with _lock, path.open("a") as f:
        f.write(line)
