"""Complaints' activities, thin adapters over services/complaints.py: the complaints record, the
handling task's inbox row, opening a complaint for another process, and the return a quality
complaint's resolution asks for."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.services import complaints
from shopflow.services.returns import start_return_for_complaint
from shopflow.settings import Settings
from shopflow.workflows.shared import (
    Act,
    ComplaintOpen,
    ComplaintOpened,
    ComplaintSnapshot,
    ReturnStart,
    ReturnStarted,
    TaskSync,
)


class ComplaintActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client

    def _client(self) -> Client:
        return need_client(self.client, "complaint activities that start workflows")

    @activity.defn(name=Act.COMPLAINT_RECORD)
    def record(self, snap: ComplaintSnapshot) -> None:
        complaints.record_snapshot(self.engine, snap)

    @activity.defn(name=Act.COMPLAINT_TASK_SYNC)
    def task_sync(self, req: TaskSync) -> None:
        complaints.sync_task(self.engine, req)

    @activity.defn(name=Act.COMPLAINT_OPEN)
    async def open(self, req: ComplaintOpen) -> ComplaintOpened:
        return await complaints.open_for_process(self._client(), self.settings, self.engine, req)

    @activity.defn(name=Act.COMPLAINT_START_RETURN)
    async def start_return(self, req: ReturnStart) -> ReturnStarted:
        """Start the return a quality complaint's resolution asks for, through the returns
        process (its checks; a refusal is an answer with ``status: refused``)."""
        return await start_return_for_complaint(self._client(), self.settings, self.engine, req)
