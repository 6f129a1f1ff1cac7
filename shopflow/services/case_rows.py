"""A business row (an order, a return) kept current by its workflow: the rule both share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shopflow.models.types import utcnow


def keep_current(row: Any, *, version: int, status: str | None, stage: str | None,
                 times: dict[str, datetime], time_names: Iterable[str],
                 fields: bool = False) -> None:
    """KPI times: the first one counts (the first shipment, the first exception …). Status and
    stage only move forward: writes of one workflow can finish out of order, so an older
    ``version`` never overwrites a newer one. A write that orders nothing (KPI times alone:
    no status, no stage, no ``fields`` the caller keeps by version) takes no version: an order
    woken from its backorder wrote ``fulfilling`` (version n) and its stock-secured time
    (version n+1) at once, the time landed first and the order row stayed ``backordered``."""
    names = set(time_names)
    for name, value in times.items():
        if name in names and getattr(row, name) is None:
            setattr(row, name, value)
    if version > row.version and (status is not None or stage is not None or fields):
        row.version = version
        if status is not None:
            row.status = status
        if stage is not None:
            row.stage = stage
    row.updated_at = utcnow()
