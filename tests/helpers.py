"""Helpers for tests: auth headers, polling, and short cuts through the API."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from shopflow.api.app import bind_app, build_app
from shopflow.settings import Settings
from shopflow.temporal import SEARCH_ATTRIBUTES

T = TypeVar("T")


# A Temporal server may take a while to come up beside other tests on a busy 2-core machine;
# the SDK's default (5 s) failed parallel runs there.
SERVER_STARTUP = timedelta(seconds=60)
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"

# The apps built so far in this process, by their settings apart from those each test has of its
# own (build_app reads none of them), and those bound in the current test: see app_for.
PER_TEST_SETTINGS = {"database_url", "task_queue", "document_dir"}
_APPS: dict[str, list[FastAPI]] = {}
_BOUND: set[int] = set()


def app_for(settings: Settings, engine: Engine, client: Client | None = None) -> FastAPI:
    """What ``create_app(settings, engine=engine, client=client)`` gives, with the routes built
    once per process for each settings: FastAPI analyses every route of a new app (~0.5 s of
    CPU, a third of a typical test's), while the state of an app (services, database, Temporal
    client, the pages' signer, caches and templates) is all new for each test (bind_app). Two
    apps in one test are two apps (each test starts with none bound: release_apps)."""
    key = settings.model_dump_json(exclude=PER_TEST_SETTINGS)
    built = _APPS.setdefault(key, [])
    app = next((a for a in built if id(a) not in _BOUND), None)
    if app is None:
        app = build_app(settings)
        built.append(app)
    _BOUND.add(id(app))
    bind_app(app, settings, engine=engine, client=client)
    return app


def release_apps() -> None:
    """A new test: every app app_for built may be bound again."""
    _BOUND.clear()


async def start_dev_server(database_file: Path | None = None) -> WorkflowEnvironment:
    """The real Temporal dev server (real time; the `temporal` CLI beside the interpreter) on a
    free port, with Shopflow's search attributes; durable in ``database_file`` (WAL) if given."""
    extra: dict[str, Any] = {}
    if database_file is not None:
        extra = {"dev_server_database_filename": str(database_file),
                 "dev_server_extra_args": ["--sqlite-pragma", "journal_mode=wal"]}
    return await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(TEMPORAL_CLI),
        dev_server_startup_timeout=SERVER_STARTUP,
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
        **extra,
    )


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev-{role}"}


async def eventually(check: Callable[[], Awaitable[T] | T], timeout: float = 30.0,
                     interval: float = 0.05) -> T:
    """Poll until ``check`` returns a truthy value (real time), else fail with the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = check()
        if asyncio.iscoroutine(last) or isinstance(last, Awaitable):
            last = await last
        if last:
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")


async def make_product(api: httpx.AsyncClient, sku: str, stock: int = 100,
                       sample_limit: int = 5) -> None:
    r = await api.post("/api/v1/products", headers=auth("admin"),
                       json={"sku": sku, "name": f"Product {sku}", "sample_limit": sample_limit})
    assert r.status_code == 201, r.text
    if stock:
        r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                           json={"sku": sku, "quantity": stock, "note": "opening"})
        assert r.status_code == 201, r.text


async def stock(api: httpx.AsyncClient, sku: str) -> dict[str, int]:
    r = await api.get(f"/api/v1/inventory/{sku}", headers=auth("ops"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# A sample request's qualification document (seed 000 1.2): a small real PDF.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
       b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def upload_document(api: httpx.AsyncClient, sample_id: str, data: bytes = PDF,
                          name: str = "business-licence.pdf", role: str = "channel",
                          content_type: str = "application/pdf") -> httpx.Response:
    """POST /samples/{id}/documents (multipart), as a channel or customer service would."""
    return await api.post(f"/api/v1/samples/{sample_id}/documents", headers=auth(role),
                          files={"file": (name, data, content_type)})


async def open_task(api: httpx.AsyncClient, case_id: str, kind: str,
                    role: str = "ops") -> dict[str, Any]:
    """Wait for the open task of this kind on the case to appear in the inbox."""

    async def find() -> dict[str, Any] | None:
        r = await api.get("/api/v1/tasks", params={"case_id": case_id, "kind": kind},
                          headers=auth(role))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items[0] if items else None

    return await eventually(find)


async def complete(api: httpx.AsyncClient, task: dict[str, Any], decision: str,
                   role: str | None = None, **data: Any) -> httpx.Response:
    return await api.post(f"/api/v1/tasks/{task['id']}/complete",
                          headers=auth(role or task["role"]),
                          json={"decision": decision, "data": data})


async def case(api: httpx.AsyncClient, path: str) -> dict[str, Any]:
    r = await api.get(path, headers=auth("ops"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_case(api: httpx.AsyncClient, path: str,
                    check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        c = await case(api, path)
        return c if check(c) else None

    return await eventually(probe)


async def record_history(tenv: Any, workflow_id: str, name: str) -> None:
    """With SHOPFLOW_RECORD_HISTORIES=1, write the case's history for the replay tests."""
    import os
    from pathlib import Path

    if os.environ.get("SHOPFLOW_RECORD_HISTORIES") != "1":
        return
    history = await tenv.client.get_workflow_handle(workflow_id).fetch_history()
    # The file name carries the workflow id: replay needs it (task ids are derived from it).
    path = Path(__file__).parent / "histories" / f"{name}__{workflow_id}.json"
    path.write_text(history.to_json())


def form_token(case_view: dict[str, Any]) -> str:
    """The customer's feedback link secret, from the form url cs/ops see on the case (the case
    itself keeps only a ref and the link's hash)."""
    url = case_view["feedback"]["url"]
    assert "/feedback/" in url, url
    return url.rsplit("/", 1)[1]  # type: ignore[no-any-return]
