"""The complaint's pure rules: the handling task, who holds it at each level, what a decision
must carry (and when a resolution may start a return), why a round reopens, and the SLA view
the read-model shows. No I/O and no workflow state: imported in the workflow sandbox, tested
without a workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shopflow.workflows.base import rejection, require_decision, require_text
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import ComplaintCategory, ComplaintDecision, Role, TaskKind

HANDLE = TaskKind.COMPLAINT_HANDLE
DECISIONS = frozenset(ComplaintDecision)
RETURN_KINDS = ("refund", "exchange")
# The text field each decision must carry.
REQUIRED_TEXT = {ComplaintDecision.RESPOND: "message", ComplaintDecision.RESOLVE: "resolution",
                 ComplaintDecision.ESCALATE: "reason"}
# What the handling task shows a person about its decisions.
DECISIONS_HELP = {"respond": "{message, await_reply?: bool}",
                  "resolve": "{resolution, start_return?: {items, kind}}",
                  "escalate": "{reason}"}
TIMELINE_TEXT = 200  # characters of a customer's message shown in the timeline line


def role_for(level: int) -> str:
    """Customer service holds a complaint at level 0, ops above."""
    return Role.CS.value if level == 0 else Role.OPS.value


def check_decision(kind: str, decision: str, data: dict[str, Any], *, category: str,
                   order_no: str | None) -> None:
    require_decision(kind, decision, DECISIONS)
    require_text(data, REQUIRED_TEXT[ComplaintDecision(decision)])
    if decision == ComplaintDecision.RESPOND and not isinstance(data.get("await_reply", True),
                                                                bool):
        raise rejection(ErrorType.INVALID, "invalid_field", "await_reply is true or false",
                        field="await_reply")
    if decision == ComplaintDecision.RESOLVE and data.get("start_return") is not None:
        check_return(data["start_return"], category=category, order_no=order_no)


def check_return(spec: Any, *, category: str, order_no: str | None) -> None:
    """A resolution's ``start_return``: only a quality complaint tied to an order, a kind and
    a list of ``{sku, quantity > 0}``."""
    if category != ComplaintCategory.QUALITY:
        raise rejection(ErrorType.INVALID, "return_needs_quality_complaint",
                        "only a quality complaint's resolution can start a return")
    if not order_no:
        raise rejection(ErrorType.INVALID, "no_order",
                        "this complaint is not tied to an order; no return can start")
    if not isinstance(spec, dict) or spec.get("kind") not in RETURN_KINDS:
        raise rejection(ErrorType.INVALID, "invalid_field",
                        "start_return needs kind refund|exchange and items",
                        field="start_return")
    items = spec.get("items")
    if not isinstance(items, list) or not items or not all(
            isinstance(i, dict) and isinstance(i.get("sku"), str)
            and isinstance(i.get("quantity"), int) and not isinstance(i.get("quantity"), bool)
            and i["quantity"] > 0 for i in items):
        raise rejection(ErrorType.INVALID, "invalid_field",
                        "start_return.items is a list of {sku, quantity > 0}",
                        field="start_return.items")


def not_satisfied(feedback: dict[str, Any]) -> bool:
    """A satisfaction answer that reopens the complaint: 2/5 or less, or a problem named."""
    return bool(feedback["satisfaction"] <= 2 or feedback.get("problem"))


def reopen_cause(customer_escalation: dict[str, Any] | None,
                 feedback: dict[str, Any] | None) -> tuple[str, str, str]:
    """Why a round reopens, as (cause, reason, actor): the customer's escalation through the
    platform, or their answer to the satisfaction question."""
    if customer_escalation is not None:
        return "customer", customer_escalation["reason"], customer_escalation["actor"]
    assert feedback is not None
    reason = feedback.get("problem") or f"not satisfied ({feedback['satisfaction']}/5)"
    return "not_satisfied", reason, "customer"


def timeline_line(text: str, in_db: bool) -> str:
    """A customer's message in the timeline: its start when the whole text is in the database."""
    return text if not in_db or len(text) <= TIMELINE_TEXT else text[:TIMELINE_TEXT - 1] + "…"


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def sla_view(*, response_due: datetime | None, resolution_due: datetime | None,
             paused: bool, paused_total: timedelta, first_response_at: datetime | None,
             response_sla_met: bool | None, resolution_sla_met: bool | None,
             resolved_at: datetime | None,
             customer_may_escalate_from: datetime | None = None) -> dict[str, Any]:
    """The complaint's clocks as the read-model shows them (``data["sla"]``), and from when the
    customer may escalate a complaint still being handled."""
    return {
        "response_due_at": iso(response_due),
        "resolution_due_at": iso(resolution_due),
        "paused": paused,
        "paused_seconds": paused_total.total_seconds(),
        "first_response_at": iso(first_response_at),
        "response_sla_met": response_sla_met,
        "resolution_sla_met": resolution_sla_met,
        "resolved_at": iso(resolved_at),
        "customer_may_escalate_from": iso(customer_may_escalate_from),
    }
