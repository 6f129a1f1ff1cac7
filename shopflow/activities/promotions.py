"""Promotion plans' and overstock's activities, thin adapters over services/promotions.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.services import promotions
from shopflow.settings import Settings
from shopflow.workflows.care_payloads import DayQuery
from shopflow.workflows.promotion_rules import (
    OVERSTOCK_DUE,
    OVERSTOCK_PROMOTE,
    PROMO_AUDIENCE,
    PROMO_REPORT,
    PROMO_START,
    SUPPLIER_RETURN,
    Audience,
    AudienceQuery,
    CaseStart,
    OverstockDue,
    OverstockPromote,
    PromotionOpened,
    ReportQuery,
    SalesReport,
    SupplierReturn,
)


class PromotionActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client

    @activity.defn(name=PROMO_START)
    async def start(self, req: CaseStart) -> bool:
        return await promotions.start_case(need_client(self.client, PROMO_START),
                                           self.settings, self.engine, req)

    @activity.defn(name=PROMO_AUDIENCE)
    def audience(self, q: AudienceQuery) -> Audience:
        return promotions.audience(self.engine, q)

    @activity.defn(name=PROMO_REPORT)
    def report(self, q: ReportQuery) -> SalesReport:
        return promotions.sales_report(self.engine, q)

    @activity.defn(name=OVERSTOCK_DUE)
    def overstock_due(self, q: DayQuery) -> OverstockDue:
        return promotions.overstock_due(self.engine, self.settings, q)

    @activity.defn(name=OVERSTOCK_PROMOTE)
    async def overstock_promote(self, req: OverstockPromote) -> PromotionOpened:
        return await promotions.overstock_promote(need_client(self.client, OVERSTOCK_PROMOTE),
                                                  self.settings, self.engine, req)

    @activity.defn(name=SUPPLIER_RETURN)
    def supplier_return(self, req: SupplierReturn) -> dict[str, Any]:
        return promotions.supplier_return(self.engine, req)
