"""Finance's reconciliation (issue 17.6): a day's payments, refunds and COD transfer refunds
per provider, its CSV, and settling it. Definitions: shopflow/services/reconciliation.py."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, require
from shopflow.models.order_schemas import CheckIn, Provider, SettleIn
from shopflow.services import reconciliation
from shopflow.workflows.shared import Actor

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"])
ROLES = ("finance", "ops")  # and admin
FinanceUser = Annotated[User, Depends(require(*ROLES))]


@router.get("", responses={200: {"content": {"application/json": {}, "text/csv": {}}},
                           422: {}})
async def reconciliation_day(
    svc: ServicesDep, _: FinanceUser,
    day: Annotated[date | None, Query(alias="date", description="the day (default today)")] = None,
    provider: Annotated[Provider | None, Query(description="one provider (default both)")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """The day's payments, refunds (online) and transfer refunds (cod) with totals and net, per
    provider, and whether each is settled; ``?format=csv`` for a spreadsheet."""
    view = await svc.db(reconciliation.day_view, svc.engine, svc.settings, day, provider)
    if format == "csv":
        name = f"reconciliation-{view['date']}{'-' + provider if provider else ''}.csv"
        return Response(reconciliation.render_csv(view), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(view)


@router.post("/settle", status_code=201, responses={409: {}, 422: {}})
async def settle(body: SettleIn, svc: ServicesDep, user: FinanceUser) -> dict[str, Any]:
    """Mark one provider's day settled (who, when, note and the totals, audited). Once: a
    second settle of the same day and provider is a 409 ``already_settled``."""
    return await svc.db(reconciliation.settle, svc.engine, svc.settings, body.date,
                        body.provider, body.note, Actor(user.name, user.role))


@router.post("/check", responses={200: {"description": "compared"},
                                  202: {"description": "still running"}, 409: {}, 422: {},
                                  503: {}})
async def check(body: CheckIn, svc: ServicesDep, user: FinanceUser) -> JSONResponse:
    """Compare the day's books with the payment provider's own daily report now (the Schedule
    does it every morning for yesterday): each difference is kept once and opens a
    ``finance.reconciliation_difference`` task. Answers the differences (200), or 202 with the
    run's workflow id when it takes longer than 30 s."""
    done, result = await reconciliation.run_check(svc.client(), svc.settings, body.date,
                                                  Actor(user.name, user.role))
    return JSONResponse(result, status_code=200 if done else 202)
