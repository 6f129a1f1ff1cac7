"""Promotion plans and overstock (seed 003 第八条 库存积压, 第九条 商品促销): the payloads of the
processes in workflows/promotion.py and their pure rules (what each decision must carry, the
period an overstock case belongs to). Standard library only: in PASSTHROUGH, tested without a
workflow in tests/test_process_rules.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shopflow.workflows.base import rejection, require_decision, require_text
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import TaskKind

# Activities (names, once).
PROMO_START = "promotions.start"  # start a promotion, its announcement or an overstock case
PROMO_AUDIENCE = "promotions.audience"
PROMO_REPORT = "promotions.report"
OVERSTOCK_DUE = "promotions.overstock_due"
OVERSTOCK_PROMOTE = "promotions.overstock_promote"
SUPPLIER_RETURN = "promotions.supplier_return"

REVIEW = TaskKind.PROMOTION_REVIEW
APPROVE = TaskKind.PROMOTION_APPROVE
OVERSTOCK = TaskKind.OVERSTOCK
# 第九条 "报相关部门审批": finance reviews the plan (prices, margins), ops approves it.
REVIEW_ROLE = "finance"
APPROVE_ROLE = "ops"
# 第八条 库存: the warehouse looks after stock and proposes what to do with what does not move.
OVERSTOCK_ROLE = "warehouse"
MAX_DISCOUNT = 90
MAX_DAYS = 366


class PromotionStatus(StrEnum):
    DRAFT = "draft"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class PromotionStage(StrEnum):
    REVIEW = "review"
    APPROVAL = "approval"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    CLOSED = "closed"


CANCELLABLE = frozenset({PromotionStage.REVIEW, PromotionStage.APPROVAL,
                         PromotionStage.SCHEDULED})
REVIEW_DECISIONS = frozenset({"pass", "reject"})
APPROVE_DECISIONS = frozenset({"approve", "reject"})
OVERSTOCK_DECISIONS = frozenset({"promote", "return_to_supplier", "keep"})
REVIEW_HELP = {"pass": "{note?}: on to ops for approval", "reject": "{reason}: the plan ends"}
APPROVE_HELP = {"approve": "{note?}: scheduled; it starts and ends by itself",
                "reject": "{reason}: the plan ends"}
OVERSTOCK_HELP = {
    "promote": "{discount_percent, start_at, end_at, target_tag?, segment?}: a promotion plan "
               "for this SKU goes to review",
    "return_to_supplier": "{quantity, note?}: the quantity leaves stock (reason supplier_return)",
    "keep": "{note}: nothing to do this period"}
SEGMENTS = ("all", "buyers")  # everyone (or a tag's customers), or who ordered its products


@dataclass
class PromotionTimers:
    """Copied from the settings when the plan is made (services.timers)."""

    task_due: timedelta
    notice_send: timedelta = timedelta(seconds=60)


@dataclass
class PromotionInput:
    promotion_id: str
    name: str
    skus: list[str]
    discount_percent: int
    start_at: datetime
    end_at: datetime
    timers: PromotionTimers
    description: str = ""
    target_tag: str | None = None
    segment: str = "all"
    created_by: str = "system"
    source: str | None = None  # the overstock case that proposed it


@dataclass
class AnnounceRun:
    """Tell the promotion's customers, each once (PromotionAnnounce)."""

    promotion_id: str
    name: str
    description: str
    discount_percent: int
    start_at: datetime
    end_at: datetime
    skus: list[str]
    target_tag: str | None = None
    segment: str = "all"
    history_limit: int = 0
    carry: dict[str, Any] | None = None


@dataclass
class AudienceQuery:
    promotion_id: str
    skus: list[str]
    target_tag: str | None = None
    segment: str = "all"


@dataclass
class Audience:
    customers: list[str] = field(default_factory=list)
    no_contact: int = 0


@dataclass
class Announced:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class ReportQuery:
    promotion_id: str
    skus: list[str]
    start_at: datetime
    end_at: datetime


