"""The human-task inbox read-model: rows created, escalated and closed by the workflows
(services/tasks.py)."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import tasks
from shopflow.settings import Settings
from shopflow.workflows.shared import Act, CaseTasksCancel, TaskClose, TaskCreate, TaskEscalate


class TaskActivities:
    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.rules = settings.assignment_rules if settings is not None else {}
        self.dev = settings.is_dev if settings is not None else False

    @activity.defn(name=Act.TASK_CREATE)
    def create(self, req: TaskCreate) -> None:
        tasks.create_task(self.engine, req, self.rules, self.dev)

    @activity.defn(name=Act.TASK_CLOSE)
    def close(self, req: TaskClose) -> None:
        tasks.close_task(self.engine, req)

    @activity.defn(name=Act.TASK_ESCALATE)
    def escalate(self, req: TaskEscalate) -> None:
        tasks.escalate_task(self.engine, req)

    @activity.defn(name=Act.TASK_CANCEL_OPEN)
    def cancel_open(self, req: CaseTasksCancel) -> None:
        tasks.cancel_open_tasks(self.engine, req)
