"""Prometheus metrics: requests, latencies, workflows started, open and overdue tasks."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import col, select

from shopflow.db import session_scope
from shopflow.models import Task
from shopflow.models.types import utcnow
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("shopflow_http_requests_total", "HTTP requests", ["method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("shopflow_http_request_seconds", "HTTP request latency", ["method", "route"],
                    registry=REGISTRY)
WORKFLOWS_STARTED = Counter("shopflow_workflows_started_total", "Case workflows started",
                            ["kind"], registry=REGISTRY)


class TaskCollector(Collector):
    """Open and overdue tasks per kind. A scrape reads the last snapshot only (no database
    query per scrape); the API refreshes the snapshot off the request path, every
    ``SHOPFLOW_METRICS_REFRESH`` (``refresh_loop`` in the app's lifespan)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.open_rows: list[tuple[str, int]] = []
        self.overdue_rows: list[tuple[str, int]] = []

    def refresh(self) -> None:
        if self.engine is None:
            return
        with session_scope(self.engine, write=False) as session:
            open_rows = session.exec(
                select(Task.kind, func.count()).where(col(Task.status).in_(ACTIVE_TASK_STATUSES))
                .group_by(Task.kind)).all()
            overdue_rows = session.exec(
                select(Task.kind, func.count()).where(
                    col(Task.status).in_(ACTIVE_TASK_STATUSES),
                    (col(Task.due_at) < utcnow()) | col(Task.escalated))
                .group_by(Task.kind)).all()
        self.open_rows = [(str(k), int(n)) for k, n in open_rows]
        self.overdue_rows = [(str(k), int(n)) for k, n in overdue_rows]

    async def refresh_loop(self, every: float) -> None:
        import asyncio

        import structlog
        from starlette.concurrency import run_in_threadpool

        while True:
            try:
                await run_in_threadpool(self.refresh)
            except Exception as err:  # the database may be down for a while: keep trying
                structlog.get_logger(__name__).warning("task gauges not refreshed", error=repr(err))
            await asyncio.sleep(every)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        open_g = GaugeMetricFamily("shopflow_tasks_open", "Open human tasks", labels=["kind"])
        overdue_g = GaugeMetricFamily("shopflow_tasks_overdue", "Overdue human tasks",
                                      labels=["kind"])
        for kind, n in self.open_rows:
            open_g.add_metric([kind], n)
        for kind, n in self.overdue_rows:
            overdue_g.add_metric([kind], n)
        yield open_g
        yield overdue_g


TASKS = TaskCollector()
REGISTRY.register(TASKS)
