"""Scheduled care's pure rules: the business keys of the cases a run opens, what a revisit's
and a stocktake's decision must carry, and the notices a run sends. No I/O and no workflow
state: imported in the workflow sandbox, tested without a workflow."""

from __future__ import annotations

from typing import Any

from shopflow.workflows.base import rejection
from shopflow.workflows.care_payloads import Greeting, ReportStored
from shopflow.workflows.shared import ErrorType, NoticeRequest
from shopflow.workflows.vocab import RevisitDecision, StocktakeDecision, TaskKind

REVISIT = TaskKind.REVISIT
STOCKTAKE = TaskKind.STOCKTAKE
REVISIT_DECISIONS = (RevisitDecision.DONE.value, RevisitDecision.UNREACHABLE.value)
# What the stocktake task shows a person about its decision.
STOCKTAKE_DECISIONS_HELP = {"counted": "{counts: [{sku, counted}]} (SKUs not listed stay as "
                                       "booked)"}


def revisit_id(customer_id: str, day: str) -> str:
    """One revisit per key account and day (``day`` YYYY-MM-DD)."""
    return f"revisit-{customer_id}-{day.replace('-', '')}"


def stocktake_id(day: str) -> str:
    """One stocktake per week's run day (``day`` YYYY-MM-DD)."""
    return f"stocktake-{day.replace('-', '')}"


def check_revisit(kind: str, decision: str, data: dict[str, Any]) -> None:
    if decision not in REVISIT_DECISIONS:
        raise rejection(ErrorType.INVALID, "invalid_decision",
                        f"{kind} takes one of: {', '.join(REVISIT_DECISIONS)}",
                        allowed=list(REVISIT_DECISIONS))
    notes = data.get("notes")
    if not isinstance(notes, str) or not notes.strip():
        raise rejection(ErrorType.INVALID, "missing_field", "notes is required", field="notes")


def revisit_status(decision: str | None) -> str:
    return "done" if decision == RevisitDecision.DONE else "unreachable"


def check_counts(kind: str, decision: str, data: dict[str, Any]) -> None:
    """A stocktake's ``counted``: a list of ``{sku, counted >= 0}``, each SKU once."""
    if decision != StocktakeDecision.COUNTED:
        raise rejection(ErrorType.INVALID, "invalid_decision",
                        f"{kind} takes: counted", allowed=["counted"])
    counts = data.get("counts")
    if not isinstance(counts, list) or not counts:
        raise rejection(ErrorType.INVALID, "missing_field",
                        "counts is a list of {sku, counted}", field="counts")
    seen: set[str] = set()
    for line in counts:
        sku = line.get("sku") if isinstance(line, dict) else None
        counted = line.get("counted") if isinstance(line, dict) else None
        if not isinstance(sku, str) or sku in seen:
            raise rejection(ErrorType.INVALID, "invalid_item",
                            f"{sku!r} is not a SKU (or is listed twice)", sku=sku)
        seen.add(sku)
        if not isinstance(counted, int) or isinstance(counted, bool) or counted < 0:
            raise rejection(ErrorType.INVALID, "invalid_quantity",
                            f"counted for {sku} must be a whole number, 0 or more", sku=sku)


def birthday_notice(customer_id: str, year: int, greeting: Greeting) -> NoticeRequest:
    """The greeting, once per customer and year."""
    return NoticeRequest(dedup_key=f"birthday:{customer_id}:{year}", kind="birthday_greeting",
                         case_id=None, customer_id=customer_id,
                         data={"name": greeting.name, "coupon_code": greeting.coupon_code,
                               "valid_until": greeting.valid_until})


def report_notice(report: ReportStored) -> NoticeRequest:
    """A stored KPI report to the ops address, once per report and generation."""
    return NoticeRequest(dedup_key=f"report:{report.id}:{report.generated}", kind="kpi_report",
                         case_id=None,
                         data={"report_id": report.id, "kind": report.kind,
                               "period": report.period, "summary": report.summary})
