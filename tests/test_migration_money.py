"""Revision 0004 turns the float money columns into integer cents and back, with the data."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import Engine, inspect, text

from shopflow.db import make_engine
from shopflow.migrate import alembic_config


def _to(engine: Engine, revision: str, down: bool = False) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_money_moves_to_cents_and_back_with_the_data(empty_database: str) -> None:
    # A database of its own: migrating the shared test database down would take the tables of
    # later revisions away from the tests that run after this one on the same worker.
    engine = make_engine(empty_database)
    try:
        _money_round_trip(engine)
    finally:
        engine.dispose()


def _money_round_trip(engine: Engine) -> None:
    _to(engine, "0001")
    now = "2025-03-01 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO products (sku, name, sample_limit, created_at) "
            "VALUES ('TEA', 'Tea', 5, :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO orders (order_no, customer_id, status, total, created_at, workflow_id, "
            "stage, channel, payment_method, currency, shipping_fee, customer, "
            "shipping_address, request_hash, submitted_by, paid_amount, refunded_amount, "
            "version, exception_count, exceptions, updated_at) VALUES ('SO-1', 'c', 'completed', "
            "161.5, :now, 'order-SO-1', 'completed', 'web', 'online', 'CNY', 0.1, '{}', '{}', "
            "'', '', 161.5, 19.99, 0, 0, '[]', :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO order_lines (order_no, line_no, sku, name, quantity, unit_price, amount)"
            " VALUES ('SO-1', 1, 'TEA', 'Tea', 3, 53.8, 161.4)"))
        conn.execute(text(
            "INSERT INTO refunds (key, order_no, case_kind, case_id, amount, method, status, "
            "reason, requested_by, created_at) VALUES ('k', 'SO-1', 'order', 'SO-1', 19.99, "
            "'original', 'succeeded', '', 'x', :now)"), {"now": now})
    _to(engine, "0004")
    assert {"total_cents", "paid_cents", "refunded_cents"} <= _columns(engine, "orders")
    assert "total" not in _columns(engine, "orders")
    with engine.connect() as conn:
        row: Any = conn.execute(text(
            "SELECT total_cents, shipping_fee_cents, paid_cents, refunded_cents FROM orders"
        )).one()
        assert tuple(row) == (16150, 10, 16150, 1999)
        assert tuple(conn.execute(text(
            "SELECT unit_price_cents, amount_cents FROM order_lines")).one()) == (5380, 16140)
        assert conn.execute(text("SELECT amount_cents FROM refunds")).scalar_one() == 1999
    _to(engine, "0001", down=True)
    assert "total_cents" not in _columns(engine, "orders")
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT total, shipping_fee, paid_amount, refunded_amount FROM orders")).one()
        assert tuple(row) == (161.5, 0.1, 161.5, 19.99)
        assert conn.execute(text("SELECT amount FROM refunds")).scalar_one() == 19.99
