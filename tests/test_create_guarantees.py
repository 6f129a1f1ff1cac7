"""Issue 14, points 4 and 5: a create is all or nothing (Temporal down: 503 and no row; database
down: 503 and no running case), and an Idempotency-Key is atomic (racing retries get one
resource and one answer, racing other bodies a 409), expires after its TTL, and case ids carry
96 random bits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from shopflow.api.app import create_app
from shopflow.api.idempotency import PENDING, TAKE_OVER_AFTER, purge_expired
from shopflow.db import make_engine, session_scope
from shopflow.models import (
    Case,
    Complaint,
    IdempotencyRecord,
    Order,
    OrderLine,
    Product,
    Return,
)
from shopflow.models.types import utcnow
from shopflow.services.returns import return_id_for
from shopflow.settings import Settings
from tests.helpers import auth, make_product

SAMPLE = {"customer": {"id": "c-1", "name": "Lin", "email": "lin@example.com",
                       "address": "1 Lake Rd"},
          "channel": "web", "items": [{"sku": "TEA", "quantity": 1}], "purpose": "tasting"}
COMPLAINT = {"customer": {"id": "c-1", "name": "Lin", "email": "lin@example.com"},
             "category": "service", "description": "rude on the phone", "channel": "phone"}


def order(no: str | None = "SO-G-1", quantity: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "web", "customer": {"id": "c-1", "name": "Lin", "phone": "138"},
        "items": [{"sku": "TEA", "quantity": quantity, "unit_price": "10.00"}],
        "shipping_address": "1 Tea Rd", "payment_method": "cod"}
    if no:
        body["order_no"] = no
    return body


def count(engine: Engine, model: Any, *where: Any) -> int:
    with session_scope(engine, write=False) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def seed_product(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Product(sku="TEA", name="Tea", sample_limit=5))


class RecordingClient:
    """Stands in for Temporal: records every start (none may happen when the database is down)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_workflow(self, *_: Any, id: str, **__: Any) -> None:
        self.started.append(id)


# --- all or nothing ------------------------------------------------------------------------

@pytest.fixture
async def down_temporal(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a Temporal that refuses connections (nothing listens on port 1)."""
    client = await Client.connect("127.0.0.1:1", lazy=True,
                                  data_converter=pydantic_data_converter)
    seed_product(engine)
    app = create_app(settings, engine=engine, client=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        yield http


@pytest.mark.parametrize("key", [None, "k-down"])
async def test_temporal_down_creates_nothing(down_temporal: httpx.AsyncClient, engine: Engine,
                                             key: str | None) -> None:
    headers = {**auth("channel"), **({"Idempotency-Key": key} if key else {})}
    for path, body in (("/api/v1/orders", order()), ("/api/v1/orders", order(None)),
                       ("/api/v1/samples", SAMPLE), ("/api/v1/complaints", COMPLAINT)):
        r = await down_temporal.post(path, json=body, headers=headers)
        assert r.status_code == 503, (path, r.text)
        assert r.headers["Retry-After"]
        assert r.json()["error"]["code"] == "unavailable"
    assert count(engine, Order) == 0
    assert count(engine, OrderLine) == 0
    assert count(engine, Case) == 0
    assert count(engine, Complaint) == 0
    # The claims were given back: the same keys work once Temporal is back.
    assert count(engine, IdempotencyRecord) == 0


async def test_temporal_down_a_return_leaves_no_return(down_temporal: httpx.AsyncClient,
                                                     engine: Engine) -> None:
    """A return of a delivered order, Temporal down: 503, and neither return nor case."""
    with session_scope(engine) as session:
        session.add(Order(order_no="SO-R-1", customer_id="c-1", status="completed",
                          total_cents=2000, created_at=utcnow(), workflow_id="order-SO-R-1",
                          payment_method="cod", delivered_at=utcnow()))
        session.flush()
        session.add(OrderLine(order_no="SO-R-1", line_no=1, sku="TEA", name="Tea", quantity=2,
                              unit_price_cents=1000, amount_cents=2000))
    for key in (None, "k-return"):
        r = await down_temporal.post("/api/v1/returns", headers={
            **auth("channel"), **({"Idempotency-Key": key} if key else {})}, json={
            "order_no": "SO-R-1", "items": [{"sku": "TEA", "quantity": 1}], "kind": "refund",
            "reason": "too strong", "quality_issue": False})
        assert r.status_code == 503, r.text
    assert count(engine, Return) == 0
    assert count(engine, Case) == 0
    assert count(engine, IdempotencyRecord) == 0


async def test_temporal_down_the_new_order_form_leaves_no_order(
        down_temporal: httpx.AsyncClient, engine: Engine) -> None:
    """The web form takes orders through the same intake as POST /orders, and the same all or
    nothing: Temporal down, the form answers 503 with the order as typed, and no row is left."""
    from tests.test_ui_pages import ORDER_FORM, post_form, sign_in

    assert (await sign_in(down_temporal, "dev-channel")).status_code == 303
    for form in ({**ORDER_FORM, "order_no": "FORM-1"}, ORDER_FORM):  # given and allocated no.
        r = await post_form(down_temporal, "/ui/orders/new", "/ui/orders/new", form)
        assert r.status_code == 503, r.text
        assert "Temporal is unreachable" in r.text and 'value="1 West Lake Rd"' in r.text
    assert count(engine, Order) == 0
    assert count(engine, OrderLine) == 0
    assert count(engine, Case) == 0
    assert count(engine, IdempotencyRecord) == 0


@pytest.fixture
def locked_db(engine: Engine, settings: Settings) -> Iterator[tuple[Engine, sqlite3.Connection]]:
    """A second writer holds SQLite's write lock: reads go on (WAL), writes fail fast."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the write lock of another writer is SQLite's")
    seed_product(engine)
    short = make_engine(settings.database_url, busy_timeout=0.2)
    holder = sqlite3.connect(engine.url.database or "", isolation_level=None)
    yield short, holder
    holder.close()
    short.dispose()


@pytest.mark.parametrize("path,body", [("/api/v1/samples", SAMPLE),
                                       ("/api/v1/complaints", COMPLAINT)])
@pytest.mark.parametrize("key", [None, "k-db-down"])
async def test_database_down_starts_no_case(locked_db: tuple[Engine, sqlite3.Connection],
                                            settings: Settings, path: str, body: dict[str, Any],
                                            key: str | None) -> None:
    short, holder = locked_db
    fake = RecordingClient()
    app = create_app(settings, engine=short, client=fake)  # type: ignore[arg-type]
    headers = {**auth("channel"), **({"Idempotency-Key": key} if key else {})}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        holder.execute("BEGIN IMMEDIATE")
        r = await http.post(path, json=body, headers=headers)
        holder.execute("ROLLBACK")
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"]
        assert fake.started == []  # nothing runs that the database does not know
        # Up again: the same request creates the case once, and it is there.
        r = await http.post(path, json=body, headers=headers)
        assert r.status_code == 201, r.text
        assert fake.started == [r.json()["workflow_id"]]
    assert count(short, Case) == 1


# --- idempotency ---------------------------------------------------------------------------

async def test_racing_retries_get_one_order_and_one_answer(api: httpx.AsyncClient,
                                                            engine: Engine) -> None:
    await make_product(api, "TEA")
    headers = {**auth("channel"), "Idempotency-Key": "race-1"}
    answers = await asyncio.gather(*[api.post("/api/v1/orders", json=order(None), headers=headers)
                                     for _ in range(6)])
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.text for r in answers}) == 1
    assert count(engine, Order) == 1


