"""The simulators' journal (SHOPFLOW_PROVIDER_SIM_JOURNAL): a restarted simulator remembers
what the one before it did, as a real gateway and courier would, so a key holds across a
killed worker; and the latency is split around the act (the drills kill inside it)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shopflow.providers import CourierSimulator, PaymentSimulator, ProviderError
from shopflow.providers.journal import read


def test_a_restarted_gateway_remembers_captures_and_refunds(tmp_path: Path) -> None:
    journal = tmp_path / "providers.jsonl"
    first = PaymentSimulator(journal=journal)
    first.confirm("tx-1", 1000, "O-1")
    done = first.refund("tx-1", 400, "refund:O-1", "drill")
    again = PaymentSimulator(journal=journal)  # the worker was killed, a new one starts
    assert again.refund("tx-1", 400, "refund:O-1", "drill") == done  # the same refund
    with pytest.raises(ProviderError) as err:
        again.refund("tx-1", 700, "refund:O-1#2", "drill")  # 400 + 700 > the 1000 captured
    assert err.value.code == "refund_exceeds_capture"
    assert [r["idempotency_key"] for r in read(journal, "refund")] == ["refund:O-1"]
    assert [c["reference"] for c in read(journal, "capture")] == ["O-1"]


def test_a_restarted_courier_remembers_its_bookings(tmp_path: Path) -> None:
    journal = tmp_path / "providers.jsonl"
    at = datetime(2026, 11, 30, tzinfo=UTC)
    booked = CourierSimulator(journal=journal).register("SF", "T1", "order-O-1", at)
    again = CourierSimulator(journal=journal)
    assert again.register("SF", "T1", "order-O-1", at) == booked
    with pytest.raises(ProviderError) as err:
        again.register("SF", "T1", "order-O-2", at)
    assert err.value.code == "tracking_no_in_use"
    assert len(read(journal, "booking")) == 1


def test_the_act_happens_halfway_through_the_latency(tmp_path: Path) -> None:
    journal = tmp_path / "providers.jsonl"
    gateway = PaymentSimulator(latency=0.4, seed=1, journal=journal)
    call = threading.Thread(target=gateway.confirm, args=("tx-1", 100, "O-1"))
    started = time.monotonic()
    call.start()
    while not read(journal, "capture"):
        time.sleep(0.01)
    acted = time.monotonic() - started
    call.join()
    assert 0.05 < acted < time.monotonic() - started - 0.05  # done, its answer still on its way
