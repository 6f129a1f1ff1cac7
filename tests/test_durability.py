"""The real stack (the `temporal` dev server with its SQLite file, a worker, the API) stopped in
the middle of a case and started again: products, stock, tasks and the open case are all there,
and the case goes on where it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from shopflow.api.app import create_app
from shopflow.settings import Settings
from shopflow.worker import build_worker
from tests.helpers import (
    auth,
    complete,
    make_product,
    open_task,
    start_dev_server,
    stock,
    upload_document,
)

pytestmark = pytest.mark.slow


async def start_stack(db_file: Path) -> WorkflowEnvironment:
    return await start_dev_server(db_file)


async def test_restart_keeps_everything_and_the_case_goes_on(
        tmp_path: Path, settings: Settings, engine: Any) -> None:
    temporal_db = tmp_path / "temporal.db"
    body = {"customer": {"id": "c-dur", "name": "Chen", "phone": "13800000000",
                         "address": "1 Lake Rd"}, "channel": "phone",
            "items": [{"sku": "TEA", "quantity": 2}], "purpose": "restart drill"}

    env = await start_stack(temporal_db)
    try:
        app = create_app(settings, engine=engine, client=env.client)
        async with build_worker(env.client, settings, engine), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            await make_product(api, "TEA", stock=8, sample_limit=3)
            sid = (await api.post("/api/v1/samples", headers=auth("channel"),
                                  json=body)).json()["id"]
            assert (await upload_document(api, sid)).status_code == 201
            task = await open_task(api, sid, "sample.preliminary_review")
            assert (await complete(api, task, "approve")).status_code == 200
            await open_task(api, sid, "sample.review")
    finally:
        await env.shutdown()

    env = await start_stack(temporal_db)
    try:
        app = create_app(settings, engine=engine, client=env.client)
        async with build_worker(env.client, settings, engine), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            assert (await stock(api, "TEA"))["on_hand"] == 8
            review = await open_task(api, sid, "sample.review")
            r = await complete(api, review, "approve",
                               items=[{"sku": "TEA", "approved_quantity": 2}])
            assert r.status_code == 200, r.text
            assert (await stock(api, "TEA"))["reserved"] == 2
            await open_task(api, sid, "sample.dispatch")
            desc = await env.client.get_workflow_handle(f"sample-{sid}").describe()
            assert desc.search_attributes["ShopflowStage"] == ["dispatch"]
    finally:
        await env.shutdown()
