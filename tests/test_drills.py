"""Issue 14 drills against the real stack (Temporal dev server, `shopflow worker`, `shopflow api`
as processes, one SQLite database): cause the fault mid-step, recover, and check that every case
reaches its end, nothing was done twice (one order row and one workflow per order, one payment
per transaction, each reservation settled once, each notice once) and stock balances
(on_hand = received - shipped - damaged; reserved = the open reservations)."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from shopflow.db import make_engine, session_scope
from shopflow.models import InventoryItem, Notice, Order, Payment, Reservation, StockMovement
from tests.stack import Stack

T = TypeVar("T")
SKU = "DRILL"


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev-{role}"}


def eventually(check: Callable[[], T | None], timeout: float = 120.0, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as err:
            last = err
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"not reached in {timeout} s; last: {last!r}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(Path(tmp_path_factory.mktemp("drills")), env={
        "SHOPFLOW_DATABASE_BUSY_TIMEOUT": "4",  # < the 10 s outage of the database drill
        "SHOPFLOW_PAYMENT_SIM_LATENCY": "2",  # a payment's side effect takes ~2 s
        "SHOPFLOW_NOTICE_SEND_TIMEOUT": "10",
        "SHOPFLOW_FEEDBACK_DELAY": "P30D",
    })
    try:
        s.start()
        with s.client() as http:
            r = http.post("/api/v1/products", headers=auth("admin"),
                          json={"sku": SKU, "name": "Drill tea", "sample_limit": 5})
            assert r.status_code == 201, r.text
            r = http.post("/api/v1/inventory/receipts", headers=auth("warehouse"),
                          json={"sku": SKU, "quantity": 500, "note": "drill"})
            assert r.status_code == 201, r.text
        yield s
    finally:
        s.stop_all()


def order_body(no: str, method: str = "cod") -> dict[str, Any]:
    return {"order_no": no, "channel": "web",
            "customer": {"id": f"c-{no}", "name": "Drill", "phone": "13800000000"},
            "items": [{"sku": SKU, "quantity": 2, "unit_price": "10.00"}],
            "shipping_address": "1 Drill Road, Hangzhou", "payment_method": method}


def retried(r: httpx.Response) -> httpx.Response | None:
    """A client's answer, or None to try again: 503 is an outage that says when to retry."""
    if r.status_code == 503:
        assert r.headers.get("Retry-After"), r.text
        return None
    return r


def fulfil_and_deliver(http: httpx.Client, no: str) -> None:
    """The warehouse ships the order, the courier delivers it: the order completes."""
    def task() -> dict[str, Any] | None:
        r = http.get("/api/v1/tasks", params={"case_id": no, "kind": "order.fulfil"},
                     headers=auth("warehouse"))
        items = r.json()["items"] if r.status_code == 200 else []
        return items[0] if items else None

    t = eventually(task)
    r = eventually(lambda: (lambda a: a if a.status_code in (200, 409) else None)(http.post(
        f"/api/v1/tasks/{t['id']}/complete", headers=auth("warehouse"),
        json={"decision": "shipped", "data": {"courier": "SF", "tracking_no": f"T{no}"}})))
    assert r.status_code == 200 or r.json()["error"]["code"] in ("task_not_open", "task_done"), r.text
    eventually(lambda: http.post(f"/api/v1/shipments/T{no}/events", headers=auth("warehouse"),
                                 json={"type": "delivered"}).status_code in (200, 201))
    eventually(lambda: http.get(f"/api/v1/orders/{no}", headers=auth("ops")).json()
               .get("status") == "completed")


def check_books(stack: Stack, order_nos: list[str]) -> None:
    engine = make_engine(stack.database_url)
    try:
        with session_scope(engine, write=False) as session:
            orders = session.exec(select(Order).where(col(Order.order_no).in_(order_nos))).all()
            assert sorted(o.order_no for o in orders) == sorted(order_nos)  # none lost
            assert {o.status for o in orders} == {"completed"}
            for o in orders:
                payments = session.exec(select(Payment).where(Payment.order_no == o.order_no)).all()
                assert len(payments) == 1, (o.order_no, payments)  # paid once
                assert round(o.paid_amount * 100) == round(o.total * 100)
            item = session.get(InventoryItem, SKU)
            assert item is not None
            moves = session.exec(select(StockMovement).where(StockMovement.sku == SKU)).all()
            received = sum(m.on_hand_delta for m in moves if m.reason == "receipt")
            shipped = -sum(m.on_hand_delta for m in moves if m.reason == "consumed")
            assert item.on_hand == received - shipped - item.damaged
            held = session.exec(select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                Reservation.sku == SKU, Reservation.status == "held")).one()
            assert item.reserved == held
            assert min(item.on_hand, item.reserved, item.damaged) >= 0
            settled = session.exec(select(StockMovement.dedup_key)).all()
            assert len(settled) == len(set(settled))  # each reserve/consume/release once
            keys = session.exec(select(Notice.dedup_key)).all()
            assert len(keys) == len(set(keys))  # each notice once
    finally:
        engine.dispose()


def count_workflows(stack: Stack, order_nos: list[str]) -> int:
    import asyncio

    from bench.load import count_workflows as count

    return asyncio.run(count(stack.env["SHOPFLOW_TEMPORAL_ADDRESS"], order_nos))


# --- the drills ----------------------------------------------------------------------------

