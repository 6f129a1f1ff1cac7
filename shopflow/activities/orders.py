"""Order activities: thin adapters over services.orders and services.inventory. Every write is
keyed, so a retried activity changes nothing twice."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.db import session_scope
from shopflow.services import inventory, orders
from shopflow.workflows.shared import (
    Act,
    Invoice,
    OrderReserve,
    OrderSettle,
    OrderUpdate,
    ReserveResult,
    StockMoved,
    StockSettle,
)


class OrderActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.ORDER_RESERVE)
    def reserve_lines(self, req: OrderReserve) -> ReserveResult:
        """Reserve what is there, line by line; short lines wait for a receipt (oldest first)."""
        with session_scope(self.engine) as session:
            return ReserveResult(**inventory.reserve_lines(session, req))

    @activity.defn(name=Act.ORDER_STOCK_SETTLE)
    def settle_stock(self, req: StockSettle) -> StockMoved:
        with session_scope(self.engine) as session:
            return StockMoved(inventory.settle_stock(session, req))

    @activity.defn(name=Act.ORDER_UPDATE)
    def update(self, req: OrderUpdate) -> None:
        orders.apply_update(self.engine, req)

    @activity.defn(name=Act.ORDER_STOCK_CONTEXT)
    def stock_context(self, skus: list[str]) -> dict[str, int]:
        """Cases that scheduled it before patch "typed-stock-context"; now ``inventory.available``
        (remove with that patch)."""
        return inventory.available_now(self.engine, skus)

    @activity.defn(name=Act.ORDER_SETTLE)
    def settle(self, req: OrderSettle) -> Invoice:
        """Invoice, the sale line for finance and the follow-up that is now due."""
        return Invoice(**orders.settle_delivery(self.engine, req))
