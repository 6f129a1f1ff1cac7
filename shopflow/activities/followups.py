"""Follow-ups' activities, thin adapters over services/followups.py: start one from any
process, start the due ones, whether a customer may be contacted."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.services import followups
from shopflow.settings import Settings
from shopflow.workflows.feedback_follow_up import Contact, ContactCheck
from shopflow.workflows.shared import Act, FollowupStart, FollowupStarted, SweepRun, SweepStarted


class FollowupActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client

    def _client(self) -> Client:
        return need_client(self.client, "follow-up activities")

    @activity.defn(name=Act.FOLLOWUP_START)
    async def start(self, req: FollowupStart) -> FollowupStarted:
        return await followups.start_followup(self._client(), self.settings, self.engine, req)

    @activity.defn(name=Act.FOLLOWUP_SWEEP)
    async def sweep(self, req: SweepRun) -> SweepStarted:
        """Start the follow-ups other processes left due."""
        return SweepStarted(await followups.start_due(self._client(), self.settings, self.engine))

    @activity.defn(name=Act.FOLLOWUP_START_DUE)
    async def start_due(self) -> list[str]:
        """Runs that scheduled it before patch "typed-due-followups" (remove with that patch)."""
        return await followups.start_due(self._client(), self.settings, self.engine)

    @activity.defn(name=Act.FOLLOWUP_CONTACT)
    def contact(self, req: ContactCheck) -> Contact:
        return followups.contactable(self.engine, req.customer_id)
