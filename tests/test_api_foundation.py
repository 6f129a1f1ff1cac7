"""The contract's cross-cutting rules: auth on every route, one error format, bad input answered
with a clear 4xx and nothing written, idempotency keys, 503 when a dependency is down."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from shopflow.api.app import create_app
from shopflow.api.auth import create_token
from shopflow.models import Case, InventoryItem, StockMovement
from shopflow.settings import Settings
from tests.helpers import auth, make_product, open_task, stock

SAMPLE = {
    "customer": {"id": "cust-9", "name": "Zhang San", "email": "z@example.com",
                 "address": "9 West Lake Rd, Hangzhou"},
    "channel": "email",
    "items": [{"sku": "TEA", "quantity": 1}],
    "purpose": "quality check",
}


def count(engine: Any, model: Any) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def protected_routes(app_openapi: dict[str, Any]) -> list[tuple[str, str]]:
    routes = []
    for path, ops in app_openapi["paths"].items():
        if not path.startswith("/api/v1") or path.startswith(("/api/v1/feedback",
                                                              "/api/v1/status")):
            continue
        for method in ops:
            routes.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return routes


async def test_every_api_route_needs_a_valid_bearer_token(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    routes = protected_routes(spec)
    assert len(routes) >= 15
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                        {"Authorization": "Bearer"}):
            r = await api.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["error"]["code"] == "unauthorized"


async def test_roles_are_enforced(api: httpx.AsyncClient) -> None:
    cases = [
        ("POST", "/api/v1/products", "cs", {"sku": "A", "name": "A"}),
        ("POST", "/api/v1/inventory/receipts", "channel", {"sku": "A", "quantity": 1}),
        ("POST", "/api/v1/samples", "warehouse", SAMPLE),
        ("POST", "/api/v1/samples/x/cancel", "channel", {}),
        ("POST", "/api/v1/samples/x/info", "reviewer", {"text": "hi"}),
        ("PUT", "/api/v1/customers/c1", "warehouse", {"name": "x"}),
        ("GET", "/api/v1/customers/c1", "channel", None),
    ]
    for method, path, role, body in cases:
        r = await api.request(method, path, headers=auth(role), json=body)
        assert r.status_code == 403, (method, path, role, r.text)
        err = r.json()["error"]
        assert err["code"] == "forbidden" and "admin" in err["details"]["allowed_roles"]


async def test_dev_tokens_only_exist_in_dev(settings: Settings, engine: Any, client: Any) -> None:
    prod = create_app(settings.model_copy(update={"env": "prod"}), engine=engine, client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=prod),
                                 base_url="http://t") as http:
        r = await http.get("/api/v1/products", headers=auth("admin"))
        assert r.status_code == 401
        token = create_token(engine, "admin", "alice")
        r = await http.get("/api/v1/products", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        r = await http.post("/api/v1/products", headers={"Authorization": f"Bearer {token}"},
                            json={"sku": "P-1", "name": "Pot"})
        assert r.status_code == 201
    with pytest.raises(ValueError):
        create_token(engine, "wizard", "bob")


async def test_bad_input_is_a_clear_422_and_writes_nothing(
        api: httpx.AsyncClient, engine: Any) -> None:
    await make_product(api, "TEA", stock=5, sample_limit=2)
    before = count(engine, Case)
    bad_bodies = [
        ({**SAMPLE, "surprise": 1}, "invalid_input"),                       # unknown field
        ({**SAMPLE, "items": []}, "invalid_input"),                         # no items
        ({**SAMPLE, "items": [{"sku": "TEA", "quantity": -1}]}, "invalid_input"),
        ({**SAMPLE, "items": [{"sku": "TEA", "quantity": "two"}]}, "invalid_input"),
        ({**SAMPLE, "items": [{"sku": "NOPE", "quantity": 1}]}, "unknown_sku"),
        ({**SAMPLE, "items": [{"sku": "TEA", "quantity": 3}]}, "quantity_above_sample_limit"),
        ({**SAMPLE, "channel": "fax"}, "invalid_input"),
        ({**SAMPLE, "customer": {**SAMPLE["customer"], "address": " "}}, "missing_field"),
        ({**SAMPLE, "items": [{"sku": "TEA", "quantity": 1}, {"sku": "TEA", "quantity": 1}]},
         "duplicate_sku"),
    ]
    for body, code in bad_bodies:
        r = await api.post("/api/v1/samples", headers=auth("channel"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"]
    r = await api.post("/api/v1/samples", headers={**auth("channel"),
                       "Content-Type": "application/json"}, content=b"{not json")
    assert r.status_code == 422
    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "TEA", "quantity": 0})
    assert r.status_code == 422
    r = await api.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                       json={"sku": "GHOST", "quantity": 3})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_sku"
    r = await api.post("/api/v1/products", headers=auth("admin"),
                       json={"sku": "bad sku!", "name": "x"})
    assert r.status_code == 422
    r = await api.get("/api/v1/samples?page=0", headers=auth("ops"))
    assert r.status_code == 422
    assert count(engine, Case) == before
    assert (await stock(api, "TEA"))["on_hand"] == 5


async def test_oversized_body_is_413(api: httpx.AsyncClient, engine: Any) -> None:
    big = {**SAMPLE, "purpose": "x" * (1024 * 1024 + 10)}
    r = await api.post("/api/v1/samples", headers=auth("channel"), json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert count(engine, Case) == 0


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    for path, role in [("/api/v1/samples/nope", "ops"), ("/api/v1/tasks/nope", "ops"),
                       ("/api/v1/inventory/NOPE", "ops"), ("/api/v1/customers/nope", "cs"),
                       ("/api/v1/samples/nope/dossier", "ops")]:
        r = await api.get(path, headers=auth(role))
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    for path, role, body in [("/api/v1/samples/nope/cancel", "cs", {}),
                             ("/api/v1/samples/nope/info", "cs", {"text": "x"}),
                             ("/api/v1/tasks/nope/complete", "cs", {"decision": "approve"}),
                             ("/api/v1/tasks/nope/claim", "cs", None)]:
        r = await api.post(path, headers=auth(role), json=body)
        assert r.status_code == 404, path
    r = await api.post("/api/v1/feedback/nope", json={"satisfaction": 3})
    assert r.status_code == 404
    assert (await api.get("/feedback/nope")).status_code == 404


async def test_idempotency_key_replays_the_first_answer(
        api: httpx.AsyncClient, engine: Any) -> None:
    await make_product(api, "TEA", stock=5, sample_limit=2)
    headers = {**auth("channel"), "Idempotency-Key": "req-1"}
    first = await api.post("/api/v1/samples", headers=headers, json=SAMPLE)
    again = await api.post("/api/v1/samples", headers=headers, json=SAMPLE)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert count(engine, Case) == 1
    other = await api.post("/api/v1/samples", headers=headers,
                           json={**SAMPLE, "purpose": "something else"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    receipt = {**auth("warehouse"), "Idempotency-Key": "rcpt-7"}
    for _ in range(3):
        r = await api.post("/api/v1/inventory/receipts", headers=receipt,
                           json={"sku": "TEA", "quantity": 4, "note": "pallet 7"})
        assert r.status_code == 201
    assert (await stock(api, "TEA"))["on_hand"] == 9
    assert count(engine, StockMovement) == 2  # the opening receipt and pallet 7, once


async def test_products_catalogue(api: httpx.AsyncClient) -> None:
    for i in range(3):
        await make_product(api, f"SKU-{i}", stock=0)
    dup = await api.post("/api/v1/products", headers=auth("admin"),
                         json={"sku": "SKU-1", "name": "renamed"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "sku_exists"
    page = (await api.get("/api/v1/products?page=2&page_size=2", headers=auth("cs"))).json()
    assert page["total"] == 3 and page["page"] == 2 and page["page_size"] == 2
    assert [p["sku"] for p in page["items"]] == ["SKU-2"]
    assert await stock(api, "SKU-0") == {"sku": "SKU-0", "on_hand": 0, "reserved": 0,
                                         "available": 0, "damaged": 0}


async def test_customer_profiles(api: httpx.AsyncClient) -> None:
    r = await api.put("/api/v1/customers/c-77", headers=auth("cs"),
                      json={"name": "Wang Fang", "email": "wf@example.com", "locale": "en",
                            "tags": ["key_account"], "credit_rating": "A",
                            "birthday": "1990-03-14"})
    assert r.status_code == 200, r.text
    c = (await api.get("/api/v1/customers/c-77", headers=auth("finance"))).json()
    assert c["credit_rating"] == "A" and c["tags"] == ["key_account"] and c["locale"] == "en"
    assert c["birthday"] == "1990-03-14"
    assert c["purchase_history"] == {"orders_count": 0, "orders_value": 0.0}
    for body in ({"credit_rating": "Z"}, {"locale": "fr"}, {"email": "not-an-email"},
                 {"tags": ["Bad Tag"]}, {"nickname": "x"}):
        r = await api.put("/api/v1/customers/c-77", headers=auth("cs"), json=body)
        assert r.status_code == 422, body
    r = await api.put("/api/v1/customers/c-77", headers=auth("finance"),
                      json={"credit_rating": "C"})
    c = r.json()
    assert c["credit_rating"] == "C" and c["name"] == "Wang Fang"


async def test_task_claim_and_release(api: httpx.AsyncClient) -> None:
    await make_product(api, "TEA", stock=5, sample_limit=2)
    sid = (await api.post("/api/v1/samples", headers=auth("channel"), json=SAMPLE)).json()["id"]
    task = await open_task(api, sid, "sample.preliminary_review", role="cs")
    url = f"/api/v1/tasks/{task['id']}"
    assert (await api.post(f"{url}/claim", headers=auth("reviewer"))).status_code == 403
    r = await api.post(f"{url}/claim", headers={"Authorization": "Bearer dev-cs"})
    assert r.status_code == 200 and r.json()["status"] == "claimed"
    assert r.json()["assignee"] == "dev-cs"
    # someone else of the same role
    from shopflow.api.auth import create_token
    other = {"Authorization": f"Bearer {create_token(api_engine(api), 'cs', 'mei')}"}
    r = await api.post(f"{url}/claim", headers=other)
    assert r.status_code == 409 and r.json()["error"]["code"] == "claimed_by_other"
    r = await api.post(f"{url}/complete", headers=other, json={"decision": "approve"})
    assert r.status_code == 409
    assert (await api.post(f"{url}/release", headers=other)).status_code == 409
    assert (await api.post(f"{url}/release", headers=auth("cs"))).json()["status"] == "open"
    r = await api.post(f"{url}/complete", headers=other, json={"decision": "maybe"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_decision"
    r = await api.post(f"{url}/complete", headers=other, json={"decision": "approve"})
    assert r.status_code == 200
    done = await api.post(f"{url}/complete", headers=other, json={"decision": "approve"})
    assert done.status_code == 409 and done.json()["error"]["code"] == "task_not_open"
    assert (await api.post(f"{url}/claim", headers=other)).status_code == 409
    listed = (await api.get("/api/v1/tasks?status=done", headers=auth("cs"))).json()
    assert [t["id"] for t in listed["items"]] == [task["id"]]
    assert listed["items"][0]["completed_by"] == "mei"


def api_engine(api: httpx.AsyncClient) -> Any:
    return api._transport.app.state.services.engine  # type: ignore[attr-defined]


async def test_temporal_unreachable_is_503_and_nothing_half_done(
        settings: Settings, engine: Any) -> None:
    from shopflow.temporal import connect

    dead = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    client = await connect(dead, lazy=True)
    app = create_app(dead, engine=engine, client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        await make_product(http, "TEA", stock=5, sample_limit=2)
        r = await http.post("/api/v1/samples", headers=auth("channel"), json=SAMPLE)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] and r.json()["error"]["code"] == "unavailable"
        assert count(engine, Case) == 0
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"


async def test_database_unreachable_is_503(settings: Settings, client: Any) -> None:
    from shopflow.db import make_engine

    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    app = create_app(settings, engine=broken, client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        r = await http.get("/api/v1/products", headers=auth("ops"))
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200


async def test_metrics_and_openapi(api: httpx.AsyncClient) -> None:
    await make_product(api, "TEA", stock=5, sample_limit=2)
    await api.post("/api/v1/samples", headers=auth("channel"), json=SAMPLE)
    await api.get("/api/v1/products", headers=auth("ops"))
    text = (await api.get("/metrics")).text
    assert 'shopflow_http_requests_total{method="GET",route="/api/v1/products",status="200"}' in text
    assert 'shopflow_workflows_started_total{kind="sample"}' in text
    assert "shopflow_tasks_open" in text
    spec = (await api.get("/openapi.json")).json()
    assert "/api/v1/tasks/{task_id}/complete" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_sqlite_takes_two_writers_at_once(engine: Any) -> None:
    """The API and the worker write one SQLite file from separate processes or threads."""
    import threading

    from shopflow.db import insert_ignore, session_scope
    from shopflow.models import Product
    from shopflow.models.types import utcnow
    from shopflow.services.inventory import receive

    with session_scope(engine) as s:
        insert_ignore(s, Product.__table__, [{"sku": "W", "name": "w", "sample_limit": 0,
                                             "created_at": utcnow()}],
                      ["sku"])
    errors: list[Exception] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with session_scope(engine) as s:
                    receive(s, "W", 1, "", "t", f"w{n}-{i}")
        except Exception as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as s:
        assert s.get(InventoryItem, "W").on_hand == 100  # type: ignore[union-attr]


async def test_a_repeated_stock_receipt_key_books_once(engine: Any) -> None:
    """insert_ignore must count what it inserted on every database (psycopg says -1)."""
    from shopflow.db import insert_ignore, session_scope
    from shopflow.models import Product
    from shopflow.services.inventory import receive

    with session_scope(engine) as s:
        assert insert_ignore(s, Product.__table__, [{"sku": "R", "name": "r"}], ["sku"]) == 1
        assert insert_ignore(s, Product.__table__, [{"sku": "R", "name": "r"}], ["sku"]) == 0
    for _ in range(3):
        with session_scope(engine) as s:
            receive(s, "R", 5, "pallet", "t", "receipt:same-key")
    with Session(engine) as s:
        assert s.get(InventoryItem, "R").on_hand == 5  # type: ignore[union-attr]
