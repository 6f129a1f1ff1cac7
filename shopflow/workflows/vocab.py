"""The words of the processes, defined once: roles, case kinds, task statuses, and each process's
statuses, stages and decisions as ``StrEnum`` (a member *is* its string, so JSON, the database
and older workflow histories see the same values as before).

Imported by workflows (inside the sandbox), services, activities, the API and the UI: standard
library only.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CHANNEL = "channel"
    CS = "cs"
    REVIEWER = "reviewer"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    OPS = "ops"
    ADMIN = "admin"
    PRODUCT = "product"  # product development: answers a sample reviewer's question (000 2.2)


ROLES: tuple[Role, ...] = tuple(Role)
# Who sees every role's tasks in the inbox (everyone else: their own role's).
SEES_ALL_TASKS: tuple[Role, ...] = (Role.OPS, Role.ADMIN)
# An overdue task is opened to this role as well.
ESCALATION_ROLE = Role.OPS


class CaseKind(StrEnum):
    SAMPLE = "sample"
    ORDER = "order"
    RETURN = "return"
    COMPLAINT = "complaint"
    FOLLOWUP = "followup"
    REVISIT = "revisit"
    STOCKTAKE = "stocktake"
    ENQUIRY = "enquiry"
    PROMOTION = "promotion"
    OVERSTOCK = "overstock"
    RECONCILIATION = "reconciliation"  # a difference between the books and the provider


# Who may read a case of each process (admin always): the API's GETs and the web pages.
# A kind missing here may be read by every role.
READ_ROLES: dict[str, tuple[Role, ...]] = {
    CaseKind.SAMPLE: (Role.CHANNEL, Role.CS, Role.REVIEWER, Role.WAREHOUSE, Role.OPS,
                      Role.PRODUCT),
    CaseKind.ORDER: (Role.CHANNEL, Role.CS, Role.REVIEWER, Role.WAREHOUSE, Role.FINANCE, Role.OPS),
    CaseKind.RETURN: (Role.CHANNEL, Role.CS, Role.REVIEWER, Role.WAREHOUSE, Role.FINANCE,
                      Role.OPS),
    CaseKind.COMPLAINT: (Role.CHANNEL, Role.CS, Role.OPS),
    CaseKind.FOLLOWUP: (Role.CHANNEL, Role.CS, Role.OPS),
    CaseKind.ENQUIRY: (Role.CHANNEL, Role.CS, Role.OPS),
    # Internal plans: no channel.
    CaseKind.PROMOTION: (Role.CS, Role.WAREHOUSE, Role.FINANCE, Role.OPS),
    CaseKind.OVERSTOCK: (Role.CS, Role.WAREHOUSE, Role.FINANCE, Role.OPS),
    CaseKind.RECONCILIATION: (Role.FINANCE, Role.OPS),
}
SHIPMENT_READ_ROLES: tuple[Role, ...] = (Role.CHANNEL, Role.CS, Role.WAREHOUSE, Role.FINANCE,
                                         Role.OPS)


# --- human tasks ------------------------------------------------------------------------------

class TaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    CANCELLED = "cancelled"


# A task someone may still act on.
ACTIVE_TASK_STATUSES: tuple[TaskStatus, ...] = (TaskStatus.OPEN, TaskStatus.CLAIMED)


class TaskKind(StrEnum):
    SAMPLE_PRELIMINARY = "sample.preliminary_review"
    SAMPLE_REVIEW = "sample.review"
    SAMPLE_DISPATCH = "sample.dispatch"
    SAMPLE_FEEDBACK_PROBLEM = "sample.feedback_problem"
    SAMPLE_FEEDBACK_CALL = "sample.feedback_call"  # no answer by the close: cs calls
    SAMPLE_PRODUCT_QUESTION = "sample.product_question"  # the reviewer asks product development
    COMPLAINT_HANDLE = "complaint.handle"
    FOLLOWUP_PROBLEM = "followup.problem"
    REVISIT = "customer.revisit"
    STOCKTAKE = "inventory.stocktake"
    ENQUIRY_ANSWER = "enquiry.answer"
    PROMOTION_REVIEW = "promotion.review"
    PROMOTION_APPROVE = "promotion.approve"
    OVERSTOCK = "inventory.overstock"
    RECONCILIATION_DIFFERENCE = "finance.reconciliation_difference"


# --- every case ---------------------------------------------------------------------------------

# A case in one of these statuses can no longer be cancelled (the base workflow's rule).
CASE_END_STATUSES = frozenset({"rejected", "cancelled", "archived", "completed", "closed",
                               "expired"})


# --- samples --------------------------------------------------------------------------------------

class SampleStatus(StrEnum):
    OPEN = "open"
    WAITING_INFO = "waiting_info"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"


class SampleStage(StrEnum):
    PRELIMINARY_REVIEW = "preliminary_review"
    REVIEW = "review"
    DISPATCH = "dispatch"
    AWAITING_FEEDBACK = "awaiting_feedback"
    ARCHIVED = "archived"


SAMPLE_CANCELLABLE_STAGES = frozenset({SampleStage.PRELIMINARY_REVIEW, SampleStage.REVIEW,
                                       SampleStage.DISPATCH})


class SampleDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_INFO = "request_info"
    SHIPPED = "shipped"
    RESOLVED = "resolved"
    REACHED = "reached"  # the customer was called (sample.feedback_call)
    UNREACHABLE = "unreachable"
    ASK_PRODUCT = "ask_product"  # the reviewer asks product development (sample.review)
    ANSWERED = "answered"  # product development's answer (sample.product_question)


# --- complaints -----------------------------------------------------------------------------------

class ComplaintStatus(StrEnum):
    OPEN = "open"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ComplaintStage(StrEnum):
    HANDLING = "handling"
    SATISFACTION = "satisfaction"
    CLOSED = "closed"


class ComplaintDecision(StrEnum):
    RESPOND = "respond"
    RESOLVE = "resolve"
    ESCALATE = "escalate"


class ComplaintCategory(StrEnum):
    QUALITY = "quality"
    DELIVERY = "delivery"
    SERVICE = "service"
    BILLING = "billing"
    OTHER = "other"


COMPLAINT_CATEGORIES: tuple[str, ...] = tuple(ComplaintCategory)
COMPLAINT_CHANNELS: tuple[str, ...] = ("web", "email", "phone", "chat", "platform")


# --- enquiries (咨询) -------------------------------------------------------------------------------

class EnquiryDecision(StrEnum):
    ANSWER = "answer"  # answered: closed
    TO_COMPLAINT = "to_complaint"  # handed over: a complaint opens
    TO_ORDER = "to_order"  # handed over: it became (or is about) an order


ENQUIRY_CHANNELS: tuple[str, ...] = ("web", "email", "phone", "chat", "platform")


# --- follow-ups -----------------------------------------------------------------------------------

class FollowupStage(StrEnum):
    SCHEDULED = "scheduled"
    AWAITING_FEEDBACK = "awaiting_feedback"
    PROBLEM = "problem"
    CLOSED = "closed"


class FollowupDecision(StrEnum):
    RESOLVED = "resolved"
    OPEN_COMPLAINT = "open_complaint"


class FollowupOutcome(StrEnum):
    NO_RESPONSE = "no_response"
    ANSWERED = "answered"
    PROBLEM_RESOLVED = "problem_resolved"
    COMPLAINT_OPENED = "complaint_opened"


# --- scheduled care -------------------------------------------------------------------------------

class RevisitDecision(StrEnum):
    DONE = "done"
    UNREACHABLE = "unreachable"


class StocktakeDecision(StrEnum):
    COUNTED = "counted"


class ReturnReason(StrEnum):
    """Why the goods come back (seeds 001, 003): the category the KPIs count by; the customer's
    own words stay in ``reason``."""

    QUALITY = "quality"
    WRONG_ITEM = "wrong_item"  # 错发: another item than ordered
    MISSING_ITEM = "missing_item"  # 漏发: not in the parcel; nothing comes back
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    NO_REASON = "no_reason"  # 无理由退货, within the return window


# --- orders and returns (their statuses that end a case, and their KPI time columns) -------------

ORDER_END_STATUSES: tuple[str, ...] = ("cancelled", "completed", "refunded")
ORDER_TIMES: tuple[str, ...] = ("backordered_at", "stock_secured_at", "paid_at", "shipped_at",
                                "delivered_at", "completed_at", "cancelled_at")
RETURN_END_STATUSES: tuple[str, ...] = ("rejected", "expired", "cancelled", "inspection_failed",
                                        "refunded", "exchanged", "repaired")
RETURN_TIMES: tuple[str, ...] = ("approved_at", "rejected_at", "parcel_sent_at", "received_at",
                                 "inspected_at", "refunded_at", "reshipped_at", "closed_at")
