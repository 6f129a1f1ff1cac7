"""Stock activities: thin adapters over services.inventory."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.db import session_scope
from shopflow.services import inventory
from shopflow.workflows.shared import (
    Act,
    BackordersWoken,
    BackorderWake,
    ReservationKey,
    ReserveRequest,
    StockLevels,
    StockMoved,
    StockQuery,
    SweepRun,
    SweepStarted,
)


class InventoryActivities:
    def __init__(self, engine: Engine, client: Client | None = None) -> None:
        self.engine = engine
        self.client = client

    @activity.defn(name=Act.STOCK_RESERVE)
    def reserve(self, req: ReserveRequest) -> StockMoved:
        with session_scope(self.engine) as session:
            return StockMoved(inventory.reserve(session, req))

    @activity.defn(name=Act.STOCK_CONSUME)
    def consume(self, req: ReservationKey) -> StockMoved:
        with session_scope(self.engine) as session:
            return StockMoved(inventory.settle(session, req, "consumed"))

    @activity.defn(name=Act.STOCK_RELEASE)
    def release(self, req: ReservationKey) -> StockMoved:
        with session_scope(self.engine) as session:
            return StockMoved(inventory.settle(session, req, "released"))

    @activity.defn(name=Act.STOCK_AVAILABLE)
    def available(self, req: StockQuery) -> StockLevels:
        return StockLevels(inventory.available_now(self.engine, req.skus))

    @activity.defn(name=Act.BACKORDER_WAKE)
    async def wake_backorders(self, req: BackorderWake) -> BackordersWoken:
        client = need_client(self.client, Act.BACKORDER_WAKE)
        return BackordersWoken(req.sku,
                               await inventory.wake_backorders(client, self.engine, req.sku))

    @activity.defn(name=Act.BACKORDER_SWEEP)
    async def wake_missed(self, req: SweepRun) -> SweepStarted:
        """The wake-ups that receipts lost, started on this worker's task queue."""
        return SweepStarted(await inventory.start_missed_wakes(
            need_client(self.client, Act.BACKORDER_SWEEP), self.engine,
            activity.info().task_queue))
