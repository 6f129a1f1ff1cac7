"""The dashboard's KPIs: the figures of the KPI report (``shopflow.services.reports.
compute_kpis``, the one definition behind ``GET /api/v1/reports/kpis`` and the stored reports),
shaped for a chart and a table. Nothing is computed twice: this module only picks and labels."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import Engine

from shopflow.db import session_scope
from shopflow.models.types import utcnow

log = structlog.get_logger(__name__)
CACHE_SECONDS = 120.0  # the figures span days: two minutes old is fresh enough


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


def _pct(value: Any) -> float | None:
    return None if value is None else 100.0 * float(value)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def figures_of(k: dict[str, Any]) -> list[Kpi]:
    """The report's figures, in the order of API.md."""
    o, r, c = k.get("orders", {}), k.get("returns", {}), k.get("complaints", {})
    s, f, v = k.get("samples", {}), k.get("satisfaction", {}), k.get("revenue", {})
    return [
        Kpi("order_processing", "订单处理时间(中位数) Order processing time, median", _num(
            o.get("processing_hours_median")), "h",
            f"p90 {o.get('processing_hours_p90') or '—'} h · {o.get('shipped', 0)} shipped"),
        Kpi("on_time_shipment", "准时发货率 On-time shipment rate", _pct(o.get("on_time_rate")), "%",
            f"{o.get('shipped_on_time', 0)} / {o.get('fulfilment_tasks', 0)}"),
        Kpi("error_rate", "差错率 Error rate", _pct(o.get("error_rate")), "%",
            f"{o.get('errors', 0)} / {o.get('shipped', 0)}"),
        Kpi("return_rate", "退货率 Return rate", _pct(r.get("rate")), "%",
            f"{r.get('count', 0)} returns"),
        Kpi("return_resolution", "退货处理时间(中位数) Return resolution, median",
            _num(r.get("resolution", {}).get("all", {}).get("hours_median")), "h",
            _spread_detail(r.get("resolution", {}).get("all", {}), "settled")),
        Kpi("complaints", "投诉数 Complaints", _num(c.get("count", 0)), "",
            f"{c.get('escalations', 0)} escalations"),
        Kpi("first_response", "首次响应(中位数) First response, median",
            _num(c.get("first_response_hours_median")), "h", f"{c.get('responded', 0)} answered"),
        Kpi("resolution_in_sla", "按时解决率 Resolved within SLA",
            _pct(c.get("resolution_within_sla_rate")), "%",
            f"{c.get('resolved_within_sla', 0)} / {c.get('resolved', 0)}"),
        Kpi("complaint_resolution", "投诉解决时间(中位数) Complaint resolution, median",
            _num(c.get("resolution", {}).get("all", {}).get("hours_median")), "h",
            _spread_detail(c.get("resolution", {}).get("all", {}), "resolved")),
        Kpi("sample_applications", "样品申请 Sample requests", _num(s.get("applications")), "",
            f"{s.get('approved', 0)} approved · {s.get('rejected', 0)} rejected · "
            f"{s.get('open', 0)} open"),
        Kpi("sample_approval", "样品批准率 Sample approval rate", _pct(s.get("approval_rate")),
            "%", f"rejected {_pct_text(s.get('rejection_rate'))} of the decided"),
        Kpi("sample_time_to_ship", "样品发货时间(中位数) Sample request to shipment, median",
            _num(s.get("time_to_ship_hours_median")), "h",
            f"p90 {_num_text(s.get('time_to_ship_hours_p90'))} h · {s.get('shipped', 0)} shipped"),
        Kpi("sample_conversion", "样品转化率 Sample conversion", _pct(s.get("conversion_rate")),
            "%", f"{s.get('converted', 0)} / {s.get('shipped', 0)} within "
                 f"{s.get('window_days', 90)} days"),
        Kpi("satisfaction", "满意度 Satisfaction (average)", _num(f.get("average")), "/5",
            f"{f.get('answered', 0)} answers"),
        Kpi("survey_response", "反馈回复率 Survey response rate", _pct(f.get("response_rate")), "%",
            f"{f.get('answered', 0)} / {f.get('sent', 0)}"),
        Kpi("net_revenue", "销售净额 Net sales revenue", _num(v.get("net")), "",
            f"gross {v.get('gross', 0):.2f} · refunded {v.get('refunded', 0):.2f}"),
    ]


def _pct_text(value: Any) -> str:
    return "—" if value is None else f"{100.0 * float(value):.1f}%"