def test_drill_api_killed_mid_request_the_retry_gets_one_resource(stack: Stack) -> None:
    run = uuid.uuid4().hex[:4]
    nos = [f"DA-{run}-{i}" for i in range(12)]
    answers: dict[str, int] = {}

    def send(no: str) -> None:
        try:
            with stack.client(timeout=30) as http:
                answers[no] = http.post("/api/v1/orders", json=order_body(no),
                                        headers={**auth("channel"), "Idempotency-Key": no}
                                        ).status_code
        except httpx.HTTPError:
            answers[no] = 0  # the connection died with the API

    threads = [threading.Thread(target=send, args=(no,)) for no in nos]
    for t in threads:
        t.start()
    time.sleep(0.3)
    stack.kill("api")  # SIGKILL while requests are in flight
    for t in threads:
        t.join()
    stack.start_api()
    with stack.client() as http:
        for no in nos:  # every client retries with its key (after Retry-After on a 503)
            r = eventually(lambda no=no: retried(http.post(
                "/api/v1/orders", json=order_body(no),
                headers={**auth("channel"), "Idempotency-Key": no})))
            assert r.status_code in (200, 201), r.text
            assert r.json()["order_no"] == no
        for no in nos:
            fulfil_and_deliver(http, no)
    assert count_workflows(stack, nos) == len(nos)
    check_books(stack, nos)


def test_drill_temporal_down_then_up(stack: Stack) -> None:
    run = uuid.uuid4().hex[:4]
    before = [f"DT-{run}-{i}" for i in range(3)]
    with stack.client() as http:
        for no in before:
            assert http.post("/api/v1/orders", json=order_body(no),
                             headers=auth("channel")).status_code == 201
        stack.stop("temporal")  # mid-case: the orders wait for their fulfilment
        down = http.post("/api/v1/orders", json=order_body(f"DT-{run}-down"),
                         headers=auth("channel"))
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"]
        assert http.get(f"/api/v1/orders/DT-{run}-down", headers=auth("ops")).status_code == 404
        stack.start_temporal()
        after = eventually(lambda: (lambda r: r if r.status_code == 201 else None)(http.post(
            "/api/v1/orders", json=order_body(f"DT-{run}-down"), headers=auth("channel"))))
        assert after.json()["order_no"] == f"DT-{run}-down"
        nos = [*before, f"DT-{run}-down"]
        for no in nos:
            fulfil_and_deliver(http, no)
    assert count_workflows(stack, nos) == len(nos)
    check_books(stack, nos)


def test_drill_database_unreachable_for_10_seconds(stack: Stack) -> None:
    """Another writer holds SQLite's write lock for 10 s: creates answer 503 + Retry-After and
    start nothing; then everything resumes by itself, the cases started before included."""
    run = uuid.uuid4().hex[:4]
    before = [f"DB-{run}-{i}" for i in range(3)]
    with stack.client() as http:
        for no in before:
            assert http.post("/api/v1/orders", json=order_body(no),
                             headers=auth("channel")).status_code == 201
        holder = sqlite3.connect(stack.database_url.split("///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            locked_until = time.monotonic() + 10
            codes = []
            while time.monotonic() < locked_until - 2:
                r = http.post("/api/v1/orders", json=order_body(f"DB-{run}-x"),
                              headers={**auth("channel"), "Idempotency-Key": f"DB-{run}-x"})
                codes.append(r.status_code)
                if r.status_code == 503:
                    assert r.headers["Retry-After"]
            time.sleep(max(0.0, locked_until - time.monotonic()))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert codes and set(codes) == {503}, codes
        r = eventually(lambda: (lambda a: a if a.status_code == 201 else None)(http.post(
            "/api/v1/orders", json=order_body(f"DB-{run}-x"),
            headers={**auth("channel"), "Idempotency-Key": f"DB-{run}-x"})))
        nos = [*before, f"DB-{run}-x"]
        for no in nos:
            fulfil_and_deliver(http, no)
    assert count_workflows(stack, nos) == len(nos)
    check_books(stack, nos)


def test_drill_worker_killed_inside_a_payment(stack: Stack) -> None:
    """SIGKILL the worker while payments are inside the provider call (2 s each); a new worker
    takes the cases over once the attempts time out: each order is paid once, and completes."""
    run = uuid.uuid4().hex[:4]
    nos = [f"DW-{run}-{i}" for i in range(4)]
    with stack.client() as http:
        totals = {}
        for no in nos:
            r = http.post("/api/v1/orders", json=order_body(no, "online"),
                          headers=auth("channel"))
            assert r.status_code == 201, r.text
            totals[no] = r.json()["total"]
        for no in nos:
            eventually(lambda no=no: http.get(f"/api/v1/orders/{no}", headers=auth("ops"))
                       .json()["status"] == "awaiting_payment")

    answers: dict[str, int] = {}

    def pay(no: str) -> None:
        with stack.client(timeout=150) as http:
            try:
                answers[no] = http.post(f"/api/v1/orders/{no}/payments", headers=auth("channel"),
                                        json={"transaction_id": f"tx-{no}",
                                              "amount": f"{totals[no]:.2f}"}).status_code
            except httpx.HTTPError:
                answers[no] = 0

    threads = [threading.Thread(target=pay, args=(no,)) for no in nos]
    for t in threads:
        t.start()
    time.sleep(1.0)  # inside the provider call
    stack.kill("worker", signal.SIGKILL)
    stack.start_worker()
    for t in threads:
        t.join()
    with stack.client(timeout=150) as http:
        for no in nos:  # a client whose call failed retries with the same transaction
            if answers[no] not in (200, 201):
                r = eventually(lambda no=no: (lambda a: a if a.status_code in (200, 201) else None)(
                    http.post(f"/api/v1/orders/{no}/payments", headers=auth("channel"),
                              json={"transaction_id": f"tx-{no}",
                                    "amount": f"{totals[no]:.2f}"})), timeout=150)
                assert r.status_code in (200, 201)
        for no in nos:
            fulfil_and_deliver(http, no)
    check_books(stack, nos)
