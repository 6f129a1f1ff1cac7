"""Waking backorders after a receipt is a workflow (``backorders-<receipt>``), not a loop inside
the HTTP request: a request cut off after booking the receipt leaves a wake-up that finishes."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import Engine
from temporalio.client import Client

from shopflow.services import inventory
from shopflow.settings import Settings
from shopflow.workflows.backorders import (
    BackorderSweepWorkflow,
    BackorderWakeWorkflow,
    wake_workflow_id,
)
from shopflow.workflows.shared import BackorderWake, SweepRun
from tests.helpers import make_product
from tests.scenes import order, place, wait_order


async def test_the_wake_up_workflow_serves_the_waiting_order_on_its_own(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Engine) -> None:
    await make_product(api, "TEA", stock=1)
    no = await place(api, order_no="BW-1", method="cod",
                     items=[{"sku": "TEA", "quantity": 3, "unit_price": 10}])
    await wait_order(api, no, "backordered")
    # The receipt is booked and the request stops there (no wake-up loop ran in it).
    _, waited_for = await asyncio.to_thread(inventory.book_receipt, engine, "TEA", 5, "PO-1",
                                            "wh", "receipt:cut-off")
    assert waited_for
    assert (await order(api, no))["status"] == "backordered"
    # The wake-up workflow started for that receipt runs without the request.
    handle = await client.start_workflow(
        BackorderWakeWorkflow.run, BackorderWake("TEA"), id=wake_workflow_id("receipt:cut-off"),
        task_queue=settings.task_queue)
    assert (await handle.result()).woken == 1
    o = await wait_order(api, no, "fulfilling")
    assert o["backorder"][0]["status"] == "released"
    # Started again for the same receipt: the order waits for nothing, nobody is woken twice.
    again = await inventory.start_backorder_wake(client, settings.task_queue, "TEA",
                                                 "receipt:cut-off")
    assert again == 1  # the first run's answer


async def test_a_receipt_through_the_api_wakes_by_workflow_and_answers_the_levels(
        api: httpx.AsyncClient, client: Client, settings: Settings) -> None:
    await make_product(api, "CUP", stock=0)
    no = await place(api, order_no="BW-2", method="cod",
                     items=[{"sku": "CUP", "quantity": 2, "unit_price": 5}])
    await wait_order(api, no, "backordered")
    from tests.helpers import auth

    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "CUP", "quantity": 2, "note": "PO-9"})
    assert r.status_code == 201, r.text
    assert (r.json()["on_hand"], r.json()["reserved"]) == (2, 2)
    await wait_order(api, no, "fulfilling")


async def test_a_receipt_whose_wake_up_was_lost_is_woken_by_the_sweep(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Engine) -> None:
    await make_product(api, "TEA", stock=1)
    no = await place(api, order_no="BW-3", method="cod",
                     items=[{"sku": "TEA", "quantity": 3, "unit_price": 10}])
    await wait_order(api, no, "backordered")
    # The receipt is booked, then the API dies before it starts the receipt's wake-up.
    _, waited_for = await asyncio.to_thread(inventory.book_receipt, engine, "TEA", 5, "PO-3",
                                            "wh", "receipt:lost")
    assert waited_for
    # The scheduled sweep finds cases waiting for stock that is there, and starts the newest
    # receipt's wake-up (by its id: once).
    swept = await client.execute_workflow(BackorderSweepWorkflow.run, SweepRun(),
                                          id="backorder-sweep-1", task_queue=settings.task_queue)
    assert swept.started == [wake_workflow_id("receipt:lost")]
    o = await wait_order(api, no, "fulfilling")
    assert o["backorder"][0]["status"] == "released"
    # Nothing waits any more: the next sweep starts nothing.
    again = await client.execute_workflow(BackorderSweepWorkflow.run, SweepRun(),
                                          id="backorder-sweep-2", task_queue=settings.task_queue)
    assert again.started == []
