"""Load: N orders created concurrently (64 in flight) against a real stack (Temporal dev server,
`shopflow worker`, `shopflow api` as processes), with 10 % client retries (same
Idempotency-Key, same body) and 5 % conflicting duplicates (same order_no, other body).

Checks: none lost (one order row per order), exactly one workflow per order, 409 for each
conflicting duplicate, no 5xx; prints p50/p99 of the create call with the machine's cores.

    .venv/bin/python -m bench.load                 # 1,000 orders, a stack of its own (SQLite)
    .venv/bin/python -m bench.load --orders 200 --database-url postgresql+psycopg://…/db
    .venv/bin/python -m bench.load --url http://127.0.0.1:8000   # a running stack (dev tokens)

tests/test_load.py runs the same on 100 orders and asserts the counts."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CHANNEL = {"Authorization": "Bearer dev-channel"}
ADMIN = {"Authorization": "Bearer dev-admin"}


@dataclass
class LoadResult:
    orders: int
    concurrency: int
    retries: int
    conflicts: int
    statuses: Counter[int] = field(default_factory=Counter)
    create_seconds: list[float] = field(default_factory=list)
    retry_mismatches: list[str] = field(default_factory=list)
    conflict_answers: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    order_nos: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    transport_retries: int = 0

    def percentile(self, q: float) -> float:
        data = sorted(self.create_seconds)
        if not data:
            return 0.0
        return data[min(len(data) - 1, int(round(q * (len(data) - 1))))]

    def report(self, rows: int | None = None, workflows: int | None = None) -> str:
        lines = [
            f"orders={self.orders} in_flight={self.concurrency} retries={self.retries} "
            f"conflicting_duplicates={self.conflicts} cores={os.cpu_count()}",
            f"answers: {dict(sorted(self.statuses.items()))}  wall={self.wall_seconds:.1f}s "
            f"({self.orders / self.wall_seconds:.1f} orders/s)" if self.wall_seconds else "",
            f"create latency: p50={statistics.median(self.create_seconds) * 1000:.0f} ms "
            f"p99={self.percentile(0.99) * 1000:.0f} ms max={max(self.create_seconds) * 1000:.0f} ms"
            if self.create_seconds else "",
            f"retries answered like the first: {self.retries - len(self.retry_mismatches)}"
            f"/{self.retries}; conflicting duplicates: {dict(self.conflict_answers)}",
            f"5xx: {len(self.server_errors)}; dropped connections sent again (same key): "
            f"{self.transport_retries}",
        ]
        if rows is not None:
            lines.append(f"order rows: {rows}/{self.orders} (lost: {self.orders - rows})")
        if workflows is not None:
            lines.append(f"order workflows: {workflows}/{self.orders}")
        return "\n".join(line for line in lines if line)


def order_body(order_no: str, sku: str, quantity: int = 1) -> dict[str, Any]:
    return {"order_no": order_no, "channel": "web",
            "customer": {"id": f"cust-{order_no}", "name": "Load Test", "phone": "13800000000"},
            "items": [{"sku": sku, "quantity": quantity, "unit_price": "9.90"}],
            "shipping_address": "1 Load Road, Hangzhou", "payment_method": "cod"}


async def prepare(http: httpx.AsyncClient, sku: str, stock: int) -> None:
    r = await http.post("/api/v1/products", headers=ADMIN,
                        json={"sku": sku, "name": "Load SKU", "sample_limit": 0})
    assert r.status_code in (200, 201), r.text
    r = await http.post("/api/v1/inventory/receipts", headers=ADMIN,
                        json={"sku": sku, "quantity": stock, "note": "load"})
    assert r.status_code in (200, 201), r.text


async def run_load(url: str, orders: int = 1000, concurrency: int = 64, retry_share: float = 0.10,
                   conflict_share: float = 0.05, seed: int = 1) -> LoadResult:
    rng = random.Random(seed)  # noqa: S311 (which orders retry: no secret)
    run = uuid.uuid4().hex[:6]
    sku = f"LOAD-{run}"
    picks = list(range(orders))
    rng.shuffle(picks)
    n_retry, n_conflict = round(orders * retry_share), round(orders * conflict_share)
    retried = set(picks[:n_retry])
    conflicted = set(picks[n_retry:n_retry + n_conflict])
    result = LoadResult(orders, concurrency, n_retry, n_conflict)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        await prepare(http, sku, stock=orders * 2)

        async def post(body: dict[str, Any], key: str | None) -> httpx.Response:
            headers = {**CHANNEL, **({"Idempotency-Key": key} if key else {})}
            async with gate:
                start = time.perf_counter()
                for attempt in range(5):
                    try:
                        r = await http.post("/api/v1/orders", json=body, headers=headers)
                        break
                    except httpx.TransportError:
                        # a dropped connection (e.g. a keep-alive connection the server closed
                        # as the client reused it): the client sends it again, same key
                        result.transport_retries += 1
                        if attempt == 4:
                            raise
                result.create_seconds.append(time.perf_counter() - start)
            result.statuses[r.status_code] += 1
            if r.status_code >= 500:
                result.server_errors.append(f"{r.status_code} {r.text[:200]}")
            return r

        async def one(i: int) -> None:
            order_no = f"LD-{run}-{i:05d}"
            result.order_nos.append(order_no)
            body, key = order_body(order_no, sku), f"load-{run}-{i}"
            first = post(body, key)
            if i in retried:  # the client did not see the answer and sends it again at once
                a, b = await asyncio.gather(first, post(body, key))
                if (a.status_code, a.json()) != (b.status_code, b.json()):
                    result.retry_mismatches.append(f"{order_no}: {a.status_code} vs {b.status_code}")
            else:
                a = await first
            if i in conflicted:  # another client reuses the number for other content
                dup = await post(order_body(order_no, sku, quantity=2), f"dup-{run}-{i}")
                result.conflict_answers[dup.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(orders)))
        result.wall_seconds = time.perf_counter() - started
    return result


def count_rows(database_url: str, order_nos: list[str]) -> int:
    from sqlalchemy import func
    from sqlmodel import col, select

    from shopflow.db import make_engine, session_scope
    from shopflow.models import Order

    engine = make_engine(database_url)
    try:
        with session_scope(engine, write=False) as session:
            return int(session.exec(select(func.count()).select_from(Order).where(
                col(Order.order_no).in_(order_nos))).one())
    finally:
        engine.dispose()


async def count_workflows(temporal_address: str, order_nos: list[str]) -> int:
    """Workflow executions (every run) per order id, counted one by one: each must be 1."""
    from temporalio.client import Client

    client = await Client.connect(temporal_address)
    wanted = {f"order-{no}" for no in order_nos}
    seen: Counter[str] = Counter()
    async for wf in client.list_workflows("WorkflowType = 'OrderFulfilment'"):
        if wf.id in wanted:
            seen[wf.id] += 1
    extra = [wid for wid, n in seen.items() if n != 1]
    if extra:
        raise AssertionError(f"more than one workflow for {extra[:5]}")
    return len(seen)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--url", help="a running stack's API (default: start one)")
    parser.add_argument("--database-url", help="its database (default: SQLite of its own)")
    parser.add_argument("--temporal-address", help="its Temporal (with --url)")
    args = parser.parse_args()

    stack = None
    if args.url is None:
        sys.path.insert(0, str(Path(__file__).parent.parent))
        from tests.stack import Stack

        stack = Stack(Path(tempfile.mkdtemp(prefix="shopflow-load-")),
                      database_url=args.database_url).start()
        url, db_url, address = stack.url, stack.database_url, stack.env[
            "SHOPFLOW_TEMPORAL_ADDRESS"]
    else:
        url, db_url, address = args.url, args.database_url, args.temporal_address
    try:
        result = await run_load(url, args.orders, args.concurrency)
        rows = count_rows(db_url, result.order_nos) if db_url else None
        workflows = await count_workflows(address, result.order_nos) if address else None
        print(result.report(rows, workflows))
        print(f"database: {(db_url or 'unknown').split(':')[0]}")
    finally:
        if stack is not None:
            stack.stop_all()
    sys.stdout.flush()
    os._exit(0)  # the Temporal client may abort at interpreter exit (sdk-python #300)


if __name__ == "__main__":
    asyncio.run(main())
