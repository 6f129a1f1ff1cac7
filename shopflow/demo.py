"""Demo data for SHOPFLOW_ENV=dev: a small catalogue with stock. Idempotent."""

from __future__ import annotations

from sqlalchemy import Engine

from shopflow.activities.inventory import receive
from shopflow.db import insert_ignore, session_scope
from shopflow.models import InventoryItem, Product
from shopflow.models.types import utcnow

DEMO_PRODUCTS = [
    ("TEA-001", "龙井绿茶 Longjing green tea 250g", 5, 200),
    ("CUP-002", "青瓷茶杯 Celadon tea cup", 3, 120),
    ("POT-003", "紫砂壶 Yixing clay teapot", 1, 30),
]


def seed_demo_data(engine: Engine) -> None:
    with session_scope(engine) as session:
        for sku, name, limit, stock in DEMO_PRODUCTS:
            insert_ignore(session, Product.__table__, [{
                "sku": sku, "name": name, "sample_limit": limit, "created_at": utcnow()}], ["sku"])
            insert_ignore(session, InventoryItem.__table__, [{
                "sku": sku, "on_hand": 0, "reserved": 0, "damaged": 0,
                "updated_at": utcnow()}], ["sku"])
            receive(session, sku, stock, "demo opening stock", "demo", f"demo-seed:{sku}")
