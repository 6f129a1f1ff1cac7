"""Return activities: thin adapters over services.returns."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import returns
from shopflow.workflows.shared import (
    Act,
    FollowupDueRecord,
    Restock,
    ReturnContext,
    ReturnContextRequest,
    ReturnUpdate,
    StockMoved,
)


class ReturnActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.RETURN_UPDATE)
    def update(self, req: ReturnUpdate) -> None:
        returns.apply_update(self.engine, req)

    @activity.defn(name=Act.RETURN_CONTEXT)
    def context(self, req: ReturnContextRequest) -> ReturnContext:
        """What the reviewer and finance need: the order and its money, the customer's
        earlier returns and return rate."""
        return ReturnContext(**returns.review_context(self.engine, req))

    @activity.defn(name=Act.RETURN_RESTOCK)
    def restock(self, req: Restock) -> StockMoved:
        """Resaleable goods back on hand; faulty ones to the damaged count; once per SKU."""
        return StockMoved(returns.restock(self.engine, req))

    @activity.defn(name=Act.RETURN_FOLLOWUP_DUE)
    def followup_due(self, req: FollowupDueRecord) -> None:
        returns.record_followup_due(self.engine, req)
