from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class Case(SQLModel, table=True):
    """Read-model of one process instance (a sample, an order, a return …) for lists and pages.

    ``data`` is the workflow's latest snapshot of the case (items, shipment, feedback …)."""

    __tablename__ = "cases"
    # The dashboard's open cases per process and stage, and lists of open cases of a process.
    __table_args__ = (Index("ix_cases_closed_at_kind_stage", "closed_at", "kind", "stage"),)

    id: str = Field(primary_key=True, max_length=80)
    kind: str = Field(index=True)
    workflow_id: str = Field(unique=True)
    status: str = Field(index=True)
    stage: str = Field(index=True)
    customer_id: str | None = Field(default=None, index=True)
    data: dict[str, Any] = json_field()
    version: int = 0  # the workflow's snapshot counter: an older write never overwrites a newer
    created_at: datetime = time_field(index=True)
    updated_at: datetime = time_field()
    closed_at: datetime | None = time_field(nullable=True)


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_events"
    __table_args__ = (UniqueConstraint("workflow_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True)
    workflow_id: str
    seq: int
    at: datetime = time_field()
    actor: str = "system"
    type: str
    message: str = ""
    data: dict[str, Any] = json_field()


class FeedbackRequest(SQLModel, table=True):
    """A one-time link to a feedback form, sent to a customer. ``token`` is the SHA-256 of the
    link's secret (rows from before the hashing were rewritten by migration 0002)."""

    __tablename__ = "feedback_requests"

    token: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(index=True)
    workflow_id: str
    kind: str  # sample | followup | complaint
    status: str = "open"  # open | answered | closed
    response: dict[str, Any] | None = json_field(lambda: None)
    created_at: datetime = time_field()
    answered_at: datetime | None = time_field(nullable=True)
    expires_at: datetime | None = time_field(nullable=True)  # SHOPFLOW_FEEDBACK_LINK_TTL


class Dossier(SQLModel, table=True):
    """The archived record of a finished case."""

    __tablename__ = "dossiers"

    case_id: str = Field(primary_key=True, max_length=80)
    kind: str
    data: dict[str, Any] = json_field()
    created_at: datetime = time_field()


class SampleDocument(SQLModel, table=True):
    """A qualification document of a sample request (seed 000 1.2): a PDF, JPEG or PNG file kept
    in the document store (providers/storage.py) under ``storage_key``."""

    __tablename__ = "sample_documents"

    id: str = Field(primary_key=True, max_length=32)
    sample_id: str = Field(index=True, max_length=80)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=200)
    uploaded_by: str = Field(max_length=100)
    uploaded_at: datetime = time_field()
