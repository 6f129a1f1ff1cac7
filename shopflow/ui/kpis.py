"""The dashboard's KPIs for a period, read from the records every process writes (cases, tasks,
orders, feedback requests). They follow API.md's list as far as those records go; the KPI report
(``GET /reports/kpis``) is the reference. A process or the report module adds figures with
``PROVIDERS.append(fn)``, ``fn(session, start, end) -> list[Kpi]``."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from shopflow.db import session_scope
from shopflow.models import Case, FeedbackRequest, Order, Task

SHIPPING_TASKS = ("sample.dispatch", "order.fulfil")
CONVERSION_DAYS = 90


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: float | None  # None: nothing to measure in the period
    unit: Literal["%", "h", "", "/5"] = ""
    detail: str = ""

    @property
    def scale(self) -> float | None:
        """The full length of a chart bar, for figures that have one."""
        return {"%": 100.0, "/5": 5.0}.get(self.unit)

    def text(self) -> str:
        if self.value is None:
            return "—"
        if self.unit == "%":
            return f"{self.value:.1f}%"
        if self.unit == "h":
            return f"{self.value:.1f} h"
        if self.unit == "/5":
            return f"{self.value:.2f} / 5"
        return f"{self.value:g}"


Provider = Callable[[Session, datetime, datetime], list[Kpi]]
PROVIDERS: list[Provider] = []


def compute(engine: Engine, start: datetime, end: datetime) -> dict[str, Any]:
    with session_scope(engine, write=False) as session:
        figures = _core(session, start, end)
        staff = _staff(session, start, end)
        for provider in PROVIDERS:
            figures.extend(provider(session, start, end))
    return {"figures": figures, "staff": staff, "start": start, "end": end}


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _core(session: Session, start: datetime, end: datetime) -> list[Kpi]:
    figures: list[Kpi] = []
    opened = dict(session.exec(select(Case.kind, func.count()).where(
        col(Case.created_at) >= start, col(Case.created_at) < end).group_by(Case.kind)).all())

    # Time from intake to shipment: the case's creation to its dispatch / fulfilment task done.
    shipped = session.exec(
        select(Task.kind, Case.created_at, Task.completed_at)
        .join(Case, col(Case.id) == col(Task.case_id))
        .where(col(Task.kind).in_(SHIPPING_TASKS), Task.status == "done",
               col(Task.completed_at) >= start, col(Task.completed_at) < end)).all()
    lead: dict[str, list[float]] = defaultdict(list)
    for kind, created, done in shipped:
        if done is not None:
            lead[kind].append(_hours(created, done))
    for kind in SHIPPING_TASKS:
        process = kind.split(".")[0]
        figures.append(Kpi(f"{process}_processing_time", f"{'订单' if process == 'order' else '样品'}"
                           f"处理时间(中位数) {process.capitalize()} intake to shipment, median",
                           _median(lead[kind]), "h",
                           f"p90 {_fmt(_p90(lead[kind]))} h · n={len(lead[kind])}"))

    # On time: tasks done in the period before their due time and never escalated.
    done_rows = session.exec(select(Task.kind, Task.due_at, Task.completed_at, Task.escalated)
                             .where(Task.status == "done", col(Task.completed_at) >= start,
                                    col(Task.completed_at) < end)).all()
    on_time = [r for r in done_rows if r[2] is not None and r[2] <= r[1] and not r[3]]
    ship_rows = [r for r in done_rows if r[0] in SHIPPING_TASKS]
    ship_on_time = [r for r in on_time if r[0] in SHIPPING_TASKS]
    figures.append(Kpi("on_time_shipment_rate", "准时发货率 On-time shipment rate",
                       _pct(len(ship_on_time), len(ship_rows)), "%",
                       f"{len(ship_on_time)} / {len(ship_rows)}"))
    figures.append(Kpi("tasks_on_time_rate", "任务准时完成率 Tasks done on time",
                       _pct(len(on_time), len(done_rows)), "%",
                       f"{len(on_time)} / {len(done_rows)}"))

    orders = opened.get("order", 0) or session.exec(select(func.count()).select_from(Order).where(
        col(Order.created_at) >= start, col(Order.created_at) < end)).one()
    figures.append(Kpi("return_rate", "退货率 Return rate (returns per order)",
                       _pct(opened.get("return", 0), orders), "%",
                       f"{opened.get('return', 0)} / {orders}"))
    figures.append(Kpi("complaints", "投诉数 Complaints", float(opened.get("complaint", 0))))

    # Sample conversion: samples of the period whose customer ordered within 90 days after.
    sample_rows = session.exec(select(Case.customer_id, Case.created_at).where(
        Case.kind == "sample", col(Case.created_at) >= start, col(Case.created_at) < end)).all()
    customers = sorted({c for c, _ in sample_rows if c})
    first_orders: dict[str, list[datetime]] = defaultdict(list)
    for i in range(0, len(customers), 500):
        for who, at in session.exec(select(Order.customer_id, Order.created_at).where(
                col(Order.customer_id).in_(customers[i:i + 500]),
                col(Order.created_at) >= start)).all():
            first_orders[who].append(at)
    window = timedelta(days=CONVERSION_DAYS)
    converted = sum(1 for who, at in sample_rows
                    if who and any(at <= o <= at + window for o in first_orders.get(who, ())))
    figures.append(Kpi("sample_conversion", "样品转化率 Sample conversion (order within 90 days)",
                       _pct(converted, len(sample_rows)), "%", f"{converted} / {len(sample_rows)}"))

    # Satisfaction: the feedback forms sent in the period, and their answers.
    forms = session.exec(select(FeedbackRequest.status, FeedbackRequest.response).where(
        col(FeedbackRequest.created_at) >= start, col(FeedbackRequest.created_at) < end)).all()
    scores = [float(r["satisfaction"]) for s, r in forms
              if s == "answered" and isinstance(r, dict)
              and isinstance(r.get("satisfaction"), int | float)]
    figures.append(Kpi("satisfaction", "满意度 Satisfaction (average)",
                       statistics.fmean(scores) if scores else None, "/5",
                       f"n={len(scores)}"))
    figures.append(Kpi("feedback_response_rate", "反馈回复率 Feedback response rate",
                       _pct(sum(1 for s, _ in forms if s == "answered"), len(forms)), "%",
                       f"{sum(1 for s, _ in forms if s == 'answered')} / {len(forms)}"))
    return figures


def _staff(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = session.exec(select(Task.completed_by, Task.created_at, Task.completed_at, Task.due_at,
                               Task.escalated)
                        .where(Task.status == "done", col(Task.completed_by).is_not(None),
                               col(Task.completed_at) >= start, col(Task.completed_at) < end)
                        ).all()
    per: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for who, created, done, due, escalated in rows:
        if who and done is not None:
            per[who].append((_hours(created, done), escalated or done > due))
    out = [{"name": who, "done": len(v), "median_hours": _median([h for h, _ in v]),
            "overdue": sum(1 for _, late in v if late)} for who, v in per.items()]
    return sorted(out, key=lambda r: (-r["done"], r["name"]))[:20]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
