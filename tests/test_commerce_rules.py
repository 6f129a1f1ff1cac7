"""The pure rules of orders and returns, without a workflow: what a decision or a payment must
pass, and the refund proposal."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from shopflow.workflows.money import amount, parse_cents
from shopflow.workflows.order_rules import (
    OrderStatus,
    address_text,
    check_payment,
    check_tracking_no,
    line_key,
)
from shopflow.workflows.return_rules import check_inspection, check_refund, proposed_refund


def code(err: pytest.ExceptionInfo[ApplicationError]) -> str:
    return str(err.value.details[0]["code"])


@pytest.mark.parametrize(("value", "cents"), [
    (12, 1200), ("12.5", 1250), (0.1, 10), ("3.14", 314), ("1.005", None), (True, None),
    ("abc", None), ("nan", None), ("inf", None), (None, None), ([1], None)])
def test_amounts_parse_to_cents_with_two_decimals_at_most(value: Any, cents: int | None) -> None:
    assert parse_cents(value) == cents


def test_amounts_show_two_decimals() -> None:
    assert (amount(16150), amount(5), amount(0)) == ("161.50", "0.05", "0.00")


def test_tracking_numbers_are_short_and_plain() -> None:
    assert check_tracking_no({"courier": "SF", "tracking_no": " SF-1.a_2 "}) == "SF-1.a_2"
    with pytest.raises(ApplicationError) as err:
        check_tracking_no({"courier": " ", "tracking_no": "X"})
    assert code(err) == "missing_field"
    with pytest.raises(ApplicationError) as err:
        check_tracking_no({"courier": "SF", "tracking_no": "SF 1"})
    assert code(err) == "invalid_tracking_no"


def test_a_payment_is_the_whole_total_of_an_open_online_order() -> None:
    ok = dict(method="online", closed=False, status=OrderStatus.AWAITING_PAYMENT, paid_cents=0,
              total_cents=1000, paying=False, amount_cents=1000)
    check_payment("O-1", **ok)  # type: ignore[arg-type]
    for change, expected in [({"method": "cod"}, "cod_order"),
                             ({"status": OrderStatus.CANCELLED}, "order_closed"),
                             ({"closed": True}, "order_closed"),
                             ({"paid_cents": 1000}, "already_paid"),
                             ({"paying": True}, "payment_in_progress"),
                             ({"amount_cents": 999}, "amount_mismatch")]:
        with pytest.raises(ApplicationError) as err:
            check_payment("O-1", **{**ok, **change})  # type: ignore[arg-type]
        assert code(err) == expected


def test_inspection_lines_are_checked_against_the_return() -> None:
    skus = {"TEA", "CUP"}
    check_inspection(None, skus)
    check_inspection([{"sku": "TEA", "result": "fail", "notes": "torn"}], skus)
    for lines, expected in [([], "invalid_lines"),
                            ([{"sku": "MUG"}], "invalid_item"),
                            ([{"sku": "TEA"}, {"sku": "TEA"}], "invalid_item"),
                            ([{"sku": "TEA", "result": "maybe"}], "invalid_result"),
                            ([{"sku": "TEA", "resaleable": "yes"}], "invalid_resaleable"),
                            ([{"sku": "TEA", "result": "fail"}], "missing_field"),
                            ([{"sku": "TEA", "result": "fail", "notes": "x"},
                              {"sku": "CUP", "result": "fail", "notes": "y"}],
                             "nothing_passed")]:
        with pytest.raises(ApplicationError) as err:
            check_inspection(lines, skus)
        assert code(err) == expected


def test_a_refund_decision_is_at_most_refundable_and_explained_when_changed() -> None:
    assert check_refund("80", "", refundable_cents=10000, proposed_cents=8000) == 8000
    assert check_refund(50, "damaged box", refundable_cents=10000, proposed_cents=8000) == 5000
    for value, comment, expected in [(0, "", "invalid_amount"), ("1.234", "", "invalid_amount"),
                                     (101, "x", "amount_exceeds_refundable"),
                                     (50, " ", "comment_required")]:
        with pytest.raises(ApplicationError) as err:
            check_refund(value, comment, refundable_cents=10000, proposed_cents=8000)
        assert code(err) == expected


def test_the_refund_proposal_adds_shipping_once_for_a_quality_issue() -> None:
    passed = [{"unit_price_cents": 1000, "quantity": 2}]
    assert proposed_refund(passed, 800, True, False, 99999) == (2000, 800, 2800)
    assert proposed_refund(passed, 800, True, True, 99999) == (2000, 0, 2000)
    assert proposed_refund(passed, 800, False, False, 99999) == (2000, 0, 2000)
    assert proposed_refund(passed, 800, True, False, 1500) == (2000, 800, 1500)


def test_keys_and_addresses() -> None:
    assert line_key("order-A", 2, "TEA") == "order-A:r2:TEA"
    assert address_text({"line1": "1 Rd", "line2": None, "city": "HZ"}) == "1 Rd, HZ"
