"""Customer activities: thin adapters over services.customers."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import customers
from shopflow.settings import Settings
from shopflow.workflows.shared import Act, CustomerData, ReviewContext, ReviewContextRequest


class CustomerActivities:
    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings

    @activity.defn(name=Act.CUSTOMER_UPSERT)
    def upsert(self, data: CustomerData) -> None:
        customers.upsert(self.engine, data)

    @activity.defn(name=Act.REVIEW_CONTEXT)
    def review_context(self, req: ReviewContextRequest) -> ReviewContext:
        return customers.review_context(self.engine, req, self.settings)
