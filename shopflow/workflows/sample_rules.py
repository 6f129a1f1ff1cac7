"""The sample request's pure rules: its task kinds, the decisions each takes, what a decision
must carry, and the check an approval must pass against the request and the stock. No I/O and
no workflow state: imported in the workflow sandbox, tested without a workflow."""

from __future__ import annotations

from typing import Any

from shopflow.workflows.base import rejection, require_decision, require_text
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import SampleDecision, TaskKind

PRELIMINARY = TaskKind.SAMPLE_PRELIMINARY
REVIEW = TaskKind.SAMPLE_REVIEW
DISPATCH = TaskKind.SAMPLE_DISPATCH
FEEDBACK_PROBLEM = TaskKind.SAMPLE_FEEDBACK_PROBLEM
FEEDBACK_CALL = TaskKind.SAMPLE_FEEDBACK_CALL
PRODUCT_QUESTION = TaskKind.SAMPLE_PRODUCT_QUESTION

D = SampleDecision
DECISIONS: dict[str, frozenset[SampleDecision]] = {
    PRELIMINARY: frozenset({D.APPROVE, D.REJECT, D.REQUEST_INFO}),
    REVIEW: frozenset({D.APPROVE, D.REJECT, D.ASK_PRODUCT}),
    DISPATCH: frozenset({D.SHIPPED}),
    FEEDBACK_PROBLEM: frozenset({D.RESOLVED}),
    FEEDBACK_CALL: frozenset({D.REACHED, D.UNREACHABLE}),
    PRODUCT_QUESTION: frozenset({D.ANSWERED}),
}
# The text field each decision must carry.
REQUIRED_TEXT: dict[str, tuple[str, ...]] = {
    D.REJECT: ("reason",),
    D.REQUEST_INFO: ("question",),
    D.RESOLVED: ("resolution",),
    D.SHIPPED: ("courier", "tracking_no"),
    D.REACHED: ("notes",),
    D.UNREACHABLE: ("notes",),
    D.ASK_PRODUCT: ("question",),
    D.ANSWERED: ("answer",),
}


def check_decision(kind: str, decision: str, data: dict[str, Any], *,
                   requested: dict[str, int], stock: dict[str, int],
                   documents: int | None = None) -> None:
    """A task's decision is one its kind takes, with the fields it needs; a review's approval
    names requested items in quantities the request and the stock allow. ``documents``: how
    many qualification documents the request has (None: an older case, not counted); the
    review approves a request only with one at least (seed 000 1.2, 2.1): it waits for an
    upload, or customer service asks the customer for one at the preliminary review."""
    require_decision(kind, decision, DECISIONS[kind])
    for key in REQUIRED_TEXT.get(decision, ()):
        require_text(data, key)
    if kind == REVIEW and decision == D.APPROVE and documents == 0:
        raise rejection(ErrorType.CONFLICT, "documents_required",
                        "no qualification document yet: the approval waits for one "
                        "(POST /samples/{id}/documents, or the case page)", field="documents")
    if kind == REVIEW and decision == D.APPROVE:
        check_approval(data, requested=requested, stock=stock)


def check_approval(data: dict[str, Any], *, requested: dict[str, int],
                   stock: dict[str, int]) -> None:
    lines = data.get("items")
    if not isinstance(lines, list) or not lines:
        raise rejection(ErrorType.INVALID, "invalid_decision",
                        "approve needs items: [{sku, approved_quantity}]")
    seen: set[str] = set()
    for line in lines:
        sku = line.get("sku") if isinstance(line, dict) else None
        qty = line.get("approved_quantity") if isinstance(line, dict) else None
        if not isinstance(sku, str) or sku not in requested or sku in seen:
            raise rejection(ErrorType.INVALID, "invalid_item",
                            f"{sku!r} is not a requested item (or is listed twice)", sku=sku)
        seen.add(sku)
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            raise rejection(ErrorType.INVALID, "invalid_quantity",
                            f"approved_quantity for {sku} must be a whole number above 0",
                            sku=sku)
        if qty > requested[sku]:
            raise rejection(ErrorType.INVALID, "quantity_exceeds_request",
                            f"{qty} of {sku} is more than the {requested[sku]} requested",
                            sku=sku, requested=requested[sku])
        if qty > stock.get(sku, 0):
            raise rejection(ErrorType.INVALID, "insufficient_stock",
                            f"only {stock.get(sku, 0)} of {sku} available", sku=sku,
                            available=stock.get(sku, 0))


def approved_quantities(data: dict[str, Any]) -> dict[str, int]:
    """An accepted approval's quantities by SKU."""
    return {line["sku"]: line["approved_quantity"] for line in data["items"]}


def feedback_problem(feedback: dict[str, Any], low_score: int) -> str | None:
    """Why a sample's feedback needs customer service (seed 000 4.1, 4.3), or None: a problem
    named, the customer ticking "dissatisfied", or a score of ``low_score`` or less (0: older
    cases, whose policy was a named problem only)."""
    if feedback.get("problem"):
        return "problem"
    if feedback.get("dissatisfied"):
        return "dissatisfied"
    score = feedback.get("satisfaction")
    if isinstance(score, int) and score <= low_score:
        return "low_score"
    return None
