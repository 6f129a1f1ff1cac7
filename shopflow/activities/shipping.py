"""Parcel activities: the courier provider called, the rest in services.shipments."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.activities.payments import provider_failure
from shopflow.providers.courier import CourierProvider
from shopflow.providers.payments import ProviderError
from shopflow.services import shipments
from shopflow.workflows.shared import Act, ShipmentEventInput, ShipmentRegister, ShipmentView


class ShippingActivities:
    def __init__(self, engine: Engine, courier: CourierProvider) -> None:
        self.engine = engine
        self.courier = courier

    @activity.defn(name=Act.SHIPMENT_REGISTER)
    def register(self, req: ShipmentRegister) -> ShipmentView:
        known = shipments.known_registration(self.engine, req)
        if known is not None:
            return ShipmentView(**known)
        try:
            booking = self.courier.register(req.courier, req.tracking_no, req.workflow_id, req.at)
        except ProviderError as err:
            raise provider_failure(err) from None
        view = shipments.save_registration(self.engine, req, booking.tracking_url)
        return ShipmentView(**view, estimated_delivery=booking.estimated_delivery.isoformat())

    @activity.defn(name=Act.SHIPMENT_EVENT)
    def record_event(self, ev: ShipmentEventInput) -> ShipmentView:
        return ShipmentView(**shipments.record_event(self.engine, ev))
