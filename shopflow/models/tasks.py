from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class Task(SQLModel, table=True):
    """The human-task inbox: a read-model written by activities; the workflow owns the truth."""

    __tablename__ = "tasks"
    # The inbox: a role's open tasks by due time (and the dashboard's overdue counts).
    __table_args__ = (Index("ix_tasks_role_status_due_at", "role", "status", "due_at"),)

    id: str = Field(primary_key=True, max_length=160)
    kind: str = Field(index=True)
    role: str = Field(index=True)
    status: str = Field(default="open", index=True)  # open | claimed | done | cancelled
    case_id: str = Field(index=True)
    case_kind: str
    workflow_id: str = Field(index=True)
    assignee: str | None = None
    due_at: datetime = time_field(index=True, default_now=False, nullable=False)
    escalated: bool = False
    # Escalation opens the task to this role as well (ops); its own role and assignee keep it.
    escalation_role: str | None = None
    context: dict[str, Any] = json_field()
    decision: dict[str, Any] | None = json_field(lambda: None)
    completed_by: str | None = None
    completed_at: datetime | None = time_field(nullable=True)
    created_at: datetime = time_field()
