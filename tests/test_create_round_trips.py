"""The create path's database round trips: ``POST /orders`` writes the order number, the order
row, its lines and the case row in one transaction (issue 15: the fewest round trips), then
starts the workflow. No worker runs here, so every transaction counted is the API's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select
from temporalio.client import Client

from shopflow.api.app import create_app
from shopflow.models import Case, Order, OrderLine
from shopflow.settings import Settings
from tests.helpers import auth
from tests.scenes import order_body

pytestmark = pytest.mark.asyncio


async def test_an_order_is_created_in_one_transaction(settings: Settings, engine: Engine,
                                                      client: Client) -> None:
    from shopflow.demo import seed_demo_data

    seed_demo_data(engine)
    begun: list[Any] = []

    def count(conn: Any) -> None:
        begun.append(conn)

    app = create_app(settings, engine=engine, client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as http:
        event.listen(engine, "begin", count)
        try:
            r = await http.post("/api/v1/orders", headers=auth("channel"), json=order_body(
                order_no=None, method="cod",
                items=[{"sku": "TEA-001", "quantity": 2, "unit_price": 68.0},
                       {"sku": "CUP-002", "quantity": 1, "unit_price": 25.5}]))
        finally:
            event.remove(engine, "begin", count)
    assert r.status_code == 201, r.text
    no = r.json()["order_no"]
    assert len(begun) == 1, f"{len(begun)} transactions for one create"
    with Session(engine) as s:
        assert s.get(Order, no) is not None
        assert len(s.exec(select(OrderLine).where(OrderLine.order_no == no)).all()) == 2
        case = s.get(Case, no)
        assert case is not None and case.status == "received"
    handle = client.get_workflow_handle(f"order-{no}")
    assert (await handle.describe()).id == f"order-{no}"
