"""Money in whole cents: shown as decimal text, parsed from a person's decision. Standard library
only (imported in the workflow sandbox)."""

from __future__ import annotations

import math
from typing import Any


def amount(cents: int) -> str:
    """12345 -> "123.45"."""
    return f"{cents / 100:.2f}"


def parse_cents(value: Any) -> int | None:
    """A decision's amount (number or numeric string, at most two decimals) in cents; None if
    it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cents = round(float(value) * 100, 6)
    except ValueError:
        return None
    if not math.isfinite(cents) or cents != int(cents):  # NaN, infinite, or over two decimals
        return None
    return int(cents)
