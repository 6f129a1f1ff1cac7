"""Finance's activities (issue 18): the daily comparison with the payment provider's report and
a difference's resolution, thin adapters over services/reconciliation.py (the comparison with
the worker's provider and client: it starts the difference cases)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.activities.payments import provider_failure
from shopflow.providers.payments import PaymentProvider, ProviderError
from shopflow.services import reconciliation
from shopflow.settings import Settings
from shopflow.workflows.finance import (
    RECONCILE,
    RESOLVE,
    DifferenceResolve,
    ReconcileResult,
    ReconcileRun,
)


class FinanceActivities:
    def __init__(self, engine: Engine, settings: Settings, provider: PaymentProvider,
                 client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.provider = provider
        self.client = client

    @activity.defn(name=RECONCILE)
    async def check(self, run: ReconcileRun) -> ReconcileResult:
        """The provider's report of the day against the books; a finance case per difference."""
        try:
            return await reconciliation.check(need_client(self.client, RECONCILE), self.engine,
                                              self.settings, self.provider, run)
        except ProviderError as err:
            raise provider_failure(err) from None

    @activity.defn(name=RESOLVE)
    def resolve(self, req: DifferenceResolve) -> dict[str, Any]:
        return reconciliation.resolve(self.engine, req)
