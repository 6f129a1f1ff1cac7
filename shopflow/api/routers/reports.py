"""Ops reports: KPIs for any period, computed from the records, and the stored periodic KPI
reports (HTML, CSV) that the schedules produce (or ops asks for)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.errors import ApiError, temporal_errors
from shopflow.models.schemas import PageOf, Strict
from shopflow.security.csvsafe import neutralise_csv
from shopflow.services import reports, steps
from shopflow.workflows.care_payloads import ReportRequest
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/reports", tags=["reports"])
OpsUser = Annotated[User, Depends(require("ops"))]
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


@router.get("/kpis")
async def kpis(
    svc: ServicesDep, _: OpsUser,
    start: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (inclusive)")] = None,
) -> dict[str, Any]:
    """KPIs for the days ``from`` to ``to`` (inclusive, in the schedule time zone; default the
    last 30 days), computed from the records. Definitions: shopflow/services/reports.py."""
    begin, finish = reports.period(svc.settings, start, end)
    return await svc.db(reports.kpis, svc.engine, begin, finish)


@router.get("/steps", responses={200: {"content": {"application/json": {}, "text/csv": {}}},
                                 422: {}})
async def step_map(
    svc: ServicesDep, _: OpsUser,
    process: Annotated[CaseKind | None, Query(description="one process (default every one)")] = None,
    start: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day (inclusive)")] = None,
    channel: Annotated[str | None, Query(max_length=40, pattern=r"^[^\x00-\x1f]*$",
                                         description="the cases' channel")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """Where cases wait: per process, each step's (timeline event to the next) and each task
    kind's count, median and p90 hours in the period (default the last 30 days), and the open
    cases per stage now; ``?format=csv`` for a spreadsheet. Definitions: shopflow/services/steps.py."""
    begin, finish = reports.period(svc.settings, start, end)
    found = await svc.db(steps.step_map, svc.engine, [process] if process else None, begin,
                         finish, channel or None)
    if format == "csv":
        return Response(steps.render_csv(found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="steps.csv"'})
    local = reports.zone(svc.settings)  # the period's bounds as days in the business zone
    return JSONResponse({"period_start": begin.astimezone(local).isoformat(),
                         "period_end": finish.astimezone(local).isoformat(),
                         "channel": channel or None, "processes": found})


@router.get("", response_model=PageOf[ReportSummary])
async def list_reports(
    svc: ServicesDep, page: PageDep, _: OpsUser,
    kind: Literal["monthly", "quarterly", "adhoc"] | None = None,
) -> dict[str, Any]:
    return await svc.db(reports.list_reports, svc.engine, page.page, page.page_size, kind)


@router.post("", status_code=201, responses={202: {}, 422: {}, 503: {}})
async def create_report(body: ReportCreate, svc: ServicesDep, user: OpsUser) -> JSONResponse:
    """Produce a report now (the schedules do it monthly and quarterly): ``adhoc`` needs
    ``start`` and ``end``; ``monthly``/``quarterly`` cover the month/quarter holding the day
    before ``as_of`` (default today: on the 1st the last complete one, else the period so far).
    Answers with the report once stored (or 202 while it runs)."""
    if body.kind == "adhoc":
        if body.start is None or body.end is None:
            raise ApiError(422, "invalid_period", "an adhoc report needs start and end")
        reports.period(svc.settings, body.start, body.end)
    req = ReportRequest(kind=body.kind, as_of=body.as_of.isoformat() if body.as_of else None,
                        start=body.start.isoformat() if body.start else None,
                        end=body.end.isoformat() if body.end else None,
                        requested_by=user.name)
    workflow_id, handle = await reports.start_report(svc.client(), svc.settings, req)
    with temporal_errors():
        try:
            result = await asyncio.wait_for(handle.result(), timeout=WAIT_FOR_REPORT)
        except TimeoutError:
            return JSONResponse({"workflow_id": workflow_id, "status": "running"},
                                status_code=202)
    return JSONResponse({"id": result.id, "workflow_id": workflow_id, "status": "stored",
                         "url": f"/api/v1/reports/{result.id}"}, status_code=201)


@router.get("/{report_id}", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}, "text/csv": {},
                                         "application/json": {}}}, 404: {}})
async def get_report(
    report_id: str, svc: ServicesDep, _: OpsUser,
    format: Annotated[Literal["html", "csv", "json"], Query()] = "html",
) -> Response:
    """The stored report as HTML (default), CSV (``?format=csv``) or its figures as JSON."""

    report = await svc.db(reports.load_report, svc.engine, report_id)
    if format == "csv":
        return Response(neutralise_csv(report.csv), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{report.id}.csv"'})
    if format == "json":
        return JSONResponse({"id": report.id, "kind": report.kind,
                             "created_at": report.created_at.isoformat(),
                             "figures": report.figures})
    return HTMLResponse(report.html)
