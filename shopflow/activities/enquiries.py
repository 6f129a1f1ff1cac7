"""Enquiries' activities, thin adapters over services/enquiries.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import enquiries
from shopflow.workflows.shared import Act, EnquiryOrder


class EnquiryActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.ENQUIRY_ORDER)
    def order(self, req: EnquiryOrder) -> dict[str, Any]:
        return enquiries.order_for(self.engine, req)
