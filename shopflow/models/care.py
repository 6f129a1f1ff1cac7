"""Customer care records: complaints (the business record beside the case read-model, for lists,
orders and KPIs), birthday greetings, key-account revisits and stored periodic reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class Complaint(SQLModel, table=True):
    """One complaint, written by its workflow (``complaint-<id>``) at every step: the figures the
    KPIs need (first response, resolution within SLA, escalations) are columns, not JSON."""

    __tablename__ = "complaints"

    id: str = Field(primary_key=True, max_length=80)
    workflow_id: str = Field(unique=True)
    customer_id: str = Field(index=True, max_length=64)
    order_no: str | None = Field(default=None, index=True, max_length=64)
    category: str = Field(index=True)  # quality | delivery | service | billing | other
    channel: str = ""
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", index=True)  # open | waiting_customer | resolved | closed
    level: int = 0  # escalation level: 0 customer service, 1 ops, 2 ops (second step) …
    escalations: int = 0  # ladder steps taken (missed clocks, staff and customer escalations)
    reopened: int = 0
    response_due_at: datetime | None = time_field(nullable=True)
    resolution_due_at: datetime | None = time_field(nullable=True)
    first_response_at: datetime | None = time_field(nullable=True)
    response_sla_met: bool | None = None
    resolved_at: datetime | None = time_field(nullable=True)
    resolution_sla_met: bool | None = None
    resolution: str | None = None
    satisfaction: int | None = None
    closed_at: datetime | None = time_field(nullable=True)
    version: int = 0  # the workflow's snapshot counter: an older write never overwrites a newer
    created_at: datetime = time_field(index=True)
    updated_at: datetime = time_field()


class BirthdayGreeting(SQLModel, table=True):
    """At most one birthday greeting per customer and year: the key is the guarantee."""

    __tablename__ = "birthday_greetings"

    customer_id: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    coupon_code: str = Field(unique=True, max_length=40)
    status: str = "sent"  # sent | skipped (no contact details)
    sent_at: datetime = time_field()


class CustomerRevisit(SQLModel, table=True):
    """A key-account revisit (a ``customer.revisit`` task), keyed by its workflow id."""

    __tablename__ = "customer_revisits"

    id: str = Field(primary_key=True, max_length=120)  # revisit-<customer>-<yyyymmdd>
    customer_id: str = Field(index=True, max_length=64)
    status: str = Field(default="open", index=True)  # open | done | skipped
    notes: str = ""
    completed_by: str | None = None
    opened_at: datetime = time_field(index=True)
    completed_at: datetime | None = time_field(nullable=True)


class Report(SQLModel, table=True):
    """A stored KPI report: the figures, and the HTML and CSV renderings as mailed."""

    __tablename__ = "reports"

    id: str = Field(primary_key=True, max_length=80)  # monthly-2025-03, quarterly-2025-Q1 …
    kind: str = Field(index=True)  # monthly | quarterly | adhoc
    period_start: datetime = time_field(default_now=False, nullable=False)
    period_end: datetime = time_field(default_now=False, nullable=False)
    figures: dict[str, Any] = json_field()
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    csv: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = time_field(index=True)
