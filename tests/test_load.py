"""Issue 14, load: bench/load.py on 100 orders against a real stack (processes): none lost,
exactly one workflow per order, every retry answered like the first request, every
conflicting duplicate a 409, no 5xx. Counts only: the timing is printed, not asserted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load import count_rows, count_workflows, run_load
from tests.stack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        yield s.start()
    finally:
        s.stop_all()


async def test_100_orders_with_retries_and_conflicts_lose_nothing(stack: Stack) -> None:
    result = await run_load(stack.url, orders=100, concurrency=16)
    print(result.report())
    assert result.server_errors == []
    assert result.retries == 10 and result.conflicts == 5
    assert result.retry_mismatches == []
    assert result.conflict_answers == {409: 5}
    assert result.statuses[201] == 100 + 10  # every first request and its retry (replayed)
    assert count_rows(stack.database_url, result.order_nos) == 100
    assert await count_workflows(stack.env["SHOPFLOW_TEMPORAL_ADDRESS"], result.order_nos) == 100
