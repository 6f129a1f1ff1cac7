"""Outside services behind small adapter interfaces: the payment provider and the courier.

``build_providers(settings)`` picks the implementation by settings; the default is a simulator
that behaves like the real thing (references, idempotency keys, latency, transient failures),
so the whole process runs on one machine. See docs/providers.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopflow.providers.courier import CourierProvider, CourierSimulator
from shopflow.providers.payments import PaymentProvider, PaymentSimulator, ProviderError
from shopflow.settings import Settings


@dataclass
class Providers:
    payments: PaymentProvider
    courier: CourierProvider


def build_providers(settings: Settings) -> Providers:
    if settings.payment_provider != "simulator":  # pragma: no cover - only one kind so far
        raise ValueError(f"unknown payment provider {settings.payment_provider!r}")
    if settings.courier_provider != "simulator":  # pragma: no cover
        raise ValueError(f"unknown courier provider {settings.courier_provider!r}")
    return Providers(
        payments=PaymentSimulator(
            failure_rate=settings.payment_sim_failure_rate,
            latency=settings.payment_sim_latency.total_seconds(),
            seed=settings.payment_sim_seed,
            journal=settings.provider_sim_journal,
            timezone=settings.zone_name,
        ),
        courier=CourierSimulator(
            failure_rate=settings.courier_sim_failure_rate,
            latency=settings.courier_sim_latency.total_seconds(),
            seed=settings.courier_sim_seed,
            transit_days=settings.courier_sim_transit_days,
            journal=settings.provider_sim_journal,
        ),
    )


__all__ = [
    "CourierProvider",
    "CourierSimulator",
    "PaymentProvider",
    "PaymentSimulator",
    "ProviderError",
    "Providers",
    "build_providers",
]
