"""The pure rules of samples, complaints and scheduled care, without a workflow: what a
decision must carry, the complaint's ladder and SLA view, the keys and notices of care runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from shopflow.workflows.care_payloads import Greeting, ReportStored
from shopflow.workflows.care_rules import (
    birthday_notice,
    check_counts,
    check_revisit,
    report_notice,
    revisit_id,
    revisit_status,
    stocktake_id,
)
from shopflow.workflows.complaint_rules import (
    HANDLE,
    check_decision,
    not_satisfied,
    reopen_cause,
    role_for,
    sla_view,
    timeline_line,
)
from shopflow.workflows.sample_rules import DISPATCH, PRELIMINARY, REVIEW, approved_quantities
from shopflow.workflows.sample_rules import check_decision as check_sample


def code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApplicationError) as err:
        call(*args, **kwargs)
    return str(err.value.details[0]["code"])


def test_a_sample_decision_is_one_its_task_takes_with_the_text_it_needs() -> None:
    limits = {"requested": {"TEA": 2}, "stock": {"TEA": 1}}
    assert code(check_sample, DISPATCH, "approve", {}, **limits) == "invalid_decision"
    assert code(check_sample, PRELIMINARY, "reject", {"reason": " "}, **limits) == "missing_field"
    assert code(check_sample, DISPATCH, "shipped", {"courier": "SF"}, **limits) == "missing_field"
    check_sample(PRELIMINARY, "request_info", {"question": "which shop?"}, **limits)
    check_sample(DISPATCH, "shipped", {"courier": "SF", "tracking_no": "1"}, **limits)


@pytest.mark.parametrize(("items", "expected"), [
    (None, "invalid_decision"), ([], "invalid_decision"),
    ([{"sku": "CUP", "approved_quantity": 1}], "invalid_item"),
    ([{"sku": "TEA", "approved_quantity": 1}, {"sku": "TEA", "approved_quantity": 1}],
     "invalid_item"),
    ([{"sku": "TEA", "approved_quantity": True}], "invalid_quantity"),
    ([{"sku": "TEA", "approved_quantity": 3}], "quantity_exceeds_request"),
    ([{"sku": "TEA", "approved_quantity": 2}], "insufficient_stock"),
])
def test_an_approval_names_requested_items_within_request_and_stock(
        items: Any, expected: str) -> None:
    assert code(check_sample, REVIEW, "approve", {"items": items},
                requested={"TEA": 2}, stock={"TEA": 1}) == expected


def test_an_accepted_approval_gives_quantities_by_sku() -> None:
    data = {"items": [{"sku": "TEA", "approved_quantity": 1}]}
    check_sample(REVIEW, "approve", data, requested={"TEA": 2}, stock={"TEA": 1})
    assert approved_quantities(data) == {"TEA": 1}


def test_complaint_decisions_and_the_return_a_resolution_may_start() -> None:
    quality = {"category": "quality", "order_no": "SO-1"}
    ok_return = {"kind": "refund", "items": [{"sku": "TEA", "quantity": 1}]}
    assert code(check_decision, HANDLE, "close", {}, **quality) == "invalid_decision"
    assert code(check_decision, HANDLE, "respond", {"message": "hi", "await_reply": "y"},
                **quality) == "invalid_field"
    assert code(check_decision, HANDLE, "resolve", {"resolution": "r", "start_return": ok_return},
                category="delivery", order_no="SO-1") == "return_needs_quality_complaint"
    assert code(check_decision, HANDLE, "resolve", {"resolution": "r", "start_return": ok_return},
                category="quality", order_no=None) == "no_order"
    bad = {"kind": "refund", "items": [{"sku": "TEA", "quantity": 0}]}
    assert code(check_decision, HANDLE, "resolve", {"resolution": "r", "start_return": bad},
                **quality) == "invalid_field"
    check_decision(HANDLE, "resolve", {"resolution": "r", "start_return": ok_return}, **quality)


def test_the_ladder_reopen_causes_and_the_timeline_line() -> None:
    assert (role_for(0), role_for(1), role_for(3)) == ("cs", "ops", "ops")
    assert not_satisfied({"satisfaction": 2}) and not_satisfied({"satisfaction": 5, "problem": "x"})
    assert not not_satisfied({"satisfaction": 3})
    assert reopen_cause({"reason": "slow", "actor": "c1"}, None) == ("customer", "slow", "c1")
    assert reopen_cause(None, {"satisfaction": 1}) == (
        "not_satisfied", "not satisfied (1/5)", "customer")
    long = "x" * 300
    assert timeline_line(long, in_db=False) == long
    assert timeline_line(long, in_db=True) == "x" * 199 + "…"


def test_the_sla_view_shows_the_clocks() -> None:
    due = datetime(2026, 1, 2, tzinfo=UTC)
    view = sla_view(response_due=due, resolution_due=None, paused=True,
                    paused_total=timedelta(minutes=2), first_response_at=None,
                    response_sla_met=None, resolution_sla_met=False, resolved_at=None)
    assert view == {"response_due_at": due.isoformat(), "resolution_due_at": None,
                    "paused": True, "paused_seconds": 120.0, "first_response_at": None,
                    "response_sla_met": None, "resolution_sla_met": False, "resolved_at": None,
                    "customer_may_escalate_from": None}


def test_care_keys_decisions_and_notices() -> None:
    assert revisit_id("ka-1", "2025-03-14") == "revisit-ka-1-20250314"
    assert stocktake_id("2025-03-10") == "stocktake-20250310"
    assert (revisit_status("done"), revisit_status("unreachable")) == ("done", "unreachable")
    assert code(check_revisit, "customer.revisit", "maybe", {"notes": "x"}) == "invalid_decision"
    assert code(check_revisit, "customer.revisit", "done", {}) == "missing_field"
    assert code(check_counts, "inventory.stocktake", "counted",
                {"counts": [{"sku": "TEA", "counted": -1}]}) == "invalid_quantity"
    assert code(check_counts, "inventory.stocktake", "counted",
                {"counts": [{"sku": "TEA", "counted": 1}, {"sku": "TEA", "counted": 2}]}
                ) == "invalid_item"
    check_counts("inventory.stocktake", "counted", {"counts": [{"sku": "TEA", "counted": 0}]})
    greet = birthday_notice("c1", 2026, Greeting("BDAY-1", "Li", "2026-02-01"))
    assert (greet.dedup_key, greet.customer_id, greet.data["coupon_code"]) == (
        "birthday:c1:2026", "c1", "BDAY-1")
    report = report_notice(ReportStored("r1", "monthly", "2026-01-01T00:00", "2025-12"))
    assert (report.dedup_key, report.customer_id, report.kind) == (
        "report:r1:2026-01-01T00:00", None, "kpi_report")


def test_which_sample_feedback_goes_to_customer_service() -> None:
    from shopflow.workflows.sample_rules import feedback_problem

    assert feedback_problem({"satisfaction": 5, "problem": "dented"}, 2) == "problem"
    assert feedback_problem({"satisfaction": 4, "dissatisfied": True}, 2) == "dissatisfied"
    assert feedback_problem({"satisfaction": 2}, 2) == "low_score"
    assert feedback_problem({"satisfaction": 3}, 2) is None
    assert feedback_problem({"satisfaction": 1}, 0) is None  # an older case: a problem only


def test_a_repair_result_and_its_clock() -> None:
    from shopflow.workflows.return_rules import check_repair, repair_clock

    check_repair("repaired", {})  # notes optional
    assert code(check_repair, "unrepairable", {"remedy": "refund"}) == "missing_field"
    assert code(check_repair, "unrepairable", {"notes": "x", "remedy": "credit"}) == \
        "invalid_remedy"
    check_repair("unrepairable", {"notes": "no parts", "remedy": "exchange"})
    start = datetime(2025, 3, 1, tzinfo=UTC)
    assert repair_clock(start, timedelta(days=7)) == (start + timedelta(days=3.5),
                                                      start + timedelta(days=7))


def test_overstock_periods_and_decisions() -> None:
    from datetime import date

    from shopflow.workflows.promotion_rules import check_overstock, overstock_period

    assert overstock_period(date(2026, 11, 30), 1) == date(2026, 11, 30)
    p = overstock_period(date(2026, 11, 30), 60)
    assert p <= date(2026, 11, 30) < p + timedelta(days=60)
    assert overstock_period(p + timedelta(days=59), 60) == p
    now = datetime(2026, 11, 30, tzinfo=UTC)
    check_overstock("inventory.overstock", "keep", {"note": "seasonal"}, 5, now)
    for data, field in (({"discount_percent": 10, "start_at": "2026-11-29T00:00:00+00:00",
                          "end_at": "2026-12-05T00:00:00+00:00"}, "start_at"),
                        ({"discount_percent": 10, "start_at": "2026-12-01T00:00:00",
                          "end_at": "2026-12-05T00:00:00+00:00"}, "start_at"),
                        ({"discount_percent": 10, "start_at": "2026-12-01T00:00:00+00:00",
                          "end_at": "2026-12-01T00:00:00+00:00"}, "end_at")):
        with pytest.raises(Exception) as err:
            check_overstock("inventory.overstock", "promote", data, 5, now)
        assert field in str(err.value.args) or field in str(err.value.details)


def test_what_an_exchange_sends_and_the_difference() -> None:
    from shopflow.workflows.return_rules import (
        check_difference_payment,
        exchange_difference,
        replacements,
    )

    same = {"sku": "CUP", "name": "Cup", "quantity": 1, "unit_price_cents": 2550}
    bigger = {"sku": "TEA", "name": "Tea", "quantity": 2, "unit_price_cents": 6800,
              "exchange_sku": "TEA-L", "exchange_name": "Tea L",
              "exchange_unit_price_cents": 7000}
    also_l = {"sku": "TEA-M", "name": "Tea M", "quantity": 1, "unit_price_cents": 6000,
              "exchange_sku": "TEA-L", "exchange_name": "Tea L",
              "exchange_unit_price_cents": 5000}
    assert replacements([same, bigger, also_l]) == [
        {"sku": "CUP", "name": "Cup", "quantity": 1},
        {"sku": "TEA-L", "name": "Tea L", "quantity": 3}]
    assert exchange_difference([same]) == 0
    assert exchange_difference([same, bigger]) == 400
    assert exchange_difference([also_l]) == -1000
    due = {"amount_cents": 400, "status": "due", "transaction_id": None}
    check_difference_payment(due, "TX1", 400)
    assert code(check_difference_payment, due, "TX1", 300) == "amount_mismatch"
    assert code(check_difference_payment, None, "TX1", 400) == "no_difference_due"
    paid = {**due, "status": "paid", "transaction_id": "TX1"}
    check_difference_payment(paid, "TX1", 400)  # the same payment again: answered again
    assert code(check_difference_payment, paid, "TX2", 400) == "no_difference_due"
