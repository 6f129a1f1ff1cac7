"""Shared set-up for benchmarks: a throw-away dev server and database, and a bare Temporal
workflow of a given shape to compare against on the same server in the same run."""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path

from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from bench.bare import BareCase, BareShape, noop
from shopflow.temporal import SEARCH_ATTRIBUTES
from shopflow.temporal import data_converter as pydantic_data_converter

__all__ = ["BareCase", "BareShape", "noop", "dev_server", "rss_kib"]


async def dev_server() -> WorkflowEnvironment:
    """The dev server on a free port; tried again (the SDK gives it 5 s to come up, which a
    loaded machine can miss)."""
    for attempt in range(4):
        db = Path(tempfile.mkdtemp(prefix="shopflow-bench-")) / "temporal.db"
        try:
            return await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter,
                dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
                dev_server_database_filename=str(db),
                dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
                search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
            )
        except RuntimeError:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
