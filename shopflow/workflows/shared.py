"""Data shared by workflows, activities and the API: one dataclass in, one out.

This module is imported inside the workflow sandbox for every cached case, so it stays small
and imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    STOCK_AVAILABLE = "inventory.available"
    BACKORDER_WAKE = "inventory.wake_backorders"
    BACKORDER_SWEEP = "inventory.wake_missed"
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
    ENQUIRY_ORDER = "enquiries.order"
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
    CARE_START_CASE = "care.start_case"
    FOLLOWUP_SWEEP = "followups.sweep"
    # Before patch "typed-due-followups" (no input, a bare list out): kept for runs that
    # scheduled it then; new runs call FOLLOWUP_SWEEP.
    FOLLOWUP_START_DUE = "followups.start_due"
    REPORT_GENERATE = "reports.generate"
    # orders (fulfilment), payments, shipping; returns reuse the refund and shipment ones
    ORDER_RESERVE = "orders.reserve_lines"
    ORDER_STOCK_SETTLE = "orders.settle_stock"
    ORDER_UPDATE = "orders.update"
    # Before patch "typed-stock-context" (a list of SKUs in, a bare dict out): kept for cases
    # that scheduled it then; new code calls STOCK_AVAILABLE.
    ORDER_STOCK_CONTEXT = "orders.stock_context"
    ORDER_SETTLE = "orders.settle"
    PAYMENT_CAPTURE = "payments.capture"
    PAYMENT_COLLECT_COD = "payments.collect_cod"
    PAYMENT_REFUND = "payments.refund"
    SHIPMENT_REGISTER = "shipping.register"
    SHIPMENT_EVENT = "shipping.record_event"
    RETURN_UPDATE = "returns.update"
    RETURN_CONTEXT = "returns.context"
    RETURN_RESTOCK = "returns.restock"
    RETURN_FOLLOWUP_DUE = "returns.followup_due"


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
    # Who sent these details, and whether they may change a known customer's contact details
    # (customer service may; a channel's differing details become a proposal for cs).
    source: str | None = None
    overwrite: bool = False


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
class AssignTaskInput:
    """Ops or admin hands a task to a person (POST /tasks/{id}/assign): the case's timeline
    records it."""

    task_id: str
    to: str
    actor: Actor = field(default_factory=Actor)


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
    # partial: ``data`` holds only the keys changed since the last acknowledged record (merged
    # into the stored case); appends: items added to a list the database keeps (long texts
    # such as a complaint's messages), each with a "key" so a retried write adds it once.
    partial: bool = False
    appends: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


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
class StockMoved:
    """What a reservation, a settlement or a restock moved, by SKU."""

    quantities: dict[str, int] = field(default_factory=dict)


@dataclass
class StockQuery:
    skus: list[str]


@dataclass
class StockLevels:
    """Available now (on hand less reserved), by SKU."""

    available: dict[str, int] = field(default_factory=dict)


@dataclass
class ReviewContextRequest:
    customer_id: str
    skus: list[str]
    sample_id: str = ""  # the request under review (left out of its customer's past ones)


@dataclass
class ReviewContext:
    """What a sample's reviewer sees about the customer and the stock (seed 000 2.1): the
    customer's earlier sample requests with their outcome and whether an order followed, and
    how many samples they had in the limit's period (absent from older cases' histories)."""

    credit_rating: str
    tags: list[str]
    purchase_history: dict[str, Any]
    stock_available: dict[str, int]
    past_samples: list[dict[str, Any]] = field(default_factory=list)
    sample_limit: dict[str, Any] = field(default_factory=dict)


@dataclass
class DocumentAdded:
    """A qualification document stored for a sample request (the ``add_document`` Update)."""

    id: str
    filename: str
    content_type: str
    size: int
    actor: str = "system"


# --- notices and feedback ------------------------------------------------------------------

@dataclass
class NoticeRequest:
    dedup_key: str
    kind: str  # the template name
    case_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    customer_id: str | None = None  # None: the notice goes to the ops mailbox
    # Staff notices for people (issue 17.4): "task" goes to the task's (data["task_id"])
    # assignee, else the people of its role, each as their preference says (at once, or kept
    # for their hourly digest); "digest" is one person's (data["person"]) digest; "": the
    # customer or the ops mailbox, as before.
    audience: str = ""


@dataclass
class FeedbackOpen:
    token: str  # hashed=True: the link's ref (the secret is derived outside); else the old token
    case_id: str
    workflow_id: str
    kind: str
    hashed: bool = False  # set by cases from patch feedback-link-hashed on


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
    complaint: bool = False  # the customer asks for a formal complaint
    complaint_text: str | None = None
    dissatisfied: bool = False  # "not satisfied", ticked on the form


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
class SweepRun:
    """A run of a sweep that starts what was left undone: follow-ups left due
    (``followups.sweep``), receipts' lost wake-ups (``inventory.wake_missed``)."""

    requested_by: str = "schedule"


