"""One decision per task (issue 14.1): from the moment a decision is accepted until the task is
done (or the decision refused), every other decision on that task gets 409 task_not_open. The
close activity is held open here so the second decision arrives in the window that used to
accept it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from temporalio import activity

from shopflow.activities.tasks import TaskActivities
from shopflow.providers import CourierSimulator, PaymentSimulator, Providers
from shopflow.workflows.shared import Act, TaskClose
from tests.helpers import complete, eventually, make_product, open_task
from tests.scenes import event, order, pay, place, ship
from tests.test_orders_process import inv, levels

pytestmark = pytest.mark.asyncio


class Gate:
    """Holds every task close until released, and says when one is waiting."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.opened = threading.Event()


@pytest.fixture(autouse=True)
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    g = Gate()
    original = TaskActivities.close

    @activity.defn(name=Act.TASK_CLOSE)
    def held_close(self, req: TaskClose) -> None:  # type: ignore[no-untyped-def]
        # (self unannotated: the SDK then leaves it out of the activity's argument types)
        if g.armed:
            g.entered.set()
            g.opened.wait(timeout=20)
        original(self, req)

    monkeypatch.setattr(TaskActivities, "close", held_close)
    yield g
    g.opened.set()


@pytest.fixture
def providers() -> Providers:
    return Providers(payments=PaymentSimulator(seed=7), courier=CourierSimulator(seed=7))


async def twice(api: httpx.AsyncClient, gate: Gate, task: dict[str, Any], decision: str,
                first: dict[str, Any], second: dict[str, Any]) -> tuple[httpx.Response,
                                                                         httpx.Response]:
    """The first decision is accepted and held in its close; the second arrives meanwhile."""
    gate.armed = True
    try:
        one = asyncio.create_task(complete(api, task, decision, **first))
        await eventually(gate.entered.is_set)
        assert gate.entered.is_set(), "the first decision never reached its close"
        two = asyncio.create_task(complete(api, task, decision, **second))
        await asyncio.wait([two], timeout=10)
    finally:
        gate.opened.set()
    return await one, await two


async def test_fulfil_decided_twice_books_one_parcel(api: httpx.AsyncClient, gate: Gate) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    task = await open_task(api, no, "order.fulfil")
    r1, r2 = await twice(api, gate, task, "shipped",
                         {"courier": "SF Express", "tracking_no": "SF1"},
                         {"courier": "SF Express", "tracking_no": "SF2"})
    assert r1.status_code == 200, r1.text
    assert r2.status_code == 409, r2.text
    assert r2.json()["error"]["code"] == "task_not_open"
    o = await order(api, no)
    assert [s["tracking_no"] for s in o["shipments"]] == ["SF1"]
    assert await levels(api, "TEA") == inv(8, 0)
    assert await levels(api, "CUP") == inv(4, 0)
    assert (await api.get("/api/v1/shipments/SF2", headers={"Authorization": "Bearer dev-ops"})
            ).status_code == 404


async def test_lost_parcel_reship_decided_twice_reserves_once(
        api: httpx.AsyncClient, gate: Gate) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    await ship(api, no, tracking="SF1")
    assert (await event(api, "SF1", "lost")).status_code == 201
    task = await open_task(api, no, "order.lost_parcel")
    r1, r2 = await twice(api, gate, task, "reship", {}, {})
    assert r1.status_code == 200, r1.text
    assert r2.status_code == 409, r2.text
    assert r2.json()["error"]["code"] == "task_not_open"
    # one reservation for the reshipment: 2 TEA and 1 CUP held, not twice that
    assert await levels(api, "TEA") == inv(8, 2)
    assert await levels(api, "CUP") == inv(4, 1)
    fulfil = await open_task(api, no, "order.fulfil")
    assert fulfil["context"]["round"] == 2
