"""Parcels: registered with the courier by a case, the courier's events, and their views."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Shipment, ShipmentEvent
from shopflow.models.types import utcnow
from shopflow.services.cases import send_update
from shopflow.services.errors import Refused, business_error
from shopflow.workflows.shared import ErrorType, ShipmentEventInput, ShipmentRegister

STATUS_OF_EVENT = {"in_transit": "in_transit", "delayed": "delayed", "lost": "lost",
                   "delivered": "delivered"}


def shipment_view(s: Shipment) -> dict[str, Any]:
    return {"tracking_no": s.tracking_no, "courier": s.courier, "order_no": s.order_no,
            "case_kind": s.case_kind, "case_id": s.case_id, "direction": s.direction,
            "round": s.round, "status": s.status, "tracking_url": s.tracking_url,
            "shipped_at": s.shipped_at.isoformat(),
            "delivered_at": s.delivered_at.isoformat() if s.delivered_at else None}


def events_of(session: Session, tracking_no: str) -> list[dict[str, Any]]:
    """A parcel's courier events, oldest first."""
    return [{"type": e.type, "at": e.at.isoformat(), "note": e.note, "by": e.recorded_by}
            for e in session.exec(select(ShipmentEvent).where(
                ShipmentEvent.tracking_no == tracking_no).order_by(col(ShipmentEvent.at),
                                                                   col(ShipmentEvent.id)))]


def shipment_with_events(session: Session, s: Shipment) -> dict[str, Any]:
    return {**shipment_view(s), "events": events_of(session, s.tracking_no)}


def get_shipment(engine: Engine, tracking_no: str) -> Shipment:
    with session_scope(engine, write=False) as session:
        shipment = session.get(Shipment, tracking_no)
    if shipment is None:
        raise Refused(404, "not_found", f"no parcel with tracking number {tracking_no}")
    return shipment


def shipment_public(engine: Engine, tracking_no: str) -> dict[str, Any]:
    with session_scope(engine, write=False) as session:
        shipment = session.get(Shipment, tracking_no)
        if shipment is None:
            raise Refused(404, "not_found", f"no parcel with tracking number {tracking_no}")
        return shipment_with_events(session, shipment)


def event_key(tracking_no: str, type_: str, at: Any) -> str:
    return f"{tracking_no}:{type_}:{at.isoformat() if hasattr(at, 'isoformat') else at}"


def known_event(engine: Engine, key: str) -> ShipmentEvent | None:
    with session_scope(engine, write=False) as session:
        return session.exec(select(ShipmentEvent).where(ShipmentEvent.dedup_key == key)).first()


def record_shipment_event(session: Session, ev: ShipmentEventInput) -> dict[str, Any]:
    """The event row (once per tracking number, type and time) and the parcel's status."""
    insert_ignore(session, ShipmentEvent, [{
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


def record_event(engine: Engine, ev: ShipmentEventInput) -> dict[str, Any]:
    with session_scope(engine) as session:
        return record_shipment_event(session, ev)


def known_registration(engine: Engine, req: ShipmentRegister) -> dict[str, Any] | None:
    """The parcel if this case registered it already (a retry); refused if another case did."""
    with session_scope(engine, write=False) as session:
        known = session.get(Shipment, req.tracking_no)
        return _owned(known, req) if known is not None else None


def save_registration(engine: Engine, req: ShipmentRegister, tracking_url: str) -> dict[str, Any]:
    with session_scope(engine) as session:
        insert_ignore(session, Shipment, [{
            "tracking_no": req.tracking_no, "courier": req.courier,
            "order_no": req.order_no, "case_kind": req.case_kind, "case_id": req.case_id,
            "workflow_id": req.workflow_id, "direction": req.direction, "round": req.round,
            "status": "shipped", "tracking_url": tracking_url, "shipped_at": req.at,
            "created_by": req.actor, "updated_at": utcnow(),
        }], ["tracking_no"])
        shipment = session.get(Shipment, req.tracking_no)
        assert shipment is not None
        return _owned(shipment, req)


def _owned(shipment: Shipment, req: ShipmentRegister) -> dict[str, Any]:
    if shipment.workflow_id != req.workflow_id:
        raise business_error(ErrorType.CONFLICT, "tracking_no_in_use",
                             f"tracking number {req.tracking_no} is another parcel's",
                             tracking_no=req.tracking_no)
    return shipment_view(shipment)


def event_time(at: datetime | None) -> datetime:
    """A courier event's time in UTC (now when not given; a naive time is UTC)."""
    at = at or utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


async def courier_event(client: Client, engine: Engine, tracking_no: str, type_: str,
                        at: datetime, note: str, actor: str) -> tuple[int, dict[str, Any]]:
    """A courier event for a parcel, sent to its case; the same event (type and time) again
    answers 200 and changes nothing."""
    shipment = await asyncio.to_thread(get_shipment, engine, tracking_no)
    answer = {"tracking_no": tracking_no, "order_no": shipment.order_no, "type": type_,
              "at": at.isoformat()}
    if await asyncio.to_thread(known_event, engine, event_key(tracking_no, type_, at)) is not None:
        current = await asyncio.to_thread(get_shipment, engine, tracking_no)
        return 200, {**answer, "shipment_status": current.status, "duplicate": True}
    ev = ShipmentEventInput(tracking_no, type_, at, note, actor)
    try:
        result = await send_update(client, shipment.workflow_id, "shipment_event", ev, dict)
    except Refused as err:
        # A parcel of a closed return (an exchange's replacement on its way, a customer's
        # parcel arriving after a cancellation) still has a history; nothing else changes.
        # A sample's parcel delivered after its case was archived likewise.
        if not (err.code == "case_closed" and shipment.case_kind in ("return", "sample")):
            raise
        recorded = await asyncio.to_thread(record_event, engine, ev)
        result = {"shipment_status": recorded["status"]}
    duplicate = bool(result.get("duplicate"))
    return (200 if duplicate else 201), {
        **answer, "shipment_status": result.get("shipment_status", ""), "duplicate": duplicate}
