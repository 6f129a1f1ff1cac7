"""Issue 16 point 8: every change to a customer profile, a token, a product or a task's
assignment is audited (actor, time, before, after) and readable by ops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.db import session_scope
from shopflow.models import Task
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from tests.helpers import app_for, auth


@pytest.fixture
async def http(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(settings, engine)),
                                 base_url="http://shop.test") as c:
        yield c


async def trail(http: httpx.AsyncClient, entity: str, id_: str) -> list[dict]:  # type: ignore[type-arg]
    r = await http.get("/api/v1/audit", params={"entity": entity, "id": id_}, headers=auth("ops"))
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_customer_profile_changes_are_audited(http: httpx.AsyncClient) -> None:
    r = await http.put("/api/v1/customers/C-1", headers=auth("cs"),
                       json={"name": "Li Lei", "email": "li@example.com"})
    assert r.status_code == 200, r.text
    r = await http.put("/api/v1/customers/C-1", headers=auth("finance"), json={"credit_rating": "A"})
    assert r.status_code == 200, r.text
    newest, first = await trail(http, "customer", "C-1")
    assert (first["action"], first["actor"], first["before"]) == ("created", "dev-cs", None)
    assert first["after"]["email"] == "li@example.com"
    assert (newest["action"], newest["actor"]) == ("updated", "dev-finance")
    assert newest["before"]["credit_rating"] is None and newest["after"]["credit_rating"] == "A"
    assert newest["at"] >= first["at"]
    # Only ops (and admin) read the trail.
    r = await http.get("/api/v1/audit", params={"entity": "customer"}, headers=auth("cs"))
    assert r.status_code == 403
    r = await http.get("/api/v1/audit", params={"entity": "nonsense"}, headers=auth("ops"))
    assert r.status_code == 422


async def test_task_assignment_changes_are_audited(http: httpx.AsyncClient,
                                                   engine: Engine) -> None:
    with session_scope(engine) as s:
        s.add(Task(id="t-9", kind="sample.review", role="reviewer", status="open", case_id="s-9",
                   case_kind="sample", workflow_id="sample-s-9",
                   due_at=utcnow() + timedelta(hours=5)))
    assert (await http.post("/api/v1/tasks/t-9/claim", headers=auth("reviewer"))).status_code == 200
    # Claiming again as the holder changes nothing: nothing audited.
    assert (await http.post("/api/v1/tasks/t-9/claim", headers=auth("reviewer"))).status_code == 200
    assert (await http.post("/api/v1/tasks/t-9/release", headers=auth("reviewer"))).status_code == 200
    released, claimed = await trail(http, "task", "t-9")
    assert claimed["action"] == "claimed" and claimed["actor"] == "dev-reviewer"
    assert claimed["before"]["assignee"] is None and claimed["after"]["assignee"] == "dev-reviewer"
    assert released["action"] == "released" and released["after"]["assignee"] is None


async def test_product_creation_is_audited(http: httpx.AsyncClient) -> None:
    body = {"sku": "TEA-9", "name": "Tea", "sample_limit": 3}
    assert (await http.post("/api/v1/products", headers=auth("admin"), json=body)).status_code == 201
    assert (await http.post("/api/v1/products", headers=auth("admin"), json=body)).status_code == 201
    (created,) = await trail(http, "product", "TEA-9")
    assert created["actor"] == "dev-admin" and created["after"]["sample_limit"] == 3