@dataclass
class SalesReport:
    """Sales of the promotion's products while it ran, beside the same length before it."""

    orders: int = 0
    units: int = 0
    revenue_cents: int = 0
    by_sku: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)
    notified: int = 0


@dataclass
class OverstockRun:
    as_of: str | None = None  # YYYY-MM-DD; else today in the schedule's time zone


@dataclass
class OverstockInput:
    overstock_id: str
    sku: str
    period: str
    item: dict[str, Any]
    task_due: timedelta


@dataclass
class OverstockDue:
    day: str
    period: str
    days: int
    task_due: timedelta
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OverstockResult:
    day: str
    started: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class OverstockPromote:
    key: str  # the overstock case: one plan per case
    sku: str
    name: str
    discount_percent: int
    start_at: datetime
    end_at: datetime
    target_tag: str | None
    segment: str
    actor: str


@dataclass
class PromotionOpened:
    id: str
    workflow_id: str


@dataclass
class SupplierReturn:
    key: str
    sku: str
    quantity: int
    note: str
    actor: str


@dataclass
class CaseStart:
    """One of the processes to start by its business key (the start activity's input)."""

    workflow_id: str
    promotion: PromotionInput | None = None
    announce: AnnounceRun | None = None
    overstock: OverstockInput | None = None


# --- rules ---------------------------------------------------------------------------------------

def promotion_workflow_id(promotion_id: str) -> str:
    return f"promotion-{promotion_id}"


def announce_workflow_id(promotion_id: str) -> str:
    return f"promotion-announce-{promotion_id}"


def overstock_period(day: date, days: int) -> date:
    """The first day of the ``days``-long period ``day`` falls in (periods counted from
    0001-01-01), so a SKU gets one overstock case per period however often the run runs."""
    return date.fromordinal(((day.toordinal() - 1) // days) * days + 1)


def overstock_id(sku: str, period: date) -> str:
    return f"overstock-{sku}-{period.strftime('%Y%m%d')}"


def check_review(kind: str, decision: str, data: dict[str, Any]) -> None:
    allowed = REVIEW_DECISIONS if kind == REVIEW else APPROVE_DECISIONS
    require_decision(kind, decision, allowed)
    if decision == "reject":
        require_text(data, "reason")


def _when(data: dict[str, Any], key: str) -> datetime:
    value = data.get(key)
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise rejection(ErrorType.INVALID, "invalid_field", f"{key} is an ISO 8601 time",
                        field=key) from None
    if at.tzinfo is None:
        raise rejection(ErrorType.INVALID, "invalid_field", f"{key} needs a time zone",
                        field=key)
    return at


def check_plan_times(data: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    start, end = _when(data, "start_at"), _when(data, "end_at")
    if start < now:
        raise rejection(ErrorType.INVALID, "invalid_field", "start_at is in the past",
                        field="start_at")
    if not start < end <= start + timedelta(days=MAX_DAYS):
        raise rejection(ErrorType.INVALID, "invalid_field",
                        f"end_at is after start_at, within {MAX_DAYS} days", field="end_at")
    return start, end


def _int(data: dict[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise rejection(ErrorType.INVALID, "invalid_field",
                        f"{key} is a whole number from {low} to {high}", field=key)
    return value


def check_overstock(kind: str, decision: str, data: dict[str, Any], available: int,
                    now: datetime) -> None:
    require_decision(kind, decision, OVERSTOCK_DECISIONS)
    if decision == "promote":
        _int(data, "discount_percent", 1, MAX_DISCOUNT)
        check_plan_times(data, now)
        if data.get("segment", "all") not in SEGMENTS:
            raise rejection(ErrorType.INVALID, "invalid_field",
                            f"segment is one of {', '.join(SEGMENTS)}", field="segment")
    elif decision == "return_to_supplier":
        _int(data, "quantity", 1, max(available, 1))
    else:
        require_text(data, "note")
