"""Returns and exchanges (seeds 001 and 003): the request, the customer's parcel, the warehouse
booking it in, cancellation, lookups and the replacement's packing slip. Each return is the
workflow ``return-<id>``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import delete, func
from sqlmodel import Session, col, select
from temporalio.service import RPCError

from shopflow.activities.cases import task_view, tasks_of, timeline_of
from shopflow.activities.payments import refund_view
from shopflow.activities.returns import (
    ReturnRefused,
    ReturnRequest,
    open_return,
    return_id_for,
    start_return,
)
from shopflow.activities.shipping import shipment_view
from shopflow.api.auth import User
from shopflow.api.cases import send_update, temporal_url
from shopflow.api.deps import PageDep, Services, ServicesDep, require
from shopflow.api.errors import ApiError, from_temporal
from shopflow.api.idempotency import idempotent
from shopflow.api.metrics import WORKFLOWS_STARTED
from shopflow.api.pages import render_page
from shopflow.api.routers.orders import _events
from shopflow.db import session_scope
from shopflow.models import Case, FollowupDue, Order, Refund, Return, Shipment
from shopflow.models.return_schemas import (
    ReturnCancelIn,
    ReturnCreate,
    ReturnCreated,
    ReturnParcelIn,
    ReturnPublic,
    ReturnReceivedIn,
    ReturnSummary,
)
from shopflow.models.schemas import PageOf
from shopflow.workflows.order_fulfilment import address_text
from shopflow.workflows.return_handling import ParcelInput, ReceivedInput
from shopflow.workflows.shared import Actor, CancelInput
from shopflow.workflows.vocab import READ_ROLES as CASE_READ_ROLES
from shopflow.workflows.vocab import RETURN_END_STATUSES, RETURN_TIMES, CaseKind

router = APIRouter(prefix="/returns", tags=["returns"])
READ_ROLES = CASE_READ_ROLES[CaseKind.RETURN]
END_STATUSES = RETURN_END_STATUSES
KPI_TIMES = RETURN_TIMES


def _forget(svc: Services, return_id: str) -> None:
    """Undo the request's rows when its workflow could not be started: nothing half-done."""
    with session_scope(svc.engine) as session:
        session.execute(delete(Return).where(col(Return.id) == return_id))
        session.execute(delete(Case).where(col(Case.id) == return_id, col(Case.kind) == "return",
                                           col(Case.version) == 0))


@router.post("", status_code=201, response_model=ReturnCreated,
             responses={409: {}, 422: {"description": "unknown_order, not_delivered, "
                                       "outside_return_window, quantity_exceeds_order …"},
                        503: {}})
