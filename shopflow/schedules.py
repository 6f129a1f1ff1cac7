"""The Temporal Schedules for periodic care and reports, created or updated by
``shopflow schedules sync`` (and by ``shopflow dev`` at start-up). Ops see, pause and trigger
them in the Temporal Web UI (Schedules); a sync keeps a schedule that ops paused paused.

Times are local to ``SHOPFLOW_TIMEZONE`` (default Asia/Shanghai; ``SHOPFLOW_SCHEDULE_TIMEZONE``
when set): the 09:00 birthday run is 09:00 there, not UTC."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from shopflow.settings import Settings
from shopflow.workflows.backorders import BackorderSweepWorkflow
from shopflow.workflows.care import (
    BirthdayCare,
    DueFollowups,
    KeyAccountRevisits,
    KpiReport,
    WeeklyStocktake,
)
from shopflow.workflows.care_payloads import CareRun, ReportRequest
from shopflow.workflows.finance import ProviderReconciliation, ReconcileRun
from shopflow.workflows.inbound_mail import InboundMailPoll, MailPoll
from shopflow.workflows.promotion import OverstockReview
from shopflow.workflows.promotion_rules import OverstockRun
from shopflow.workflows.shared import SweepRun
from shopflow.workflows.staff_notices import OverdueSummary, StaffDigest, StaffRun


@dataclass(frozen=True)
class ScheduleDef:
    id: str
    workflow: Callable[..., Any]
    arg: Any
    calendar: ScheduleCalendarSpec | None
    note: str
    # Instead of a calendar: every this setting's duration (a timedelta setting's name).
    every: str | None = None


def _at(hour: int, minute: int = 0, **ranges: list[int]) -> ScheduleCalendarSpec:
    extra = {name: [ScheduleRange(v) for v in values] for name, values in ranges.items()}
    return ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)],
                                **extra)


DEFINITIONS = [
    ScheduleDef("shopflow-birthday-care", BirthdayCare.run, CareRun(), _at(9),
                "Daily 09:00: birthday greetings with a coupon, once a year per customer"),
    ScheduleDef("shopflow-key-account-revisits", KeyAccountRevisits.run, CareRun(), _at(8, 30),
                "Daily 08:30: customer.revisit tasks for key accounts due a revisit"),
    ScheduleDef("shopflow-weekly-stocktake", WeeklyStocktake.run, CareRun(),
                _at(7, day_of_week=[1]), "Mondays 07:00: the week's inventory.stocktake task"),
    ScheduleDef("shopflow-due-followups", DueFollowups.run, CareRun(),
                ScheduleCalendarSpec(minute=[ScheduleRange(15)], hour=[ScheduleRange(0, 23)]),
                "Hourly at :15: start follow-ups that orders or returns left due"),
    ScheduleDef("shopflow-backorder-sweep", BackorderSweepWorkflow.run, SweepRun(),
                ScheduleCalendarSpec(minute=[ScheduleRange(0, 59, 10)],
                                     hour=[ScheduleRange(0, 23)]),
                "Every 10 minutes: wake cases waiting for stock whose receipt's wake-up was lost"),
    ScheduleDef("shopflow-monthly-kpi-report", KpiReport.run, ReportRequest(kind="monthly"),
                _at(6, day_of_month=[1]), "1st of the month 06:00: last month's KPI report"),
    ScheduleDef("shopflow-quarterly-kpi-report", KpiReport.run, ReportRequest(kind="quarterly"),
                _at(6, 30, day_of_month=[1], month=[1, 4, 7, 10]),
                "1st of Jan/Apr/Jul/Oct 06:30: last quarter's KPI report"),
    ScheduleDef("shopflow-inbound-mail", InboundMailPoll.run, MailPoll(), None,
                "Every SHOPFLOW_INBOUND_MAIL_POLL: customers' e-mail replies to their complaints",
                every="inbound_mail_poll"),
    ScheduleDef("shopflow-overstock", OverstockReview.run, OverstockRun(), _at(7, 30),
                "Daily 07:30: inventory.overstock tasks for stock that has not moved for "
                "SHOPFLOW_OVERSTOCK_DAYS (once per SKU per period)"),
    ScheduleDef("shopflow-provider-reconciliation", ProviderReconciliation.run, ReconcileRun(),
                _at(6, 15), "Daily 06:15: yesterday's books against the payment provider's "
                "report; a finance task per difference"),
    ScheduleDef("shopflow-staff-digest", StaffDigest.run, StaffRun(),
                ScheduleCalendarSpec(minute=[ScheduleRange(0)], hour=[ScheduleRange(0, 23)]),
                "Hourly: each person's digest of new tasks (those who chose the digest)"),
    ScheduleDef("shopflow-overdue-summary", OverdueSummary.run, StaffRun(), _at(9),
                "Daily 09:00: ops' summary of overdue tasks"),
]


def build(defn: ScheduleDef, settings: Settings) -> Schedule:
    arg = defn.arg
    if isinstance(arg, CareRun):  # a long day's list continues as new above this
        arg = dataclasses.replace(arg, history_limit=settings.history_event_limit)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            defn.workflow, arg, id=defn.id.removeprefix("shopflow-"),
            task_queue=settings.task_queue, execution_timeout=timedelta(hours=1),
        ),
        spec=ScheduleSpec(
            calendars=[defn.calendar] if defn.calendar else [],
            intervals=[ScheduleIntervalSpec(every=getattr(settings, defn.every))]
            if defn.every else [],
            time_zone_name=settings.zone_name),
        # A run that is late (the cluster was down) still runs within a day; never two at once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(days=1)),
        state=ScheduleState(note=defn.note),
    )


async def sync_schedules(client: Client, settings: Settings) -> list[tuple[str, str]]:
    """Create each schedule, or bring an existing one up to date (keeping it paused if ops
    paused it). Returns (schedule id, "created" | "updated")."""
    done: list[tuple[str, str]] = []
    for defn in DEFINITIONS:
        schedule = build(defn, settings)
        try:
            await client.create_schedule(defn.id, schedule)
            done.append((defn.id, "created"))
            continue
        except ScheduleAlreadyRunningError:
            pass

        def keep_state(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
            old = current.description.schedule.state
            new.state = ScheduleState(note=old.note if old.paused else new.state.note,
                                      paused=old.paused)
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(defn.id).update(keep_state)
        done.append((defn.id, "updated"))
    return done