@dataclass
class SweepStarted:
    """The workflows a sweep started (their ids)."""

    started: list[str] = field(default_factory=list)


@dataclass
class FollowupStarted:
    workflow_id: str
    case_id: str
    status: str  # started | already_started


@dataclass
class ComplaintOpened:
    id: str
    workflow_id: str


@dataclass
class EnquiryOrder:
    """The order an enquiry is handed over to (activity ``enquiries.order``): one of the
    customer's; its summary comes back, or the activity refuses it."""

    order_no: str
    customer_id: str


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


@dataclass
class ComplaintSnapshot:
    """The complaints row (activity ``complaints.record``); the newest version wins."""

    id: str
    workflow_id: str
    customer_id: str
    order_no: str | None
    category: str
    channel: str
    description: str
    status: str
    level: int
    escalations: int
    reopened: int
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_at: datetime | None
    response_sla_met: bool | None
    resolved_at: datetime | None
    resolution_sla_met: bool | None
    resolution: str | None
    satisfaction: int | None
    closed_at: datetime | None
    version: int
    at: datetime


@dataclass
class ReturnStarted:
    """The answer of ``complaints.start_return``: the return started, or refused with the
    returns process's reason (a refusal is an answer, not an error)."""

    status: str  # started | refused
    order_no: str
    id: str | None = None
    workflow_id: str | None = None
    code: str | None = None
    message: str | None = None

    def view(self) -> dict[str, Any]:
        """The answer as the case shows it (the fields it has)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class TaskSync:
    """Bring the inbox row of the handling task up to date (activity ``complaints.task_sync``)."""

    task_id: str
    role: str
    escalated: bool
    level: int
    due_at: datetime | None = None


@dataclass
class ReturnStart:
    """A return asked for by a quality complaint's resolution (``complaints.start_return``)."""

    key: str
    complaint_id: str
    order_no: str
    customer_id: str
    items: list[dict[str, Any]]
    kind: str
    reason: str
    actor: str = "system"


# --- orders, payments, shipping ------------------------------------------------------------
# Money travels in whole cents.

@dataclass
class OrderLineData:
    sku: str
    quantity: int
    unit_price_cents: int
    name: str = ""


@dataclass
class OrderReserve:
    """Reserve lines for a case, one reservation per line keyed ``<workflow_id>:r<round>:<sku>``.
    Short lines are left waiting for a receipt (a backorder) unless ``all_or_none``, which
    refuses the whole request with ``insufficient_stock`` instead."""

    workflow_id: str
    case_kind: str
    case_id: str
    round: int
    lines: list[StockLine]
    actor: str = "system"
    all_or_none: bool = False


@dataclass
class StockSettle:
    """Consume (stock leaves with a parcel) or release the reservations under these keys."""

    keys: list[str]
    outcome: str  # consumed | released
    actor: str = "system"
    ref: str = ""
    close_waits_of: str | None = None  # a workflow id whose backorder waits end too


@dataclass
class OrderUpdate:
    """Status and KPI times of an order row; ``version`` orders the writes of one workflow."""

    order_no: str
    version: int
    at: datetime
    status: str | None = None
    stage: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)  # paid_at, shipped_at …
    exception: dict[str, Any] | None = None
    cancel_reason: str | None = None


@dataclass
class PaymentCapture:
    order_no: str
    transaction_id: str
    amount_cents: int
    method: str  # online | cod
    at: datetime
    actor: str = "system"


@dataclass
class RefundRequest:
    """Give money back once per ``key`` (derived from the case step, never random)."""

    key: str
    order_no: str
    amount_cents: int
    reason: str
    case_kind: str
    case_id: str
    at: datetime
    actor: str = "system"


