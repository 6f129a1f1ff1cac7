from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shopflow.models.types import time_field


class Order(SQLModel, table=True):
    """Orders as business records; the purchase history of a customer is derived from them."""

    __tablename__ = "orders"

    order_no: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    status: str = "received"
    total: float = 0.0
    created_at: datetime = time_field()
