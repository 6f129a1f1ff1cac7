"""The payment provider: confirm what a channel reports as paid, and refund.

``PaymentProvider`` is the whole interface an adapter for a real gateway (Alipay, WeChat Pay,
Stripe …) has to implement. Refunds carry an idempotency key: calling ``refund`` again with the
same key (a retried activity, a lost reply) returns the first refund and moves no money twice.
``daily_report(day)`` is the gateway's own statement of a day (its captures and refunds),
which finance's reconciliation compares with the books (services/reconciliation.py).
``PaymentSimulator`` is the default: an in-process gateway with latency and failures that can
be configured (``SHOPFLOW_PAYMENT_SIM_*``) or scripted in tests, and whose daily report can be
told to differ from what it did (``report_script``).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

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
    at: str = ""  # when the gateway captured it (ISO 8601, UTC)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    transaction_id: str
    amount_cents: int
    idempotency_key: str
    at: str = ""  # when the gateway refunded it (ISO 8601, UTC)


@dataclass(frozen=True)
class ReportLine:
    """One movement on the gateway's daily report."""

    kind: str  # payment | refund
    reference: str  # a payment's transaction id, a refund's refund id
    transaction_id: str
    amount_cents: int
    at: str


@dataclass(frozen=True)
class DailyReport:
    day: date
    lines: tuple[ReportLine, ...]


REPORT_FAULTS = ("drop_payment", "drop_refund", "payment_amount", "refund_amount",
                 "extra_payment")


class PaymentProvider(Protocol):
    name: str

    def confirm(self, transaction_id: str, amount_cents: int, reference: str) -> Capture:
        """Check a payment the channel reports and bind it to ``reference``; repeatable."""
        ...

    def refund(self, transaction_id: str, amount_cents: int, idempotency_key: str,
               reason: str) -> RefundResult:
        """Give money back on a captured transaction, once per ``idempotency_key``."""
        ...

    def daily_report(self, day: date) -> DailyReport:
        """The gateway's statement of ``day`` (its own calendar day): every capture and refund
        it made that day."""
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
    - ``timezone``: the gateway's calendar for its daily report (the schedule's time zone).
    - ``report_script``: differences the next daily report makes up, one per entry, for
      tests and demos of reconciliation (``REPORT_FAULTS``): ``drop_payment``/``drop_refund``
      leave the day's first one out, ``payment_amount``/``refund_amount`` report it 1.00
      more, ``extra_payment`` adds a payment nobody booked.
    - ``clock``: the gateway's time (UTC now).
    """

    failure_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    script: dict[str, list[str]] = field(default_factory=dict)
    journal: Path | None = None
    name: str = "simulator"
    timezone: str = "UTC"
    report_script: list[str] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # A simulator's faults and latency, reproducible with a seed: no secret comes from it.
        self._rng = random.Random(self.seed)  # noqa: S311
        self._lock = threading.Lock()
        self.captures: dict[str, Capture] = {
            e["transaction_id"]: Capture(e["transaction_id"], e["amount_cents"], e["reference"],
                                         e["provider_ref"], e.get("at", ""))
            for e in journal.read(self.journal, "capture")}
        self.refunds: dict[str, RefundResult] = {
            e["idempotency_key"]: RefundResult(e["refund_id"], e["transaction_id"],
                                               e["amount_cents"], e["idempotency_key"],
                                               e.get("at", ""))
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
                                f"sim-pay-{len(self.captures) + 1:06d}", self._now())
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
                                    amount_cents, idempotency_key, self._now())
                self.refunds[idempotency_key] = done
                journal.append(self.journal, "refund", **done.__dict__)
        self._after(fault, "refund", delay)
        return done

    def daily_report(self, day: date) -> DailyReport:
        fault, delay = self._call("report")
        zone = ZoneInfo(self.timezone)

        def on_day(at: str) -> bool:
            return bool(at) and datetime.fromisoformat(at).astimezone(zone).date() == day

        with self._lock:
            lines = [ReportLine("payment", c.transaction_id, c.transaction_id, c.amount_cents,
                                c.at) for c in self.captures.values() if on_day(c.at)]
            lines += [ReportLine("refund", r.refund_id, r.transaction_id, r.amount_cents, r.at)
                      for r in self.refunds.values() if on_day(r.at)]
            made_up, self.report_script = list(self.report_script), []
        for what in made_up:
            lines = _make_up(lines, what, day)
        self._after(fault, "report", delay)
        return DailyReport(day, tuple(sorted(lines, key=lambda x: (x.at, x.reference))))

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat()

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


def _make_up(lines: list[ReportLine], what: str, day: date) -> list[ReportLine]:
    """A report that differs from what the gateway did, as ``what`` says (REPORT_FAULTS)."""
    if what not in REPORT_FAULTS:
        raise ValueError(f"unknown report fault {what!r}: one of {', '.join(REPORT_FAULTS)}")
    if what == "extra_payment":
        ref = f"SIM-EXTRA-{day.isoformat()}"
        return [*lines, ReportLine("payment", ref, ref, 100, f"{day.isoformat()}T12:00:00")]
    dropping = what.startswith("drop_")
    kind = what.removeprefix("drop_").removesuffix("_amount")
    first = next((x for x in lines if x.kind == kind), None)
    if first is None:
        return lines
    rest = [x for x in lines if x is not first]
    if dropping:
        return rest
    return [*rest, dataclasses.replace(first, amount_cents=first.amount_cents + 100)]