@dataclass
class ShipmentRegister:
    tracking_no: str
    courier: str
    order_no: str
    case_kind: str
    case_id: str
    workflow_id: str
    at: datetime
    direction: str = "outbound"  # outbound | return
    round: int = 1
    actor: str = "system"


@dataclass
class ShipmentEventInput:
    """A courier event for a tracking number (the ``shipment_event`` Update and its activity)."""

    tracking_no: str
    type: str  # in_transit | delivered | delayed | lost
    at: datetime
    note: str = ""
    actor: str = "system"


@dataclass
class BackorderWake:
    """Offer a receipt of ``sku`` to the cases waiting for it (the ``BackorderWake`` workflow)."""

    sku: str


@dataclass
class BackordersWoken:
    sku: str
    woken: int  # how many waiting cases took stock


@dataclass
class StockArrived:
    """A receipt of ``sku`` was booked: the ``stock_arrived`` Update of a waiting case."""

    sku: str


@dataclass
class OrderSettle:
    """Delivery settles an order: invoice, reconciliation line, follow-up due."""

    order_no: str
    at: datetime
    delivered_at: datetime
    tracking_no: str
    followup_workflow_id: str
    followup_due_at: datetime
    actor: str = "system"
    followup_status: str = "due"  # due | started


# --- what commerce activities answer ----------------------------------------------------------
# Decimal ``amount`` fields are the API's view of whole cents (two decimals).

@dataclass
class ReserveResult:
    """``orders.reserve_lines``: the SKUs reserved now, the short ones (waiting), and what is
    available of those."""

    reserved: list[str] = field(default_factory=list)
    short: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)


@dataclass
class Invoice:
    """``orders.settle``: the invoice of a delivered order."""

    invoice_no: str
    invoiced_at: str | None = None


@dataclass
class ShipmentView:
    """A parcel as registered (``shipping.register``) or after a courier event."""

    tracking_no: str
    courier: str
    order_no: str
    case_kind: str
    case_id: str
    direction: str
    round: int
    status: str
    tracking_url: str | None = None
    shipped_at: str | None = None
    delivered_at: str | None = None
    estimated_delivery: str | None = None


@dataclass
class PaymentView:
    """A payment booked on an order (``payments.capture``, ``payments.collect_cod``)."""

    order_no: str
    transaction_id: str
    method: str
    amount: float
    status: str
    provider_ref: str | None = None
    received_at: str | None = None
    recorded_by: str = "system"


@dataclass
class RefundView:
    """A refund under its key (``payments.refund``)."""

    id: int | None
    key: str
    order_no: str
    case_kind: str
    case_id: str
    amount: float
    method: str
    status: str
    transaction_id: str | None = None
    provider_ref: str | None = None
    reason: str = ""
    requested_by: str = "system"
    created_at: str | None = None
    completed_at: str | None = None


@dataclass
class ReturnContext:
    """``returns.context``: what the reviewer and finance see (the order and its money, the
    customer's earlier returns and return rate)."""

    order: dict[str, Any]
    customer_returns: list[dict[str, Any]]
    customer_orders: int
    return_rate: float | None
    paid: float
    refunded: float
    refundable_cents: int
    shipping_refunded: bool


# --- returns and exchanges -----------------------------------------------------------------

@dataclass
class ReturnUpdate:
    """Status, KPI times and fields of a return row; ``version`` orders the writes."""

    return_id: str
    version: int
    at: datetime
    status: str | None = None
    stage: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)  # approved_at, received_at …
    fields: dict[str, Any] = field(default_factory=dict)  # items, outcome, refund_amount …


@dataclass
class ReturnContextRequest:
    return_id: str
    order_no: str
    customer_id: str


@dataclass
class RestockLine:
    sku: str
    quantity: int
    resaleable: bool  # False: to the damaged count, not to sellable stock


@dataclass
class Restock:
    """Returned goods booked in once per ``key`` and SKU (stock movement audit records)."""

    key: str
    lines: list[RestockLine]
    actor: str = "system"
    ref: str = ""


@dataclass
class FollowupDueRecord:
    workflow_id: str
    source_kind: str
    source_id: str
    order_no: str
    customer_id: str | None
    reason: str
    due_at: datetime
    status: str = "due"  # due | started

