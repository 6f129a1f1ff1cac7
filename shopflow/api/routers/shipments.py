"""Parcels: the courier's events for a tracking number (a webhook, or the warehouse), routed to
the workflow the parcel belongs to (an order's, or a return's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, require
from shopflow.models.order_schemas import ShipmentEventIn, ShipmentEventResult, ShipmentPublic
from shopflow.models.schemas import ShipmentBatch, ShipmentBatchAnswer
from shopflow.services import bulk, shipments
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import SHIPMENT_READ_ROLES

router = APIRouter(prefix="/shipments", tags=["shipments"])
READ_ROLES = SHIPMENT_READ_ROLES


@router.post("/batch", response_model=ShipmentBatchAnswer, responses={403: {}, 422: {}})
async def ship_batch(body: ShipmentBatch, svc: ServicesDep,
                     user: Annotated[User, Depends(require("warehouse"))]) -> dict[str, Any]:
    """Mark orders shipped from CSV lines ``order_no,courier,tracking_no``: each line through
    its order's ``order.fulfil`` task (the same Update as completing it alone), one result per
    line: done, or why not (``invalid_row``, ``not_found``, ``not_ready_to_ship``,
    ``duplicate_row``, the task's own refusals such as a tracking number in use)."""
    results = await bulk.ship(svc.client, svc.engine, Actor(user.name, user.role), body.csv)
    done = sum(1 for r in results if r["ok"])
    return {"done": done, "failed": len(results) - done, "results": results}


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
    return await keyed.shipment_event(svc, user, tracking_no, body, idempotency_key)


@router.get("/{tracking_no}", response_model=ShipmentPublic, responses={404: {}})
async def get_shipment(tracking_no: str, svc: ServicesDep,
                       _: Annotated[User, Depends(require(*READ_ROLES))]) -> dict[str, Any]:
    return await svc.db(shipments.shipment_public, svc.engine, tracking_no)
