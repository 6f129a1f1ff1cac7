"""Data shared by workflows, activities and the API: one dataclass in, one out.

This module is imported inside the workflow sandbox for every cached case, so it stays small
and imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


# Activity names: workflows call activities by name so that a workflow module never imports
# activity code (database, SMTP …) into the sandbox.
class Act:
    CASE_RECORD = "cases.record"
    CASE_ARCHIVE = "cases.archive"
    TASK_CREATE = "tasks.create"
    TASK_CLOSE = "tasks.close"
    TASK_ESCALATE = "tasks.escalate"
    TASK_CANCEL_OPEN = "tasks.cancel_open"
    STOCK_RESERVE = "inventory.reserve"
    STOCK_CONSUME = "inventory.consume"
    STOCK_RELEASE = "inventory.release"
    CUSTOMER_UPSERT = "customers.upsert"
    REVIEW_CONTEXT = "customers.review_context"
    NOTICE_SEND = "notices.send"
    FEEDBACK_OPEN = "feedback.open"
    FEEDBACK_ANSWERED = "feedback.answered"
    FEEDBACK_CLOSE = "feedback.close"
    # customer care (complaints, follow-ups, scheduled care, reports)
    COMPLAINT_RECORD = "complaints.record"
    COMPLAINT_TASK_SYNC = "complaints.task_sync"
    COMPLAINT_OPEN = "complaints.open"
    COMPLAINT_START_RETURN = "complaints.start_return"
    FOLLOWUP_START = "followups.start"
    FOLLOWUP_CONTACT = "followups.contact"
    CARE_BIRTHDAYS_DUE = "care.birthdays_due"
    CARE_BIRTHDAY_GREET = "care.birthday_greet"
    CARE_REVISITS_DUE = "care.revisits_due"
    CARE_REVISIT_OPEN = "care.revisit_open"
    CARE_REVISIT_CLOSE = "care.revisit_close"
    CARE_STOCKTAKE_SHEET = "care.stocktake_sheet"
    CARE_STOCKTAKE_ADJUST = "care.stocktake_adjust"
    REPORT_GENERATE = "reports.generate"


# Error types carried by non-retryable ApplicationErrors; the API maps them to HTTP in one place.
class ErrorType:
    INVALID = "InvalidInput"  # 422
    CONFLICT = "Conflict"  # 409
    NOT_FOUND = "NotFound"  # 404
    INSUFFICIENT_STOCK = "InsufficientStock"  # 422


@dataclass
class Actor:
    name: str = "system"
    role: str = "system"


@dataclass
class StockLine:
    sku: str
    quantity: int


@dataclass
class CustomerData:
    id: str
    name: str = ""
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    locale: str | None = None


# --- human tasks ---------------------------------------------------------------------------

@dataclass
class TaskCreate:
    task_id: str
    kind: str
    role: str
    case_id: str
    case_kind: str
    workflow_id: str
    due_at: datetime
    context: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass
class TaskClose:
    task_id: str
    status: str  # done | cancelled
    at: datetime
    decision: dict[str, Any] | None = None
    actor: str | None = None


@dataclass
class TaskEscalate:
    task_id: str
    role: str
    at: datetime


@dataclass
class CaseTasksCancel:
    workflow_id: str
    at: datetime


@dataclass
class CompleteTaskInput:
    """What a person decided on a task, sent by the API as a Temporal Update."""

    task_id: str
    decision: str
    data: dict[str, Any] = field(default_factory=dict)
    comment: str = ""
    actor: Actor = field(default_factory=Actor)


@dataclass
class CancelInput:
    reason: str = ""
    actor: Actor = field(default_factory=Actor)


@dataclass
class TaskOutcome:
    task_id: str
    kind: str
    decision: str
    case_id: str
    case_status: str
    case_stage: str
    result: dict[str, Any] = field(default_factory=dict)


# --- case read-model -----------------------------------------------------------------------

@dataclass
class TimelineEntry:
    seq: int
    at: datetime
    type: str
    message: str = ""
    actor: str = "system"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseRecord:
    case_id: str
    kind: str
    workflow_id: str
    status: str
    stage: str
    customer_id: str | None
    data: dict[str, Any]
    version: int
    at: datetime
    events: list[TimelineEntry] = field(default_factory=list)
    closed: bool = False


@dataclass
class ArchiveRequest:
    case_id: str
    kind: str
    at: datetime


# --- stock ---------------------------------------------------------------------------------

@dataclass
class ReserveRequest:
    key: str
    lines: list[StockLine]
    actor: str = "system"


@dataclass
class ReservationKey:
    key: str
    actor: str = "system"
    ref: str = ""


@dataclass
class ReviewContextRequest:
    customer_id: str
    skus: list[str]


# --- notices and feedback ------------------------------------------------------------------

@dataclass
class NoticeRequest:
    dedup_key: str
    kind: str  # the template name
    case_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    customer_id: str | None = None  # None: the notice goes to the ops mailbox


@dataclass
class FeedbackOpen:
    token: str
    case_id: str
    workflow_id: str
    kind: str


@dataclass
class FeedbackAnswered:
    token: str
    response: dict[str, Any]
    at: datetime


@dataclass
class FeedbackInput:
    token: str
    satisfaction: int
    usage: str = ""
    suggestions: str = ""
    problem: str | None = None


# --- customer care -------------------------------------------------------------------------

@dataclass
class FollowupStart:
    """Start the satisfaction follow-up of an order (activity ``followups.start``); one per
    order and reason: ``followup-<order_no>`` for a delivery, ``followup-<order_no>-<reason>``
    otherwise. Starting it again is a no-op."""

    order_no: str
    customer_id: str
    reason: str = "delivered"  # delivered | quality_return | …
    ref: str = ""  # what triggered it (a return id, a tracking number …)
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ComplaintOpen:
    """Open a complaint from another process (activity ``complaints.open``); ``key`` makes the
    complaint id, so a retry opens the same complaint."""

    key: str
    customer_id: str
    category: str
    description: str
    order_no: str | None = None
    channel: str = "followup"
    opened_by: str = "system"