async def create_return(
    body: ReturnCreate, svc: ServicesDep, user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Ask to return delivered goods for a refund or an exchange. Refused with 422 (and
    nothing started) outside the return window (longer for a quality issue), before
    delivery, or for more than was delivered minus what earlier returns claim."""

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        req = ReturnRequest(
            return_id=return_id_for(seed or uuid.uuid4().hex), order_no=body.order_no,
            items=[(i.sku, i.quantity) for i in body.items], kind=body.kind,
            reason=body.reason, quality_issue=body.quality_issue, evidence=list(body.evidence),
            requested_by=user.name)
        try:
            ret, new = await svc.db(open_return, svc.engine, svc.settings, req)
        except ReturnRefused as refused:
            raise ApiError(422, refused.code, refused.message, refused.details) from None
        try:
            await start_return(svc.client(), svc.settings, svc.engine, ret)
        except (RPCError, ApiError) as err:
            if new:
                await svc.db(_forget, svc, ret.id)
            raise (from_temporal(err) if isinstance(err, RPCError) else err) from None
        if new:
            WORKFLOWS_STARTED.labels("return").inc()
        return 201, {"id": ret.id, "workflow_id": ret.workflow_id, "status": "requested"}

    return await idempotent(svc, user, "POST /returns", idempotency_key,
                            body.model_dump(mode="json"), create)


def _return(svc: Services, return_id: str) -> Return:
    with session_scope(svc.engine, write=False) as session:
        ret = session.get(Return, return_id)
    if ret is None:
        raise ApiError(404, "not_found", f"no return {return_id}")
    return ret


@router.post("/{return_id}/shipment", responses={404: {}, 409: {}, 422: {}, 503: {}})
async def return_shipment(
    return_id: str, body: ReturnParcelIn, svc: ServicesDep,
    user: Annotated[User, Depends(require("channel", "cs"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """The customer's parcel (courier and tracking number); its "delivered" event on
    ``POST /shipments/{tracking_no}/events`` opens the inspection."""
    ret = await svc.db(_return, svc, return_id)

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        result = await send_update(svc, ret.workflow_id, "parcel_sent",
                                   ParcelInput(body.courier, body.tracking_no, user.name), dict)
        return 200, {"id": return_id, "status": result["status"], "parcel": result["parcel"]}

    return await idempotent(svc, user, f"POST /returns/{return_id}/shipment", idempotency_key,
                            body.model_dump(mode="json"), create)


@router.post("/{return_id}/received", responses={404: {}, 409: {}, 503: {}})
async def return_received(return_id: str, svc: ServicesDep,
                          user: Annotated[User, Depends(require("warehouse"))],
                          body: ReturnReceivedIn | None = None) -> dict[str, Any]:
    """The warehouse booked the customer's parcel in: the inspection opens."""
    ret = await svc.db(_return, svc, return_id)
    await send_update(svc, ret.workflow_id, "parcel_received",
                      ReceivedInput(user.name, body.note if body else ""), dict)
    return {"id": return_id, "status": "received"}


@router.post("/{return_id}/cancel", responses={404: {}, 409: {}, 503: {}})
async def cancel_return(return_id: str, svc: ServicesDep,
                        user: Annotated[User, Depends(require("channel", "cs", "ops"))],
                        body: ReturnCancelIn | None = None) -> dict[str, Any]:
    """Withdraw the return before the parcel arrives."""
    ret = await svc.db(_return, svc, return_id)
    if ret.received_at is not None:
        raise ApiError(409, "parcel_arrived",
                       "the parcel has arrived; the return can no longer be cancelled")
    if ret.status in END_STATUSES:
        raise ApiError(409, "invalid_state", f"return {return_id} is {ret.status}",
                       {"status": ret.status})
    await send_update(svc, ret.workflow_id, "request_cancel",
                      CancelInput(body.reason if body else "", Actor(user.name, user.role)), str)
    return {"id": return_id, "status": "cancelled"}


# --- reading -------------------------------------------------------------------------------

def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def summary(ret: Return) -> dict[str, Any]:
    return {"id": ret.id, "workflow_id": ret.workflow_id, "order_no": ret.order_no,
            "customer_id": ret.customer_id, "kind": ret.kind, "reason": ret.reason,
            "quality_issue": ret.quality_issue, "status": ret.status, "stage": ret.stage,
            "outcome": ret.outcome, "refund_amount": ret.refund_amount,
            "created_at": ret.created_at.isoformat(), "updated_at": ret.updated_at.isoformat()}


def return_view(svc: Services, session: Session, ret: Return) -> dict[str, Any]:
    parcels = {s.direction: s for s in session.exec(
        select(Shipment).where(Shipment.case_kind == "return", Shipment.case_id == ret.id))}

    def parcel(direction: str) -> dict[str, Any] | None:
        s = parcels.get(direction)
        return {**shipment_view(s), "events": _events(session, s.tracking_no)} if s else None

    followup = session.exec(select(FollowupDue).where(FollowupDue.source_kind == "return",
                                                      FollowupDue.source_id == ret.id)).first()
    return {
        **summary(ret),
        "items": ret.items, "evidence": ret.evidence, "policy": ret.policy,
        "parcel": parcel("return"), "exchange": parcel("outbound"),
        "refunds": [refund_view(r) for r in session.exec(
            select(Refund).where(Refund.case_kind == "return", Refund.case_id == ret.id)
            .order_by(col(Refund.id)))],
        "followup": ({"workflow_id": followup.workflow_id, "status": followup.status,
                      "due_at": followup.due_at.isoformat()} if followup else None),
        "kpi": {"requested_at": ret.created_at.isoformat(),
                **{name: _iso(getattr(ret, name)) for name in KPI_TIMES}},
        "tasks": [task_view(t) for t in tasks_of(session, ret.id)],
        "timeline": timeline_of(session, ret.id),
        "temporal_url": temporal_url(svc, ret.workflow_id),
    }


@router.get("", response_model=PageOf[ReturnSummary])
async def list_returns(
    svc: ServicesDep, page: PageDep, _: Annotated[User, Depends(require(*READ_ROLES))],
    status: Annotated[str | None, Query(max_length=40)] = None,
    reason: Annotated[str | None, Query(max_length=200,
                                        description="words in the reason")] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(pattern="^(refund|exchange)$")] = None,
) -> dict[str, Any]:
    def query() -> dict[str, Any]:
        conds = []
        if status:
            conds.append(Return.status == status)
        if reason:
            conds.append(func.lower(Return.reason).contains(reason.lower()))
        if customer_id:
            conds.append(Return.customer_id == customer_id)
        if order_no:
            conds.append(Return.order_no == order_no)
        if kind:
            conds.append(Return.kind == kind)
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Return).where(*conds)).one()
            rows = session.exec(select(Return).where(*conds)
                                .order_by(col(Return.created_at).desc(), col(Return.id))
                                .offset(page.offset).limit(page.page_size)).all()
            return {"items": [summary(r) for r in rows], "total": total, "page": page.page,
                    "page_size": page.page_size}

    return await svc.db(query)


@router.get("/{return_id}", response_model=ReturnPublic, responses={404: {}})
async def get_return(return_id: str, svc: ServicesDep,
                     _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            ret = session.get(Return, return_id)
            if ret is None:
                raise ApiError(404, "not_found", f"no return {return_id}")
            return return_view(svc, session, ret)

    return await svc.db(load)


@router.get("/{return_id}/packing-slip", response_class=HTMLResponse,
            responses={404: {}, 409: {}})
async def packing_slip(return_id: str, request: Request, svc: ServicesDep,
                       _: Annotated[User, Depends(require("warehouse", "cs", "ops"))]
                       ) -> HTMLResponse:
    """Pick list and packing slip of an exchange's replacement (printable)."""

    def load() -> dict[str, Any]:
        with session_scope(svc.engine, write=False) as session:
            ret = session.get(Return, return_id)
            if ret is None:
                raise ApiError(404, "not_found", f"no return {return_id}")
            if ret.kind != "exchange":
                raise ApiError(409, "not_an_exchange", "only an exchange ships a replacement")
            order = session.get(Order, ret.order_no)
            assert order is not None
            view = return_view(svc, session, ret)
            view["shipping_address"] = order.shipping_address
            view["address_text"] = address_text(order.shipping_address)
            return view

    return render_page(request, "return_packing_slip.html", ret=await svc.db(load))
