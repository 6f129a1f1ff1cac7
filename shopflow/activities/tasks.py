"""The human-task inbox read-model: rows created, escalated and closed by the workflows."""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import col
from temporalio import activity

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Task
from shopflow.workflows.shared import Act, CaseTasksCancel, TaskClose, TaskCreate, TaskEscalate
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES

OPEN_STATUSES = ACTIVE_TASK_STATUSES


class TaskActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.TASK_CREATE)
    def create(self, req: TaskCreate) -> None:
        with session_scope(self.engine) as session:
            insert_ignore(session, Task.__table__, [{
                "id": req.task_id, "kind": req.kind, "role": req.role, "status": "open",
                "case_id": req.case_id, "case_kind": req.case_kind,
                "workflow_id": req.workflow_id, "due_at": req.due_at, "escalated": False,
                "context": req.context, "decision": None,
                "created_at": req.created_at or req.due_at,
            }], ["id"])

    @activity.defn(name=Act.TASK_CLOSE)
    def close(self, req: TaskClose) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(Task)
                .where(col(Task.id) == req.task_id, col(Task.status).in_(OPEN_STATUSES))
                .values(status=req.status, decision=req.decision, completed_by=req.actor,
                        completed_at=req.at)
            )

    @activity.defn(name=Act.TASK_ESCALATE)
    def escalate(self, req: TaskEscalate) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(Task)
                .where(col(Task.id) == req.task_id, col(Task.status).in_(OPEN_STATUSES))
                # Opened to the escalation role as well: the task keeps its own role and
                # assignee (a row escalated before this kept only the escalation role).
                .values(escalated=True, escalation_role=req.role)
            )

    @activity.defn(name=Act.TASK_CANCEL_OPEN)
    def cancel_open(self, req: CaseTasksCancel) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(Task)
                .where(col(Task.workflow_id) == req.workflow_id,
                       col(Task.status).in_(OPEN_STATUSES))
                .values(status="cancelled", completed_at=req.at)
            )
