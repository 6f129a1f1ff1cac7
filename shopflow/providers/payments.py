"""The payment provider: confirm what a channel reports as paid, and refund.

``PaymentProvider`` is the whole interface an adapter for a real gateway (Alipay, WeChat Pay,
Stripe …) has to implement. Refunds carry an idempotency key: calling ``refund`` again with the
same key (a retried activity, a lost reply) returns the first refund and moves no money twice.
``PaymentSimulator`` is the default: an in-process gateway with latency and failures that can
be configured (``SHOPFLOW_PAYMENT_SIM_*``) or scripted in tests.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shopflow.providers import journal


class ProviderError(Exception):
    """A failed call to an outside service. ``transient`` failures are retried with the same
    idempotency key; the others are answers (declined, unknown, used elsewhere)."""

    def __init__(self, message: str, *, transient: bool = True,
                 code: str = "provider_unavailable") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


@dataclass(frozen=True)
class Capture:
    transaction_id: str
    amount_cents: int
    reference: str  # our order number
    provider_ref: str


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    transaction_id: str
    amount_cents: int
    idempotency_key: str


class PaymentProvider(Protocol):
    name: str

    def confirm(self, transaction_id: str, amount_cents: int, reference: str) -> Capture:
        """Check a payment the channel reports and bind it to ``reference``; repeatable."""
        ...

    def refund(self, transaction_id: str, amount_cents: int, idempotency_key: str,
               reason: str) -> RefundResult:
        """Give money back on a captured transaction, once per ``idempotency_key``."""
        ...


@dataclass
class PaymentSimulator:
    """A payment gateway in memory.

    - ``failure_rate``: share of calls that fail with a transient error; half of those fail
      *after* the gateway did the work (the reply is lost), the case idempotency keys exist for.
    - ``latency``: mean seconds per call, half on the way there (before the gateway acts),
      half on the way back (after it acted, before the caller has the answer).
    - ``seed``: makes the failures reproducible.
    - ``script``: faults for the next calls per operation, e.g. ``{"refund": ["after"]}``
      (``before``: fail without doing anything, ``after``: do it, then lose the reply).
    - ``journal``: a file the gateway remembers its captures and refunds in (journal.py).
    """

    failure_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    script: dict[str, list[str]] = field(default_factory=dict)
    journal: Path | None = None
    name: str = "simulator"

    def __post_init__(self) -> None:
        # A simulator's faults and latency, reproducible with a seed: no secret comes from it.
        self._rng = random.Random(self.seed)  # noqa: S311
        self._lock = threading.Lock()
        self.captures: dict[str, Capture] = {
            e["transaction_id"]: Capture(e["transaction_id"], e["amount_cents"], e["reference"],
                                         e["provider_ref"])
            for e in journal.read(self.journal, "capture")}
        self.refunds: dict[str, RefundResult] = {
            e["idempotency_key"]: RefundResult(e["refund_id"], e["transaction_id"],
                                               e["amount_cents"], e["idempotency_key"])
            for e in journal.read(self.journal, "refund")}
        self.calls: list[str] = []

    # --- the interface -------------------------------------------------------------------

    def confirm(self, transaction_id: str, amount_cents: int, reference: str) -> Capture:
        fault, delay = self._call("confirm")
        with self._lock:
            known = self.captures.get(transaction_id)
            if known is not None and known.reference != reference:
                raise ProviderError(f"transaction {transaction_id} belongs to another payment",
                                    transient=False, code="transaction_used")
            if known is not None and known.amount_cents != amount_cents:
                raise ProviderError(f"transaction {transaction_id} was for another amount",
                                    transient=False, code="amount_mismatch")
            if known is None:
                known = Capture(transaction_id, amount_cents, reference,
                                f"sim-pay-{len(self.captures) + 1:06d}")
                self.captures[transaction_id] = known
                journal.append(self.journal, "capture", **known.__dict__)
        self._after(fault, "confirm", delay)
        return known

    def refund(self, transaction_id: str, amount_cents: int, idempotency_key: str,
               reason: str) -> RefundResult:
        fault, delay = self._call("refund")
        with self._lock:
            done = self.refunds.get(idempotency_key)
            if done is not None:
                if (done.transaction_id, done.amount_cents) != (transaction_id, amount_cents):
                    raise ProviderError("idempotency key reused with other parameters",
                                        transient=False, code="idempotency_key_reused")
            else:
                capture = self.captures.get(transaction_id)
                # A payment captured before this process started is unknown to the simulator;
                # a real gateway would know it, so the simulator takes it on trust.
                if capture is not None:
                    already = sum(r.amount_cents for r in self.refunds.values()
                                  if r.transaction_id == transaction_id)
                    if already + amount_cents > capture.amount_cents:
                        raise ProviderError("refund exceeds the captured amount",
                                            transient=False, code="refund_exceeds_capture")
                done = RefundResult(f"sim-ref-{len(self.refunds) + 1:06d}", transaction_id,
                                    amount_cents, idempotency_key)
                self.refunds[idempotency_key] = done
                journal.append(self.journal, "refund", **done.__dict__)
        self._after(fault, "refund", delay)
        return done

    # --- for tests and ops ---------------------------------------------------------------

    def refunded_cents(self, transaction_ids: Iterable[str]) -> int:
        wanted = set(transaction_ids)
        return sum(r.amount_cents for r in self.refunds.values() if r.transaction_id in wanted)

    # --- faults --------------------------------------------------------------------------

    def _call(self, op: str) -> tuple[str | None, float]:
        """The way there: the call's fault (if any) and its delay, half of it slept here."""
        with self._lock:
            self.calls.append(op)
            scripted = self.script.get(op)
            if scripted:
                fault: str | None = scripted.pop(0)
            elif self.failure_rate and self._rng.random() < self.failure_rate:
                fault = self._rng.choice(["before", "after"])
            else:
                fault = None
            delay = self.latency * self._rng.uniform(0.5, 1.5) if self.latency else 0.0
        if delay:
            time.sleep(delay / 2)
        if fault == "before":
            raise ProviderError(f"payment provider unavailable ({op})")
        return fault, delay

    def _after(self, fault: str | None, op: str, delay: float) -> None:
        """The way back: the other half of the delay, then the answer (or it is lost)."""
        if delay:
            time.sleep(delay / 2)
        if fault == "after":
            raise ProviderError(f"payment provider timed out after {op} (reply lost)")
