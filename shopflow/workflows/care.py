"""Scheduled care and reports (seeds 001-003: birthday care, periodic revisits, stocktakes,
quarterly KPI review). Each Temporal Schedule (see shopflow/schedules.py) runs one small workflow
here; the ones that need a person start a case per customer or per week with a business-key id,
so a repeated run opens nothing twice.

``as_of`` (YYYY-MM-DD) pins the day a run acts for; without it the day is today in the
schedule's time zone (the activities work it out, outside the sandbox).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from shopflow.workflows.base import (
    ACTIVITY_TIMEOUT,
    DB_RETRY,
    NOTICE_RETRY,
    CaseWorkflow,
    HumanTask,
    history_too_long,
)
from shopflow.workflows.care_payloads import (
    BirthdayGreet,
    BirthdaysDue,
    CareResult,
    CareRun,
    CaseStart,
    DayQuery,
    Greeting,
    ReportGenerate,
    ReportRequest,
    ReportStored,
    RevisitClose,
    RevisitContext,
    RevisitInput,
    RevisitOpen,
    RevisitsDue,
    StocktakeAdjust,
    StocktakeAdjusted,
    StocktakeInput,
    StocktakeSheet,
)
from shopflow.workflows.care_rules import (
    REVISIT,
    STOCKTAKE,
    STOCKTAKE_DECISIONS_HELP,
    birthday_notice,
    check_counts,
    check_revisit,
    report_notice,
    revisit_id,
    revisit_status,
    stocktake_id,
)
from shopflow.workflows.notice_resend import GIVE_UP_ACTIVITY
from shopflow.workflows.shared import Act, CompleteTaskInput, NoticeRequest, SweepRun, SweepStarted

# Scheduled notices take the give-up path (issue 14.7): a run recorded before failed instead.
SCHEDULED_NOTICE_GIVE_UP = "scheduled-notice-give-up"
# A day's long list continues as new above the history limit (issue 14.6).
CARE_CONTINUE_AS_NEW = "care-continue-as-new"


async def _act(name: str, arg: Any, result_type: type | None = None) -> Any:
    return await workflow.execute_activity(name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                           retry_policy=DB_RETRY, result_type=result_type)


async def _send_notice(request: NoticeRequest) -> bool:
    """A scheduled run's notice through the give-up path every case's notice takes: one that
    cannot be sent (a refused address, SMTP down past the retries) is settled as failed, ops
    are told, and the run goes on with the next. False when it was given up."""
    try:
        await workflow.execute_activity(Act.NOTICE_SEND, request,
                                        start_to_close_timeout=timedelta(seconds=60),
                                        retry_policy=NOTICE_RETRY)
        return True
    except ActivityError as err:
        if not workflow.patched(SCHEDULED_NOTICE_GIVE_UP):
            raise  # runs recorded before: the run failed here
        workflow.logger.warning("notice %s not sent: %s", request.dedup_key, err.cause)
        await _act(GIVE_UP_ACTIVITY, request)
        return False


def _go_on_as_new(run: CareRun, todo: list[str], result: CareResult, **day: Any) -> None:
    """A day with many customers: above the history limit the run continues as new with the
    customers still to do (each step is keyed, so none is done twice)."""
    if history_too_long(run.history_limit) and workflow.patched(CARE_CONTINUE_AS_NEW):
        workflow.continue_as_new(dataclasses.replace(run, carry={
            "todo": todo, "result": asdict(result), **day}))


async def _start_case(req: CaseStart) -> bool:
    """Start a case workflow that outlives this run; False if it exists already. (An activity
    with the worker's client rather than an abandoned child: the case stands on its own.)"""
    started = await _act(Act.CARE_START_CASE, req, result_type=bool)
    return bool(started)


# --- birthday care --------------------------------------------------------------------------

@workflow.defn(name="BirthdayCare")
class BirthdayCare:
    """Customers whose birthday is today get a greeting with a coupon, once a year each."""

    @workflow.run
    async def run(self, run: CareRun) -> CareResult:
        if run.carry is None:
            due: BirthdaysDue = await _act(Act.CARE_BIRTHDAYS_DUE,
                                           DayQuery(workflow.now(), run.as_of),
                                           result_type=BirthdaysDue)
            result = CareResult(day=due.date, skipped=list(due.no_contact))
            todo, year = list(due.customers), due.year
        else:
            result = CareResult(**run.carry["result"])
            todo, year = list(run.carry["todo"]), int(run.carry["year"])
        for n, customer_id in enumerate(todo):
            _go_on_as_new(run, todo[n:], result, year=year)
            greeting: Greeting = await _act(Act.CARE_BIRTHDAY_GREET,
                                            BirthdayGreet(customer_id, year, result.day),
                                            result_type=Greeting)
            sent = await _send_notice(birthday_notice(customer_id, year, greeting))
            (result.started if sent else result.failed).append(customer_id)
        return result


# --- key-account revisits -------------------------------------------------------------------

@workflow.defn(name="KeyAccountRevisits")
class KeyAccountRevisits:
    """Key accounts not revisited within the revisit interval get a ``customer.revisit`` task."""

    @workflow.run
    async def run(self, run: CareRun) -> CareResult:
        if run.carry is None:
            due: RevisitsDue = await _act(Act.CARE_REVISITS_DUE,
                                          DayQuery(workflow.now(), run.as_of),
                                          result_type=RevisitsDue)
            result = CareResult(day=due.date)
            todo, task_due = list(due.customers), float(due.task_due)
        else:
            result = CareResult(**run.carry["result"])
            todo, task_due = list(run.carry["todo"]), float(run.carry["task_due"])
        for n, customer_id in enumerate(todo):
            _go_on_as_new(run, todo[n:], result, task_due=task_due)
            case_id = revisit_id(customer_id, result.day)
            started = await _start_case(CaseStart(case_id, revisit=RevisitInput(
                case_id, customer_id, task_due)))
            (result.started if started else result.skipped).append(case_id)
        return result


@workflow.defn(name="CustomerRevisit")
class CustomerRevisit(CaseWorkflow):
    KIND = "revisit"
    LOCAL = True

    @workflow.run
    async def run(self, inp: RevisitInput) -> dict[str, Any]:
        self.start_case(inp.revisit_id, inp.customer_id, inp.task_due, clock=inp.clock)
        context: RevisitContext = await self.activity(
            Act.CARE_REVISIT_OPEN, RevisitOpen(inp.revisit_id, inp.customer_id, workflow.now()),
            result_type=RevisitContext)
        self.data = {"id": inp.revisit_id, "customer": context.customer, "outcome": None}
        await self.record("opened", "key-account revisit due", status="open", stage="revisit")
        task = await self.human_task(REVISIT, "cs", asdict(context))
        status = revisit_status(task.decision)
        await self.activity(Act.CARE_REVISIT_CLOSE, RevisitClose(
            inp.revisit_id, status, task.data.get("notes", ""), task.actor or "system",
            workflow.now()))
        self.data["outcome"] = {"status": status, "notes": task.data.get("notes", ""),
                                "by": task.actor}
        await self.record("closed", f"revisit {status}", status="closed", stage="closed",
                          closed=True)
        await self.finish()
        return {"status": status}

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_revisit(task.kind, inp.decision, inp.data)


# --- stocktake ------------------------------------------------------------------------------

@workflow.defn(name="WeeklyStocktake")
class WeeklyStocktake:
    """Opens this week's stocktake case (``stocktake-<yyyymmdd>``)."""

    @workflow.run
    async def run(self, run: CareRun) -> CareResult:
        day: StocktakeSheet = await _act(Act.CARE_STOCKTAKE_SHEET,
                                         DayQuery(workflow.now(), run.as_of),
                                         result_type=StocktakeSheet)
        case_id = stocktake_id(day.date)
        started = await _start_case(CaseStart(case_id, stocktake=StocktakeInput(
            case_id, float(day.task_due))))
        return CareResult(day=day.date, started=[case_id] if started else [],
                          skipped=[] if started else [case_id])


@workflow.defn(name="Stocktake")
class Stocktake(CaseWorkflow):
    """An ``inventory.stocktake`` task; the counted quantities set ``on_hand``, each difference
    booked as a stock movement (reason ``stocktake``)."""

    KIND = "stocktake"
    LOCAL = True

    @workflow.run
    async def run(self, inp: StocktakeInput) -> dict[str, Any]:
        self.start_case(inp.stocktake_id, None, inp.task_due, clock=inp.clock)
        sheet: StocktakeSheet = await self.activity(
            Act.CARE_STOCKTAKE_SHEET, DayQuery(workflow.now()), result_type=StocktakeSheet)
        self.data = {"id": inp.stocktake_id, "lines": sheet.lines, "adjustments": None}
        await self.record("opened", f"stocktake of {len(sheet.lines)} SKUs", status="open",
                          stage="counting")
        task = await self.human_task(STOCKTAKE, "warehouse", {
            "lines": sheet.lines,
            "decisions": STOCKTAKE_DECISIONS_HELP,
        })
        changed = [a for a in task.result.get("adjustments", []) if a["delta"]]
        await self.record("adjusted", f"{len(changed)} SKU(s) adjusted", actor=task.actor or "system",
                          status="closed", stage="closed", closed=True,
                          adjustments=task.result.get("adjustments", []))
        await self.finish()
        return {"status": "closed", "adjusted": len(changed)}

    def validate_decision(self, task: HumanTask, inp: CompleteTaskInput) -> None:
        check_counts(task.kind, inp.decision, inp.data)

    async def apply_decision(self, task: HumanTask, inp: CompleteTaskInput) -> dict[str, Any]:
        result: StocktakeAdjusted = await self.activity(
            Act.CARE_STOCKTAKE_ADJUST,
            StocktakeAdjust(self.case_id, inp.data["counts"], inp.actor.name),
            result_type=StocktakeAdjusted)
        self.data["adjustments"] = result.adjustments
        return {"adjustments": result.adjustments}


# --- due follow-ups ------------------------------------------------------------------------

@workflow.defn(name="DueFollowups")
class DueFollowups:
    """Starts follow-ups that orders and returns recorded as due but could not start."""

    @workflow.run
    async def run(self, run: CareRun) -> CareResult:
        if workflow.patched("typed-due-followups"):
            swept: SweepStarted = await workflow.execute_activity(
                Act.FOLLOWUP_SWEEP, SweepRun(), start_to_close_timeout=timedelta(minutes=5),
                retry_policy=DB_RETRY, result_type=SweepStarted)
            started = swept.started
        else:  # runs recorded before: no input, a bare list out
            started = await workflow.execute_activity(
                Act.FOLLOWUP_START_DUE, start_to_close_timeout=timedelta(minutes=5),
                retry_policy=DB_RETRY, result_type=list)
        return CareResult(day=workflow.now().date().isoformat(), started=list(started))


# --- KPI reports ----------------------------------------------------------------------------

@workflow.defn(name="KpiReport")
class KpiReport:
    """Renders and stores a KPI report (HTML and CSV) and mails it to the ops address."""

    @workflow.run
    async def run(self, req: ReportRequest) -> ReportStored:
        report: ReportStored = await _act(Act.REPORT_GENERATE, ReportGenerate(
            req.kind, workflow.now(), req.as_of, req.start, req.end, req.requested_by),
            result_type=ReportStored)
        await _send_notice(report_notice(report))
        return report


CARE_WORKFLOWS = [BirthdayCare, KeyAccountRevisits, CustomerRevisit, WeeklyStocktake, Stocktake,
                  DueFollowups, KpiReport]