def _num_text(value: Any) -> str:
    return "—" if value is None else f"{float(value):g}"


def sample_rows(k: dict[str, Any]) -> list[dict[str, Any]]:
    """Sample conversion per product and per channel (seed 000 5.2), for the table under the
    KPIs (the report's ``samples.conversion_by_product`` and ``conversion_by_channel``)."""
    s = k.get("samples", {})
    return [{"by": by, "group": name, **figures}
            for by, key in (("product", "conversion_by_product"),
                            ("channel", "conversion_by_channel"))
            for name, figures in s.get(key, {}).items()]


def _spread_detail(spread: dict[str, Any], what: str) -> str:
    p90 = spread.get("hours_p90")
    return f"p90 {'—' if p90 is None else p90} h · {spread.get('count', 0)} {what}"


def resolution_rows(k: dict[str, Any]) -> list[dict[str, Any]]:
    """Return and complaint resolution times per category and complaint level, for the table
    under the KPIs (the report's ``returns.resolution``, ``complaints.resolution`` and
    ``complaints.resolution_by_level``); groups with nothing settled are left out."""
    rows: list[dict[str, Any]] = []
    groups = [("return", name, spread) for name, spread in
              k.get("returns", {}).get("resolution", {}).items()]
    groups += [("complaint", name, spread) for name, spread in
               k.get("complaints", {}).get("resolution", {}).items()]
    groups += [("complaint", f"level {name}", spread) for name, spread in
               k.get("complaints", {}).get("resolution_by_level", {}).items()]
    for process, group, spread in groups:
        if spread.get("count"):
            rows.append({"process": process, "group": group, **spread})
    return rows


def compute(engine: Engine, start: datetime, end: datetime) -> dict[str, Any]:
    """Figures and per-staff rows for [start, end). A failure leaves the dashboard standing."""
    from shopflow.services.reports import compute_kpis

    began = time.perf_counter()
    try:
        with session_scope(engine, write=False) as session:
            raw = compute_kpis(session, start, end)
    except Exception as err:  # the KPI code is another module's; never take the page down
        log.exception("KPIs could not be computed", error=repr(err))
        return {"figures": [], "staff": [], "resolution": [], "suggestions": [],
                "revenue": {}, "samples": [], "error": repr(err),
                "start": start, "end": end, "seconds": time.perf_counter() - began}
    return {"figures": figures_of(raw), "staff": raw.get("staff", []),
            "resolution": resolution_rows(raw), "samples": sample_rows(raw),
            "suggestions": (raw.get("suggestions") or {}).get("themes", []),
            "revenue": raw.get("revenue") or {}, "error": None,
            "start": start, "end": end, "seconds": time.perf_counter() - began}


class KpiBoard:
    """The dashboard's KPIs, computed off the request path: a page gets the latest figures at
    once and, when they are older than CACHE_SECONDS, starts one refresh in the background
    (stale while revalidate). Only the very first request of a period waits, up to ``wait``
    seconds; past that the page says the figures are being computed and reloads itself.

    Why: the report's figures scan the period's records (over a second for 10,000 cases on a
    small machine, see bench/ui_pages.py), while no page may take more than 300 ms."""

    def __init__(self, wait: float = 0.1) -> None:
        self.wait = wait
        self._latest: dict[int, tuple[float, dict[str, Any]]] = {}
        self._running: dict[int, asyncio.Task[None]] = {}

    async def get(self, svc: Any, days: int) -> dict[str, Any] | None:
        latest = self._latest.get(days)
        if (latest is None or time.monotonic() - latest[0] >= CACHE_SECONDS) \
                and days not in self._running:
            task = asyncio.get_running_loop().create_task(self._refresh(svc, days))
            self._running[days] = task
            task.add_done_callback(lambda _: self._running.pop(days, None))
        if latest is None and days in self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._running[days]), self.wait)
            latest = self._latest.get(days)
        return latest[1] if latest else None

    async def _refresh(self, svc: Any, days: int) -> None:
        end = utcnow()
        result = await svc.db(compute, svc.engine, end - timedelta(days=days), end)
        self._latest[days] = (time.monotonic(), result)

    def clear(self) -> None:
        """Forget every figure: the next page of each period waits (up to ``wait``)."""
        self._latest.clear()

    def expire(self) -> None:
        """Keep the figures but make them stale: the next page shows them and refreshes."""
        self._latest = {k: (v[0] - CACHE_SECONDS, v[1]) for k, v in self._latest.items()}

    async def settled(self) -> None:
        """Until no refresh runs (benchmarks and tests)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
