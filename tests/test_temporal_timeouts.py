"""A Temporal call that times out under load (an Update's RPC) answers 503 with Retry-After,
never a 500: the step may yet apply and a repeat is safe."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from shopflow.api.errors import install_error_handlers


async def test_an_update_that_timed_out_is_a_503() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/step")
    async def step() -> None:
        raise WorkflowUpdateRPCTimeoutOrCancelledError()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://t") as http:
        r = await http.post("/step")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert r.headers["Retry-After"]
