"""Issue 14, point 8: property-based tests (hypothesis) for money and stock.

Money: a decision's amount becomes exact cents or is refused (never an exception, never a
rounding slip), order totals are the cent sum of lines and shipping fee, and any sequence of
partial refunds (retried, refused, lost replies) never gives back more than was paid, books
exactly what the provider moved, once per key. Stock: any sequence of receipts, reservations,
consumptions, releases and their retries keeps on_hand/reserved/damaged non-negative, reserved
equal to the open reservations, on_hand equal to received minus consumed, and settles each
reservation exactly once."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlmodel import SQLModel, col, select
from temporalio.exceptions import ApplicationError

import shopflow.models  # noqa: F401
from shopflow.activities.payments import PaymentActivities
from shopflow.db import make_engine, session_scope
from shopflow.models import InventoryItem, Order, Payment, Product, Refund, Reservation
from shopflow.models.order_schemas import OrderCreate
from shopflow.providers.payments import PaymentSimulator, ProviderError
from shopflow.services import inventory
from shopflow.workflows.money import parse_cents as to_cents
from shopflow.workflows.shared import RefundRequest, ReservationKey, ReserveRequest, StockLine

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
MACHINE = settings(max_examples=15, stateful_step_count=25, deadline=None,
                   suppress_health_check=list(HealthCheck))


def fresh_engine() -> Any:
    path = Path(tempfile.mkdtemp()) / "p.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    return engine


_shared: list[Any] = []
_runs = iter(range(10**9))


def shared_engine() -> Any:
    """One database for every example (tables made once); each example uses its own keys."""
    if not _shared:
        _shared.append(fresh_engine())
    return _shared[0]


# --- money ---------------------------------------------------------------------------------

anything = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from(["NaN", "Infinity", "-inf", "1e999", "1e-999", "١٠",
                                      "²", " 12.5 ", "12.345", "0x10", "1_000", ""]))


@FAST
@given(anything)
def test_an_amount_is_exact_cents_or_refused_never_an_exception(value: Any) -> None:
    cents = to_cents(value)
    assert cents is None or type(cents) is int
    if isinstance(value, str) and not value.isascii():
        assert cents is None  # "١٠" is not ten here


@FAST
@given(st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2,
                   allow_nan=False, allow_infinity=False))
def test_two_decimal_amounts_convert_exactly(value: Decimal) -> None:
    assert to_cents(str(value)) == int(value * 100)
    assert to_cents(float(value)) == int(value * 100)


@FAST
@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=3))
def test_fractions_of_a_cent_are_refused(value: Decimal) -> None:
    assume(value * 100 != (value * 100).to_integral_value())
    assert to_cents(str(value)) is None


@FAST
@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(0, 10_000_000)), min_size=1,
                max_size=10),
       st.integers(0, 10_000_000))
def test_order_total_is_the_cent_sum_of_lines_and_fee(lines: list[tuple[int, int]],
                                                      fee_cents: int) -> None:
    body = OrderCreate.model_validate({
        "channel": "web", "customer": {"id": "c", "name": "n", "phone": "123"},
        "items": [{"sku": f"S{i}", "quantity": q, "unit_price": f"{c / 100:.2f}"}
                  for i, (q, c) in enumerate(lines)],
        "shipping_address": "1 Tea Road", "payment_method": "online",
        "shipping_fee": str(Decimal(fee_cents) / 100)})
    total = sum((i.unit_price * i.quantity for i in body.items), body.shipping_fee)
    assert int(total * 100) == sum(q * c for q, c in lines) + fee_cents


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(paid=st.integers(1, 1_000_000),
       steps=st.lists(st.tuples(st.integers(0, 5), st.integers(-5, 400_000),
                                st.sampled_from([None, "before", "after"])),
                      min_size=1, max_size=12))
def test_partial_refunds_never_exceed_what_was_paid_and_books_match_the_provider(
        paid: int, steps: list[tuple[int, int, str | None]]) -> None:
    engine = shared_engine()
    run = next(_runs)
    no, tx = f"O-{run}", f"tx-{run}"
    provider = PaymentSimulator()
    provider.confirm(tx, paid, no)
    with session_scope(engine) as session:
        session.add(Order(order_no=no, customer_id="c", status="paid", total=paid / 100,
                          workflow_id=f"order-{no}", stage="paid", channel="web",
                          payment_method="online", currency="CNY", shipping_fee=0.0,
                          customer={}, shipping_address={}, request_hash="h",
                          submitted_by="t", paid_amount=paid / 100, refunded_amount=0.0,
                          created_at=NOW, updated_at=NOW))
        session.add(Payment(order_no=no, transaction_id=tx, method="online",
                            amount=paid / 100, status="captured", provider_ref="p",
                            received_at=NOW, recorded_by="t"))
    acts = PaymentActivities(engine, provider)
    for key_no, cents, fault in steps:
        if fault:
            provider.script.setdefault("refund", []).append(fault)
        req = RefundRequest(f"{no}:k{key_no}", no, cents, "r", "return", "RT-1", NOW)
        for _attempt in range(3):  # a transient provider fault is retried, as Temporal does
            try:
                acts.refund(req)
            except ProviderError:
                continue
            except ApplicationError as err:
                assert err.non_retryable  # a refusal: an answer, not a retry
            break
    moved = provider.refunded_cents([tx])
    with session_scope(engine, write=False) as session:
        order = session.get(Order, no)
        refunds = session.exec(select(Refund).where(Refund.order_no == no)).all()
        assert order is not None
        booked = round(sum(r.amount for r in refunds if r.status == "succeeded") * 100)
        claimed = round(sum(r.amount for r in refunds) * 100)
        assert moved <= paid
        assert claimed <= paid  # pending ones count: nothing can refund past what was paid
        assert booked == round(order.refunded_amount * 100)
        for r in refunds:  # what the provider moved for a key is what the books say
            done = provider.refunds.get(r.key)
            if r.status == "succeeded":
                assert done is not None and done.amount_cents == round(r.amount * 100)


# --- stock ---------------------------------------------------------------------------------

SKUS = ("A", "B")


class StockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = shared_engine()
        run = next(_runs)
        self.skus = [f"{s}{run}" for s in SKUS]  # this run's own products
        with session_scope(self.engine) as session:
            for sku in self.skus:
                session.add(Product(sku=sku, name=sku, sample_limit=5))
        self.received = dict.fromkeys(self.skus, 0)
        self.consumed = dict.fromkeys(self.skus, 0)
        self.keys: list[str] = []
        self.settled: dict[str, str] = {}
        self.n = 0

    @rule(which=st.integers(0, 1), qty=st.integers(1, 20), repeat=st.booleans())
    def receive(self, which: int, qty: int, repeat: bool) -> None:
        sku = self.skus[which]
        self.n += 1
        for _ in range(2 if repeat else 1):  # a retried receipt books once
            with session_scope(self.engine) as session:
                inventory.receive(session, sku, qty, "", "t", f"rcpt-{sku}-{self.n}")
        self.received[sku] += qty

    @rule(a=st.integers(0, 15), b=st.integers(0, 15))
    def reserve(self, a: int, b: int) -> None:
        lines = [StockLine(s, q) for s, q in zip(self.skus, (a, b), strict=True) if q]
        if not lines:
            return
        self.n += 1
        key = f"res-{self.skus[0]}-{self.n}"
        try:
            with session_scope(self.engine) as session:
                inventory.reserve(session, ReserveRequest(key, lines))
        except ApplicationError:
            return  # not enough: all or nothing
        with session_scope(self.engine) as session:  # a retry holds nothing more
            inventory.reserve(session, ReserveRequest(key, lines))
        self.keys.append(key)

    @precondition(lambda self: self.keys)
    @rule(data=st.data(), outcome=st.sampled_from(["consumed", "released"]))
    def settle(self, data: st.DataObject, outcome: str) -> None:
        key = data.draw(st.sampled_from(self.keys))
        for _ in range(2):  # settled exactly once, whatever comes after
            with session_scope(self.engine) as session:
                done = inventory.settle(session, ReservationKey(key), outcome)
            if key in self.settled:
                assert done == {}
            elif done:
                self.settled[key] = outcome
                if outcome == "consumed":
                    for sku, q in done.items():
                        self.consumed[sku] += q

    @invariant()
    def balances(self) -> None:
        with session_scope(self.engine, write=False) as session:
            items = {i.sku: i for i in session.exec(
                select(InventoryItem).where(col(InventoryItem.sku).in_(self.skus)))}
            mine = session.exec(select(Reservation).where(
                col(Reservation.sku).in_(self.skus))).all()
            held = [r for r in mine if r.status == "held"]
            statuses = {r.key: r.status for r in mine}
        for sku in self.skus:
            item = items.get(sku)
            on_hand, reserved, damaged = ((item.on_hand, item.reserved, item.damaged)
                                          if item else (0, 0, 0))
            assert min(on_hand, reserved, damaged) >= 0
            assert on_hand == self.received[sku] - self.consumed[sku] - damaged
            assert reserved == sum(r.quantity for r in held if r.sku == sku)
            assert reserved <= on_hand
        for key, outcome in self.settled.items():
            assert statuses[key] == outcome


TestStock = StockMachine.TestCase
TestStock.settings = MACHINE