async def test_racing_other_bodies_under_one_key_get_409(api: httpx.AsyncClient,
                                                        engine: Engine) -> None:
    await make_product(api, "TEA")
    headers = {**auth("channel"), "Idempotency-Key": "race-2"}
    bodies = [{**SAMPLE, "purpose": f"purpose {i}"} for i in range(4)]
    answers = await asyncio.gather(*[api.post("/api/v1/samples", json=b, headers=headers)
                                     for b in bodies])
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409, 409, 409], [r.text for r in answers]
    assert all(r.json()["error"]["code"] == "idempotency_key_reused"
               for r in answers if r.status_code == 409)
    assert count(engine, Case, Case.kind == "sample") == 1


async def test_a_claim_left_by_a_dead_request_is_taken_over(api: httpx.AsyncClient,
                                                           engine: Engine) -> None:
    """The API process died between claiming the key and answering: the retry finishes the
    job (one order), instead of waiting forever or answering 409."""
    from shopflow.api.idempotency import body_hash
    from shopflow.models.order_schemas import OrderCreate

    await make_product(api, "TEA")
    body = order("SO-G-DEAD")
    digest = body_hash(OrderCreate.model_validate(body).model_dump(mode="json"))
    with session_scope(engine) as session:
        session.add(IdempotencyRecord(
            scope="POST /orders|dev-channel", key="dead-1", request_hash=digest,
            status_code=PENDING, response={}, created_at=utcnow() - TAKE_OVER_AFTER * 2))
    r = await api.post("/api/v1/orders", json=body,
                       headers={**auth("channel"), "Idempotency-Key": "dead-1"})
    assert r.status_code == 201, r.text
    again = await api.post("/api/v1/orders", json=body,
                           headers={**auth("channel"), "Idempotency-Key": "dead-1"})
    assert (again.status_code, again.json()) == (201, r.json())
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count(engine, Order) == 1


TTL = 5  # seconds: well above two requests' time on a loaded machine


@pytest.fixture
def short_ttl(settings: Settings) -> None:
    settings.idempotency_ttl = timedelta(seconds=TTL)  # before the app is built from them


async def test_keys_expire_after_the_ttl_and_are_purged(short_ttl: None, api: httpx.AsyncClient,
                                                       engine: Engine) -> None:
    await make_product(api, "TEA")
    headers = {**auth("channel"), "Idempotency-Key": "ttl-1"}
    first = await api.post("/api/v1/samples", json=SAMPLE, headers=headers)
    assert first.status_code == 201
    other = {**SAMPLE, "purpose": "another"}
    assert (await api.post("/api/v1/samples", json=other, headers=headers)).status_code == 409
    await asyncio.sleep(TTL + 0.2)
    # Expired: the key is free again (a new request, not a replay of the old one).
    again = await api.post("/api/v1/samples", json=other, headers=headers)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    await asyncio.sleep(TTL + 0.2)
    assert count(engine, IdempotencyRecord) == 1
    assert purge_expired(engine, timedelta(seconds=TTL)) == 1
    assert count(engine, IdempotencyRecord) == 0


async def test_case_ids_carry_96_random_bits(api: httpx.AsyncClient) -> None:
    await make_product(api, "TEA")
    ids = []
    for key in (None, "bits-1"):
        headers = {**auth("channel"), **({"Idempotency-Key": key} if key else {})}
        s = await api.post("/api/v1/samples", json=SAMPLE, headers=headers)
        c = await api.post("/api/v1/complaints", json=COMPLAINT, headers=headers)
        assert s.status_code == c.status_code == 201, (s.text, c.text)
        ids += [s.json()["id"], c.json()["id"].removeprefix("CP")]
        assert c.json()["id"].startswith("CP")
    ids.append(return_id_for("any seed").removeprefix("RT-"))
    for case_id in ids:
        assert len(case_id) >= 24 and int(case_id, 16) >= 0, case_id  # 24 hex digits = 96 bits
