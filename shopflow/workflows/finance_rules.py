"""Finance's pure rules (issue 18, 财务对账): the decisions on a difference between the books
and the payment provider's daily report, what each must carry, and the difference case's id.
No I/O and no workflow state: imported in the workflow sandbox, tested without a workflow."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shopflow.workflows.base import rejection, require_decision, require_text
from shopflow.workflows.shared import ErrorType
from shopflow.workflows.vocab import TaskKind

DIFFERENCE = TaskKind.RECONCILIATION_DIFFERENCE


class DifferenceDecision(StrEnum):
    ACCEPT_PROVIDER = "accept_provider"  # the provider is right: the books take its figure
    FIX_BOOKS = "fix_books"  # the books were wrong and finance corrected them
    RAISE_WITH_PROVIDER = "raise_with_provider"  # the provider is wrong: a claim with them


DIFFERENCE_DECISIONS = tuple(d.value for d in DifferenceDecision)
# What the task shows finance about each decision.
DIFFERENCE_OPTIONS = {
    DifferenceDecision.ACCEPT_PROVIDER.value:
        "the provider's figure is right: an adjustment line brings the books to it (note: why)",
    DifferenceDecision.FIX_BOOKS.value: "the books were wrong: say in note what was corrected",
    DifferenceDecision.RAISE_WITH_PROVIDER.value:
        "the provider is wrong: say in note the claim raised with them (its reference)",
}
WHAT = {"missing_at_provider": "in the books, not on the provider's report",
        "missing_in_books": "on the provider's report, not in the books",
        "amount_differs": "the amounts differ"}


def difference_case_id(difference_id: int) -> str:
    return f"recdiff-{difference_id}"


def check_difference_decision(decision: str, data: dict[str, Any]) -> None:
    require_decision(DIFFERENCE, decision, DIFFERENCE_DECISIONS)
    if decision != DifferenceDecision.ACCEPT_PROVIDER:
        require_text(data, "note")
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise rejection(ErrorType.INVALID, "invalid_field", "note is a text of at most 500 "
                        "characters", field="note")
