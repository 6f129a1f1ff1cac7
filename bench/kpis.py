"""Time of the KPI figures (``shopflow.services.reports.compute_kpis``, behind
``GET /api/v1/reports/kpis``, the stored reports and the dashboard) over a big database.

Seeds N cases (default 10,000) with bench/ui_pages.py's seeding (cases, tasks, timelines,
notices, orders, complaints, surveys), plus returns and outbound parcels for the orders (some
lost), then times compute_kpis for the last 30 and 90 days, R times each (default 5), after one
warm-up. Each time is set against a trivial query over the same rows (one COUNT of the cases
created in the period) as a ratio, so that a slower or faster machine does not hide a change.
Per-section times show where the time goes.

    .venv/bin/python -m bench.kpis [N] [R] [--db postgresql+psycopg://postgres@127.0.0.1:5432]

With --db the tables are created in a new PostgreSQL database on that server, dropped after.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, text
from sqlmodel import Session, SQLModel, col, select

import shopflow.models  # noqa: F401  (every table)
from bench.ui_pages import seed
from shopflow.db import make_engine, session_scope
from shopflow.models import Case, Order, Return, Shipment
from shopflow.models.types import utcnow
from shopflow.services import reports

RETURN_REASONS = ["quality", "changed my mind", "wrong item sent", "size", "漏发"]


def seed_returns_and_parcels(engine: Engine, rnd: random.Random) -> dict[str, int]:
    """A return for about one shipped order in eight, an outbound parcel for every shipped
    order (one in fifty lost)."""
    returns: list[dict[str, Any]] = []
    parcels: list[dict[str, Any]] = []
    with session_scope(engine, write=False) as s:
        shipped = s.exec(select(Order.order_no, Order.customer_id, Order.shipped_at).where(
            col(Order.shipped_at).is_not(None))).all()
    for order_no, customer_id, shipped_at in shipped:
        parcels.append(Shipment(
            tracking_no=f"SF-{order_no}", courier="顺丰速运", order_no=order_no,
            case_id=order_no, workflow_id=f"order-{order_no}",
            status="lost" if rnd.random() < 0.02 else "delivered",
            shipped_at=shipped_at).model_dump())
        if rnd.random() < 0.125:
            returns.append(Return(
                id=f"r-{order_no}", workflow_id=f"return-r-{order_no}", order_no=order_no,
                customer_id=customer_id, kind="refund", reason=rnd.choice(RETURN_REASONS),
                created_at=shipped_at + timedelta(days=rnd.uniform(1, 5))).model_dump())
    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    with session_scope(engine) as s:
        for name, rows in (("shipments", parcels), ("returns", returns)):
            for k in range(0, len(rows), 2000):
                s.execute(insert(tables[name]), rows[k:k + 2000])
    return {"shipments": len(parcels), "returns": len(returns)}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm-up: query plans, page cache
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


@contextmanager
def database(server: str | None) -> Iterator[Engine]:
    if server is None:
        path = Path(tempfile.mkdtemp(prefix="shopflow-kpi-bench-")) / "shopflow.db"
        engine = make_engine(f"sqlite:///{path}")
        print(f"database: SQLite {path}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    import psycopg

    admin = server.replace("postgresql+psycopg://", "postgresql://").rstrip("/")
    name = f"shopflow_kpi_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{server.rstrip('/')}/{name}")
    print(f"database: PostgreSQL {name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(n: int, repeat: int, server: str | None) -> None:
    with database(server) as engine:
        SQLModel.metadata.create_all(engine)
        t0 = time.perf_counter()
        rnd = random.Random(7)  # noqa: S311 (reproducible made-up data, no secret)
        counts = seed(engine, n, rnd)
        counts |= seed_returns_and_parcels(engine, rnd)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        print(f"seeded in {time.perf_counter() - t0:.1f}s: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))
        end = utcnow()
        print(f"\n{'period':10} {'compute_kpis p50 ms':>20} {'max ms':>8} "
              f"{'COUNT p50 ms':>13} {'ratio':>7}")
        for days in (30, 90):
            start = end - timedelta(days=days)

            def kpis(start: Any = start) -> dict[str, Any]:
                with session_scope(engine, write=False) as s:
                    return reports.compute_kpis(s, start, end)

            def count(start: Any = start) -> int:
                with session_scope(engine, write=False) as s:
                    return s.exec(select(func.count()).select_from(Case).where(
                        col(Case.created_at) >= start, col(Case.created_at) < end)).one()

            took, base = timed(kpis, repeat), timed(count, repeat)
            ratio = statistics.median(took) / statistics.median(base)
            print(f"{f'{days} days':10} {statistics.median(took):20.1f} {max(took):8.1f} "
                  f"{statistics.median(base):13.2f} {ratio:6.0f}x")
            figures = kpis()
            print(f"           {figures['orders']['shipped']} orders shipped, "
                  f"{figures['samples']['shipped']} samples shipped "
                  f"({figures['samples']['converted']} converted), "
                  f"{figures['complaints']['count']} complaints, "
                  f"{figures['returns']['count']} returns, "
                  f"{sum(p['tasks_done'] for p in figures['staff'])} staff tasks")
            parts = []
            for section in ("orders", "returns", "complaints", "samples", "satisfaction",
                            "staff"):
                fn = getattr(reports, f"_{section}")
                extra = (0,) if section == "returns" else ()

                def one(fn: Any = fn, start: Any = start, extra: Any = extra) -> Any:
                    with Session(engine) as s:
                        return fn(s, start, end, *extra)
                parts.append(f"{section} {statistics.median(timed(one, 3)):.1f}")
            print("           by section (ms): " + ", ".join(parts))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("repeat", nargs="?", type=int, default=5)
    parser.add_argument("--db", default=None, help="a PostgreSQL server URL (no database)")
    args = parser.parse_args()
    main(args.n, args.repeat, args.db)
