"""Ops reports: KPIs for any period, computed from the records, and the stored periodic KPI
reports (HTML, CSV) that the schedules produce (or ops asks for)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from shopflow.activities.reports import compute_kpis, day_start
from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.errors import ApiError, temporal_errors
from shopflow.db import session_scope
from shopflow.models import Report
from shopflow.models.schemas import PageOf, Strict
from shopflow.security.csvsafe import neutralise_csv
from shopflow.workflows.care import KpiReport, ReportRequest

router = APIRouter(prefix="/reports", tags=["reports"])
OpsUser = Annotated[User, Depends(require("ops"))]
MAX_PERIOD = timedelta(days=3700)
WAIT_FOR_REPORT = 20.0


class ReportSummary(BaseModel):
    id: str
    kind: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    url: str
    csv_url: str


class ReportCreate(Strict):
    kind: Literal["monthly", "quarterly", "adhoc"] = "monthly"
    as_of: date | None = None
    start: date | None = None
    end: date | None = None


def _period(svc: Any, start: date | None, end: date | None) -> tuple[datetime, datetime]:
    last = end or date.today()
    first = start or last - timedelta(days=29)
    if first > last:
        raise ApiError(422, "invalid_period", "from is after to", {"from": str(first),
                                                                    "to": str(last)})
    if last - first > MAX_PERIOD:
        raise ApiError(422, "invalid_period", "the period is at most about ten years")
    return day_start(svc.settings, first), day_start(svc.settings, last + timedelta(days=1))


@router.get("/kpis")
async def kpis(
    svc: ServicesDep, _: OpsUser,
    start: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (inclusive)")] = None,
) -> dict[str, Any]:
    """KPIs for the days ``from`` to ``to`` (inclusive, in the schedule time zone; default the
    last 30 days), computed from the records. Definitions: shopflow/activities/reports.py."""
    begin, finish = _period(svc, start, end)

    def compute() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            return compute_kpis(session, begin, finish)

    return await svc.db(compute)


@router.get("", response_model=PageOf[ReportSummary])
async def list_reports(
    svc: ServicesDep, page: PageDep, _: OpsUser,
    kind: Literal["monthly", "quarterly", "adhoc"] | None = None,
) -> dict[str, Any]:
    def query() -> dict[str, Any]:
        conds = [Report.kind == kind] if kind else []
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Report).where(*conds)).one()
            rows = session.exec(select(Report).where(*conds)
                                .order_by(col(Report.period_start).desc(), col(Report.id))
                                .offset(page.offset).limit(page.page_size)).all()
        base = "/api/v1/reports"
        items = [{"id": r.id, "kind": r.kind, "period_start": r.period_start,
                  "period_end": r.period_end, "created_at": r.created_at,
                  "url": f"{base}/{r.id}", "csv_url": f"{base}/{r.id}?format=csv"} for r in rows]
        return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}

    return await svc.db(query)


@router.post("", status_code=201, responses={202: {}, 422: {}, 503: {}})
async def create_report(body: ReportCreate, svc: ServicesDep, user: OpsUser) -> JSONResponse:
    """Produce a report now (the schedules do it monthly and quarterly): ``adhoc`` needs
    ``start`` and ``end``; ``monthly``/``quarterly`` cover the month/quarter holding the day
    before ``as_of`` (default today: on the 1st the last complete one, else the period so far).
    Answers with the report once stored (or 202 while it runs)."""
    if body.kind == "adhoc":
        if body.start is None or body.end is None:
            raise ApiError(422, "invalid_period", "an adhoc report needs start and end")
        _period(svc, body.start, body.end)
    workflow_id = f"report-{uuid.uuid4().hex[:12]}"
    req = ReportRequest(kind=body.kind, as_of=body.as_of.isoformat() if body.as_of else None,
                        start=body.start.isoformat() if body.start else None,
                        end=body.end.isoformat() if body.end else None,
                        requested_by=user.name)
    with temporal_errors():
        handle = await svc.client().start_workflow(KpiReport.run, req, id=workflow_id,
                                                   task_queue=svc.settings.task_queue)
        try:
            result = await asyncio.wait_for(handle.result(), timeout=WAIT_FOR_REPORT)
        except TimeoutError:
            return JSONResponse({"workflow_id": workflow_id, "status": "running"},
                                status_code=202)
    return JSONResponse({"id": result["id"], "workflow_id": workflow_id, "status": "stored",
                         "url": f"/api/v1/reports/{result['id']}"}, status_code=201)


@router.get("/{report_id}", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}, "text/csv": {},
                                         "application/json": {}}}, 404: {}})
async def get_report(
    report_id: str, svc: ServicesDep, _: OpsUser,
    format: Annotated[Literal["html", "csv", "json"], Query()] = "html",
) -> Response:
    """The stored report as HTML (default), CSV (``?format=csv``) or its figures as JSON."""

    def load() -> Report:
        with session_scope(svc.engine, write=False) as session:
            report = session.get(Report, report_id)
        if report is None:
            raise ApiError(404, "not_found", f"no report {report_id}")
        return report

    report = await svc.db(load)
    if format == "csv":
        return Response(neutralise_csv(report.csv), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{report.id}.csv"'})
    if format == "json":
        return JSONResponse({"id": report.id, "kind": report.kind,
                             "created_at": report.created_at.isoformat(),
                             "figures": report.figures})
    return HTMLResponse(report.html)
