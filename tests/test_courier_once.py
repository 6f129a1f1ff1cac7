"""Courier events count once inside the workflow (issue 14.3): the same parcel, type and time
sent twice at the same moment (a courier's retry) gives one timeline line and one notice."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.providers import CourierSimulator, PaymentSimulator, Providers
from tests.helpers import eventually, make_product
from tests.scenes import event, order, place, ship
from tests.test_orders_process import notices

pytestmark = pytest.mark.asyncio


@pytest.fixture
def providers() -> Providers:
    return Providers(payments=PaymentSimulator(seed=7), courier=CourierSimulator(seed=7))


async def test_two_identical_courier_events_at_once_send_one_notice(
        api: httpx.AsyncClient, engine: Engine) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api, method="cod")
    await ship(api, no, tracking="SF7")
    at = "2030-01-01T08:00:00Z"
    answers = await asyncio.gather(*(event(api, "SF7", "delayed", "typhoon", at=at)
                                     for _ in range(3)))
    assert sorted(r.status_code for r in answers) == [200, 200, 201], [r.text for r in answers]
    assert sorted(r.json()["duplicate"] for r in answers) == [False, True, True]
    await eventually(lambda: "order_delayed" in notices(engine, no))
    o = await order(api, no)
    assert [e["type"] for e in o["shipments"][0]["events"]] == ["delayed"]
    assert o["kpi"]["exception_count"] == 1
    assert [e["type"] for e in o["timeline"]].count("shipment_delayed") == 1
    await asyncio.sleep(1)
    assert notices(engine, no).count("order_delayed") == 1


async def test_identical_courier_events_at_once_on_a_return_count_once(
        api: httpx.AsyncClient, engine: Engine) -> None:
    """The customer's parcel back: the same event three times at once is one timeline line."""
    from tests.helpers import case
    from tests.scenes import delivered_order
    from tests.test_returns_process import approve, request_return, send_parcel

    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    rid = await request_return(api, await delivered_order(api), {"TEA": 1}, reason="too bitter")
    await approve(api, rid)
    await send_parcel(api, rid, "ZT7")
    at = "2030-01-01T08:00:00Z"
    answers = await asyncio.gather(*(event(api, "ZT7", "in_transit", "hub", at=at)
                                     for _ in range(3)))
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    assert sorted(r.json()["duplicate"] for r in answers) == [False, True, True]
    r = await case(api, f"/api/v1/returns/{rid}")
    assert [e["type"] for e in r["timeline"]].count("shipment_in_transit") == 1
