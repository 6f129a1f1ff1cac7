"""Money in whole cents: shown as decimal text, parsed from a person's decision. Standard library
only (imported in the workflow sandbox)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def amount(cents: int) -> str:
    """12345 -> "123.45"."""
    return f"{cents / 100:.2f}"


def parse_cents(value: Any) -> int | None:
    """A decision's amount (number or numeric string in ASCII digits, at most two decimals) in
    cents; None for anything else (NaN, Infinity, 1e999, "١٠", a fraction of a cent). Decimal,
    not float: 0.29 is 29 cents exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if not text.isascii() or "_" in text or len(text) > 40:
        return None
    try:
        cents = Decimal(text) * 100
    except (InvalidOperation, ValueError):
        return None
    if not cents.is_finite() or abs(cents) > MAX_CENTS:
        return None
    if cents != cents.to_integral_value():  # more than two decimals
        return None
    return int(cents)


MAX_CENTS = 10**13  # a hundred billion: no refund or price is larger
