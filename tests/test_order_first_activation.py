"""A payment that reaches an order in its first activation, together with the start (a channel
places and pays at once while the worker is busy): the order takes its input in
``@workflow.init``, so the payment's validator checks it against the real total. Before, the
validator ran on an order whose total was still 0 and refused it as ``already_paid``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from shopflow.models.order_schemas import OrderCreate
from shopflow.providers import Providers
from shopflow.services import orders
from shopflow.settings import Settings
from shopflow.worker import build_worker
from shopflow.workflows.order_fulfilment import OrderFulfilment, PaymentInput
from tests.scenes import TOTAL, order_body

pytestmark = pytest.mark.asyncio


async def test_a_payment_in_the_first_activation_is_checked_against_the_order_total(
        api: httpx.AsyncClient, catalogue: None, client: Client, settings: Settings,
        engine: Engine, providers: Providers) -> None:
    # The order runs on a task queue no worker polls yet: its start and the payment wait at
    # the server and reach the worker as one activation.
    own = settings.model_copy(update={"task_queue": f"{settings.task_queue}-first"})
    body = OrderCreate.model_validate(order_body("WEB-FIRST-1"))
    _, order, lines = orders.intake(engine, body, None, lambda no: f"digest-{no}", "dev-channel")
    assert await orders.start_order(client, own, order, lines)
    handle = client.get_workflow_handle_for(OrderFulfilment.run, order.workflow_id)
    cents = round(TOTAL * 100)
    paying = asyncio.create_task(handle.execute_update(
        OrderFulfilment.record_payment, PaymentInput("TX-FIRST-1", cents, "dev-channel")))
    await asyncio.sleep(1)  # the Update reaches the server before any worker polls
    async with build_worker(client, own, engine, providers=providers):
        answer: dict[str, Any] = await asyncio.wait_for(paying, 60)
    assert answer["duplicate"] is False and answer["transaction_id"] == "TX-FIRST-1"

    # It was the first activation: the Update was accepted by the order's first workflow task.
    events = [e async for e in handle.fetch_history_events()]
    first_task = next(e for e in events
                      if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    accepted = next(e for e in events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert accepted.event_id == first_task.event_id + 1
