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
    """Open and overdue tasks per kind, read from the inbox at scrape time."""

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def collect(self) -> Iterable[GaugeMetricFamily]:
        open_g = GaugeMetricFamily("shopflow_tasks_open", "Open human tasks", labels=["kind"])
        overdue_g = GaugeMetricFamily("shopflow_tasks_overdue", "Overdue human tasks",
                                      labels=["kind"])
        if self.engine is not None:
            with session_scope(self.engine, write=False) as session:
                open_rows = session.exec(
                    select(Task.kind, func.count()).where(col(Task.status).in_(ACTIVE_TASK_STATUSES))
                    .group_by(Task.kind)).all()
                overdue_rows = session.exec(
                    select(Task.kind, func.count()).where(
                        col(Task.status).in_(ACTIVE_TASK_STATUSES),
                        (col(Task.due_at) < utcnow()) | col(Task.escalated))
                    .group_by(Task.kind)).all()
            for kind, n in open_rows:
                open_g.add_metric([kind], n)
            for kind, n in overdue_rows:
                overdue_g.add_metric([kind], n)
        yield open_g
        yield overdue_g


TASKS = TaskCollector()
REGISTRY.register(TASKS)
