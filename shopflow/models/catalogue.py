from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from shopflow.models.types import time_field


class Product(SQLModel, table=True):
    __tablename__ = "products"

    sku: str = Field(primary_key=True, max_length=64)
    name: str
    sample_limit: int = 0
    # False: it comes back only with a fault, never "no reason" (opened cosmetics …).
    returnable: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime = time_field()
    # Seed 003 第七条: price, specification and origin. The price (cents) is what an order line
    # without its own price costs; None: the product has no catalogue price (revision 0008).
    price_cents: int | None = Field(default=None, sa_type=sa.BigInteger, nullable=True)
    specification: str | None = None
    origin: str | None = None

    @property
    def price(self) -> float | None:
        return None if self.price_cents is None else round(self.price_cents / 100, 2)


class InventoryItem(SQLModel, table=True):
    """Stock of one SKU. available = on_hand - reserved; damaged goods are not sellable."""

    __tablename__ = "inventory"

    sku: str = Field(primary_key=True, foreign_key="products.sku", max_length=64)
    on_hand: int = 0
    reserved: int = 0
    damaged: int = 0
    updated_at: datetime = time_field()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(SQLModel, table=True):
    """Stock held for a case; ``key`` names the case step so a retry never holds twice."""

    __tablename__ = "reservations"
    __table_args__ = (UniqueConstraint("key", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True)
    sku: str = Field(foreign_key="products.sku", max_length=64)
    quantity: int
    status: str = "held"  # held | consumed | released
    created_at: datetime = time_field()
    updated_at: datetime = time_field()


class StockMovement(SQLModel, table=True):
    """Audit trail of every stock change; ``dedup_key`` makes each change happen once."""

    __tablename__ = "stock_movements"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True)
    sku: str = Field(index=True, max_length=64)
    on_hand_delta: int = 0
    reserved_delta: int = 0
    damaged_delta: int = 0
    reason: str
    ref: str = ""
    actor: str = "system"
    at: datetime = time_field()
