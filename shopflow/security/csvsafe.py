"""CSV exports opened in a spreadsheet: a text cell starting with = + - @ (or a tab or carriage
return) would run as a formula. Such cells get a leading apostrophe (OWASP's advice); numbers
(-5, +3.2) stay numbers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _NUMBER.match(value):
        return "'" + value
    return value


def safe_rows(rows: Iterable[Iterable[Any]]) -> list[list[Any]]:
    return [[safe_cell(v) for v in row] for row in rows]


def neutralise_csv(text: str) -> str:
    """The same CSV with every text cell made safe (for exports stored before this rule)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(safe_rows(csv.reader(io.StringIO(text))))
    return out.getvalue()
