"""The scheduled care runs' and reports' inputs, results and activity payloads (one dataclass
in, one out). Standard library only: imported in the workflow sandbox, by the services and the
activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shopflow.workflows.business_time import TaskClock


@dataclass
class CareRun:
    """Input of every scheduled care workflow."""

    as_of: str | None = None
    # Events before a run goes on as new (the schedules carry the setting; 0: never).
    history_limit: int = 0
    # A run continued as new: the day's customers still to do and what was done so far.
    carry: dict[str, Any] | None = None


@dataclass
class DayQuery:
    at: datetime
    as_of: str | None = None


@dataclass
class BirthdayGreet:
    customer_id: str
    year: int
    day: str  # YYYY-MM-DD, the day greeted


@dataclass
class RevisitInput:
    revisit_id: str
    customer_id: str
    task_due: float
    # business hours (issue 17.5): filled by the care.start_case activity (older cases: none)
    clock: TaskClock | None = None


@dataclass
class RevisitOpen:
    revisit_id: str
    customer_id: str
    at: datetime


@dataclass
class RevisitClose:
    revisit_id: str
    status: str  # done | unreachable
    notes: str
    actor: str
    at: datetime


@dataclass
class StocktakeInput:
    stocktake_id: str
    task_due: float
    clock: TaskClock | None = None  # as RevisitInput's


@dataclass
class StocktakeAdjust:
    stocktake_id: str
    counts: list[dict[str, Any]]
    actor: str


@dataclass
class ReportRequest:
    """A KPI report: ``monthly`` / ``quarterly`` cover the month / quarter holding the day
    before ``as_of`` (default today: on the 1st the last complete one, mid-period the period so
    far); ``adhoc`` covers ``start`` to ``end`` (dates, inclusive)."""

    kind: str = "monthly"
    as_of: str | None = None
    start: str | None = None
    end: str | None = None
    requested_by: str = "schedule"


@dataclass
class ReportGenerate:
    kind: str
    at: datetime
    as_of: str | None = None
    start: str | None = None
    end: str | None = None
    requested_by: str = "schedule"


@dataclass
class CaseStart:
    """Start a case workflow that outlives the scheduled run (activity ``care.start_case``):
    exactly one of ``revisit`` / ``stocktake``; the workflow id is the business key."""

    workflow_id: str
    revisit: RevisitInput | None = None
    stocktake: StocktakeInput | None = None


@dataclass
class BirthdaysDue:
    """Who is greeted on ``date`` (and who has a birthday but may not be contacted)."""

    date: str
    year: int
    customers: list[str] = field(default_factory=list)
    no_contact: list[str] = field(default_factory=list)


@dataclass
class Greeting:
    coupon_code: str
    name: str
    valid_until: str


@dataclass
class RevisitsDue:
    date: str
    task_due: float
    customers: list[str] = field(default_factory=list)


@dataclass
class RevisitContext:
    """What the person who calls a key account sees (the revisit task's context)."""

    customer: dict[str, Any]
    recent_orders: list[dict[str, Any]] = field(default_factory=list)
    recent_complaints: list[dict[str, Any]] = field(default_factory=list)
    recent_returns: list[dict[str, Any]] = field(default_factory=list)
    last_revisit: dict[str, Any] | None = None


@dataclass
class StocktakeSheet:
    date: str
    task_due: float
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StocktakeAdjusted:
    adjustments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReportStored:
    id: str
    kind: str
    generated: str
    period: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class CareResult:
    day: str
    started: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # greeted, but the notice was given up
