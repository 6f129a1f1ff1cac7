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
from typing import Protocol


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
    - ``latency``: mean seconds per call.
    - ``seed``: makes the failures reproducible.
    - ``script``: faults for the next calls per operation, e.g. ``{"refund": ["after"]}``
      (``before``: fail without doing anything, ``after``: do it, then lose the reply).
    """

    failure_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    script: dict[str, list[str]] = field(default_factory=dict)
    name: str = "simulator"

    def __post_init__(self) -> None:
        # A simulator's faults and latency, reproducible with a seed: no secret comes from it.
        self._rng = random.Random(self.seed)  # noqa: S311
        self._lock = threading.Lock()
        self.captures: dict[str, Capture] = {}
        self.refunds: dict[str, RefundResult] = {}
        self.calls: list[str] = []

    # --- the interface -------------------------------------------------------------------

    def confirm(self, transaction_id: str, amount_cents: int, reference: str) -> Capture:
        fault = self._call("confirm")
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
        self._after(fault, "confirm")
        return known

    def refund(self, transaction_id: str, amount_cents: int, idempotency_key: str,
               reason: str) -> RefundResult:
        fault = self._call("refund")
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
        self._after(fault, "refund")
        return done

    # --- for tests and ops ---------------------------------------------------------------

    def refunded_cents(self, transaction_ids: Iterable[str]) -> int:
        wanted = set(transaction_ids)
        return sum(r.amount_cents for r in self.refunds.values() if r.transaction_id in wanted)

    # --- faults --------------------------------------------------------------------------

    def _call(self, op: str) -> str | None:
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
            time.sleep(delay)
        if fault == "before":
            raise ProviderError(f"payment provider unavailable ({op})")
        return fault

    def _after(self, fault: str | None, op: str) -> None:
        if fault == "after":
            raise ProviderError(f"payment provider timed out after {op} (reply lost)")
