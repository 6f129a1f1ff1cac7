"""Parcels: tracking numbers registered with the courier, and the courier's events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from shopflow.activities.errors import business_error
from shopflow.activities.payments import provider_failure
from shopflow.db import insert_ignore, session_scope
from shopflow.models import Shipment, ShipmentEvent
from shopflow.models.types import utcnow
from shopflow.providers.courier import CourierProvider
from shopflow.providers.payments import ProviderError
from shopflow.workflows.shared import Act, ErrorType, ShipmentEventInput, ShipmentRegister

STATUS_OF_EVENT = {"in_transit": "in_transit", "delayed": "delayed", "lost": "lost",
                   "delivered": "delivered"}


def shipment_view(s: Shipment) -> dict[str, Any]:
    return {"tracking_no": s.tracking_no, "courier": s.courier, "order_no": s.order_no,
            "case_kind": s.case_kind, "case_id": s.case_id, "direction": s.direction,
            "round": s.round, "status": s.status, "tracking_url": s.tracking_url,
            "shipped_at": s.shipped_at.isoformat(),
            "delivered_at": s.delivered_at.isoformat() if s.delivered_at else None}


class ShippingActivities:
    def __init__(self, engine: Engine, courier: CourierProvider) -> None:
        self.engine = engine
        self.courier = courier

    @activity.defn(name=Act.SHIPMENT_REGISTER)
    def register(self, req: ShipmentRegister) -> dict[str, Any]:
        with session_scope(self.engine, write=False) as session:
            known = session.get(Shipment, req.tracking_no)
            if known is not None:
                return _owned(known, req)
        try:
            booking = self.courier.register(req.courier, req.tracking_no, req.workflow_id, req.at)
        except ProviderError as err:
            raise provider_failure(err) from None
        with session_scope(self.engine) as session:
            insert_ignore(session, Shipment.__table__, [{
                "tracking_no": req.tracking_no, "courier": req.courier,
                "order_no": req.order_no, "case_kind": req.case_kind, "case_id": req.case_id,
                "workflow_id": req.workflow_id, "direction": req.direction, "round": req.round,
                "status": "shipped", "tracking_url": booking.tracking_url, "shipped_at": req.at,
                "created_by": req.actor, "updated_at": utcnow(),
            }], ["tracking_no"])
            shipment = session.get(Shipment, req.tracking_no)
            assert shipment is not None
            view = _owned(shipment, req)
        view["estimated_delivery"] = booking.estimated_delivery.isoformat()
        return view

    @activity.defn(name=Act.SHIPMENT_EVENT)
    def record_event(self, ev: ShipmentEventInput) -> dict[str, Any]:
        with session_scope(self.engine) as session:
            return record_shipment_event(session, ev)


def record_shipment_event(session: Session, ev: ShipmentEventInput) -> dict[str, Any]:
    """The event row (once per tracking number, type and time) and the parcel's status."""
    insert_ignore(session, ShipmentEvent.__table__, [{
        "dedup_key": event_key(ev.tracking_no, ev.type, ev.at),
        "tracking_no": ev.tracking_no, "type": ev.type, "at": ev.at, "note": ev.note,
        "recorded_by": ev.actor, "created_at": utcnow(),
    }], ["dedup_key"])
    shipment = session.get(Shipment, ev.tracking_no, with_for_update=True)
    if shipment is None:
        raise business_error(ErrorType.NOT_FOUND, "unknown_shipment",
                             f"no shipment {ev.tracking_no}")
    shipment.status = STATUS_OF_EVENT[ev.type]
    if ev.type == "delivered" and shipment.delivered_at is None:
        shipment.delivered_at = ev.at
    shipment.updated_at = utcnow()
    session.add(shipment)
    return shipment_view(shipment)


def event_key(tracking_no: str, type_: str, at: Any) -> str:
    return f"{tracking_no}:{type_}:{at.isoformat() if hasattr(at, 'isoformat') else at}"


def _owned(shipment: Shipment, req: ShipmentRegister) -> dict[str, Any]:
    if shipment.workflow_id != req.workflow_id:
        raise business_error(ErrorType.CONFLICT, "tracking_no_in_use",
                             f"tracking number {req.tracking_no} is another parcel's",
                             tracking_no=req.tracking_no)
    return shipment_view(shipment)
