"""The business row a workflow keeps current (services/case_rows.keep_current): writes of one
workflow that finish out of order leave the newest status, and a write of KPI times alone never
hides a status written beside it (found by the scheduled-runs drill: an order woken by the
backorder sweep stayed `backordered` on its row while its case was `fulfilling`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shopflow.services.case_rows import keep_current

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass
class Row:
    status: str = "backordered"
    stage: str = "stock"
    version: int = 2
    stock_secured_at: datetime | None = None
    updated_at: datetime | None = None


def write(row: Row, version: int, status: str | None = None, stage: str | None = None,
          **times: datetime) -> None:
    keep_current(row, version=version, status=status, stage=stage, times=times,
                 time_names=["stock_secured_at"])


def test_a_status_lands_after_a_later_write_of_times_alone() -> None:
    row = Row()
    write(row, 4, stock_secured_at=NOW)  # the handler's write, second in order, lands first
    write(row, 3, "fulfilling", "fulfilment")  # the transition, first in order, lands second
    assert (row.status, row.stage, row.stock_secured_at) == ("fulfilling", "fulfilment", NOW)


def test_an_older_status_never_overwrites_a_newer_one() -> None:
    row = Row()
    write(row, 4, "shipped", "delivery")
    write(row, 3, "fulfilling", "fulfilment")
    assert (row.status, row.stage, row.version) == ("shipped", "delivery", 4)


def test_a_write_with_fields_the_caller_keeps_by_version_takes_the_version() -> None:
    row = Row()
    keep_current(row, version=4, status=None, stage=None, times={}, time_names=[], fields=True)
    write(row, 3, "fulfilling", "fulfilment")
    assert (row.status, row.version) == ("backordered", 4)
