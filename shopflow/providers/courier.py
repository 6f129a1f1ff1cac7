"""The courier: register a parcel's tracking number so its events reach us, and link to its
tracking page.

``CourierProvider`` is the interface an adapter for a real courier (SF Express, JD Logistics,
ZTO …) implements; its events arrive as ``POST /api/v1/shipments/{tracking_no}/events`` (a
webhook or the warehouse). ``CourierSimulator`` is the default, with configurable latency (half
before the booking, half after it) and transient failures (``SHOPFLOW_COURIER_SIM_*``), and
its bookings remembered in the simulators' journal when one is set (journal.py).
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from shopflow.providers import journal
from shopflow.providers.payments import ProviderError

KNOWN_COURIERS = {
    "sf": ("sf", "sf express", "顺丰", "顺丰速运"),
    "jd": ("jd", "jd logistics", "京东", "京东物流"),
    "zto": ("zto", "zto express", "中通", "中通快递"),
    "yto": ("yto", "yto express", "圆通", "圆通速递"),
    "sto": ("sto", "sto express", "申通", "申通快递"),
    "yunda": ("yunda", "韵达", "韵达快递"),
    "ems": ("ems", "china post ems", "中国邮政", "邮政ems"),
    "dhl": ("dhl", "dhl express"),
    "ups": ("ups",),
    "fedex": ("fedex",),
}


def courier_code(name: str) -> str:
    lowered = name.strip().lower()
    for code, names in KNOWN_COURIERS.items():
        if lowered in names:
            return code
    return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "courier"


@dataclass(frozen=True)
class Booking:
    courier: str
    courier_code: str
    tracking_no: str
    tracking_url: str
    estimated_delivery: datetime


class CourierProvider(Protocol):
    name: str

    def register(self, courier: str, tracking_no: str, reference: str,
                 shipped_at: datetime) -> Booking:
        """Subscribe to the parcel's events; repeatable for the same reference."""
        ...


@dataclass
class CourierSimulator:
    failure_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    transit_days: int = 3
    tracking_url: str = "https://track.example.com/{courier}/{tracking_no}"
    script: dict[str, list[str]] = field(default_factory=dict)
    journal: Path | None = None
    name: str = "simulator"

    def __post_init__(self) -> None:
        # A simulator's faults and latency, reproducible with a seed: no secret comes from it.
        self._rng = random.Random(self.seed)  # noqa: S311
        self._lock = threading.Lock()
        self.bookings: dict[str, tuple[str, Booking]] = {
            e["tracking_no"]: (e["reference"], Booking(
                e["courier"], e["courier_code"], e["tracking_no"], e["tracking_url"],
                datetime.fromisoformat(e["estimated_delivery"])))
            for e in journal.read(self.journal, "booking")}

    def register(self, courier: str, tracking_no: str, reference: str,
                 shipped_at: datetime) -> Booking:
        with self._lock:
            scripted = self.script.get("register")
            if scripted:
                fault: str | None = scripted.pop(0)
            elif self.failure_rate and self._rng.random() < self.failure_rate:
                fault = "before"
            else:
                fault = None
            delay = self.latency * self._rng.uniform(0.5, 1.5) if self.latency else 0.0
        if delay:
            time.sleep(delay / 2)  # the way there
        if fault:
            raise ProviderError("courier API unavailable")
        code = courier_code(courier)
        with self._lock:
            known = self.bookings.get(tracking_no)
            if known is not None and known[0] != reference:
                raise ProviderError(f"tracking number {tracking_no} is another parcel's",
                                    transient=False, code="tracking_no_in_use")
            booking = Booking(
                courier=courier.strip(), courier_code=code, tracking_no=tracking_no,
                tracking_url=self.tracking_url.format(courier=quote(code),
                                                      tracking_no=quote(tracking_no)),
                estimated_delivery=shipped_at + timedelta(days=self.transit_days),
            )
            if known is None:
                journal.append(self.journal, "booking", reference=reference, **booking.__dict__)
            self.bookings[tracking_no] = (reference, booking)
        if delay:
            time.sleep(delay / 2)  # the way back
        return booking
