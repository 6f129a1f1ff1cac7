"""Parcels: the courier's events for a tracking number (a webhook, or the warehouse), routed to
the workflow the parcel belongs to (an order's, or a return's)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from shopflow.api.auth import User
from shopflow.api.cases import send_update
from shopflow.api.deps import ServicesDep, require
from shopflow.api.errors import ApiError
from shopflow.api.idempotency import idempotent
from shopflow.models.order_schemas import ShipmentEventIn, ShipmentEventResult, ShipmentPublic
from shopflow.models.types import utcnow
from shopflow.services import shipments
from shopflow.workflows.shared import ShipmentEventInput
from shopflow.workflows.vocab import SHIPMENT_READ_ROLES

router = APIRouter(prefix="/shipments", tags=["shipments"])
READ_ROLES = SHIPMENT_READ_ROLES


@router.post("/{tracking_no}/events", status_code=201, response_model=ShipmentEventResult,
             responses={200: {"model": ShipmentEventResult, "description": "the same event again"},
                        404: {}, 409: {}, 422: {}, 503: {}})
async def shipment_event(
    tracking_no: str, body: ShipmentEventIn, svc: ServicesDep,
    user: Annotated[User, Depends(require("warehouse", "channel"))],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """in_transit; delayed (the customer gets an apology); lost (customer service chooses a
    reshipment or a refund); delivered (an order is settled, a return parcel is inspected).
    The same event (type and time) again answers 200 and changes nothing."""
    shipment = await svc.db(shipments.get_shipment, svc.engine, tracking_no)
    at = body.at or utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        answer = {"tracking_no": tracking_no, "order_no": shipment.order_no, "type": body.type,
                  "at": at.isoformat()}
        if await svc.db(shipments.known_event, svc.engine,
                        shipments.event_key(tracking_no, body.type, at)) is not None:
            current = await svc.db(shipments.get_shipment, svc.engine, tracking_no)
            return 200, {**answer, "shipment_status": current.status, "duplicate": True}
        ev = ShipmentEventInput(tracking_no, body.type, at, body.note, user.name)
        try:
            result = await send_update(svc, shipment.workflow_id, "shipment_event", ev, dict)
        except ApiError as err:
            # A parcel of a closed return (an exchange's replacement on its way, a customer's
            # parcel arriving after a cancellation) still has a history; nothing else changes.
            if not (err.code == "case_closed" and shipment.case_kind == "return"):
                raise
            recorded = await svc.db(shipments.record_event, svc.engine, ev)
            result = {"shipment_status": recorded["status"]}
        duplicate = bool(result.get("duplicate"))
        return (200 if duplicate else 201), {
            **answer, "shipment_status": result.get("shipment_status", ""),
            "duplicate": duplicate}

    return await idempotent(svc, user, f"POST /shipments/{tracking_no}/events", idempotency_key,
                            {**body.model_dump(mode="json"), "at": at.isoformat()}, create)


@router.get("/{tracking_no}", response_model=ShipmentPublic, responses={404: {}})
async def get_shipment(tracking_no: str, svc: ServicesDep,
                       _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    return await svc.db(shipments.shipment_public, svc.engine, tracking_no)
