"""The human-task inbox: list, look, claim, release, complete (a Temporal Update)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, update
from sqlmodel import col, select

from shopflow.api.auth import ROLES, User
from shopflow.api.cases import send_update
from shopflow.api.deps import PageDep, ServicesDep, current_user
from shopflow.api.errors import ApiError
from shopflow.db import session_scope
from shopflow.models import ApiToken, Task
from shopflow.models.schemas import (
    PageOf,
    TaskAssign,
    TaskComplete,
    TaskOutcomePublic,
    TaskPublic,
)
from shopflow.models.types import utcnow
from shopflow.services.audit import audit
from shopflow.workflows.shared import Actor, AssignTaskInput, CompleteTaskInput, TaskOutcome
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES, SEES_ALL_TASKS

router = APIRouter(prefix="/tasks", tags=["tasks"])
UserDep = Annotated[User, Depends(current_user)]
SEES_ALL = SEES_ALL_TASKS


def task_public(task: Task) -> dict[str, Any]:
    data = task.model_dump(mode="json")
    # An escalated task is overdue by definition (its workflow's clock said so).
    data["overdue"] = task.status in ACTIVE_TASK_STATUSES and (
        task.escalated or task.due_at < utcnow())
    return data


def _may_act(user: User, task: Task) -> bool:
    """Its own role always; the escalation role (ops) once the task is overdue; admin."""
    return user.role == "admin" or _role_may_act(user.role, task)


def _role_may_act(role: str, task: Task) -> bool:
    return role in ("admin", task.role) or (task.escalated and role == task.escalation_role)


def _load(svc: Any, task_id: str, user: User, *, acting: bool) -> Task:
    with session_scope(svc.engine, write=False) as session:
        task = session.get(Task, task_id)
    if task is None:
        raise ApiError(404, "not_found", f"no task {task_id}")
    if acting and not _may_act(user, task):
        raise ApiError(403, "forbidden", f"this task is for role {task.role}")
    if not acting and not (user.role in SEES_ALL or _role_may_act(user.role, task)):
        raise ApiError(403, "forbidden", f"this task is for role {task.role}")
    return task


@router.get("", response_model=PageOf[TaskPublic])
async def list_tasks(
    svc: ServicesDep, user: UserDep, page: PageDep,
    status: Annotated[str, Query(pattern="^(open|claimed|done|cancelled|active)$")] = "active",
    kind: Annotated[str | None, Query(max_length=60)] = None,
    case_id: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    """Tasks for the caller's role, due first. ``status=open`` (and the default ``active``) lists
    open and claimed tasks; ops and admin see every role's."""

    def query() -> dict[str, Any]:
        conds = []
        if status in ("open", "active"):
            conds.append(col(Task.status).in_(ACTIVE_TASK_STATUSES))
        else:
            conds.append(Task.status == status)
        if user.role not in SEES_ALL:
            conds.append((col(Task.role) == user.role)
                         | (col(Task.escalation_role) == user.role))
        if kind:
            conds.append(Task.kind == kind)
        if case_id:
            conds.append(Task.case_id == case_id)
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Task).where(*conds)).one()
            rows = session.exec(select(Task).where(*conds)
                                .order_by(col(Task.due_at), col(Task.id))
                                .offset(page.offset).limit(page.page_size)).all()
        return {"items": [task_public(t) for t in rows], "total": total, "page": page.page,
                "page_size": page.page_size}

    return await svc.db(query)


@router.get("/{task_id}", response_model=TaskPublic)
async def get_task(task_id: str, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    return task_public(await svc.db(_load, svc, task_id, user, acting=False))


@router.post("/{task_id}/claim", response_model=TaskPublic)
async def claim_task(task_id: str, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    return await svc.db(_set_claim, svc, task_id, user, True)


@router.post("/{task_id}/release", response_model=TaskPublic)
async def release_task(task_id: str, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    return await svc.db(_set_claim, svc, task_id, user, False)


def _set_claim(svc: Any, task_id: str, user: User, claim: bool) -> dict[str, Any]:
    task = _load(svc, task_id, user, acting=True)
    before = {"status": task.status, "assignee": task.assignee}
    with session_scope(svc.engine) as session:
        if claim:
            # Atomic: only an open task, or one this user already holds, can be claimed.
            stmt = update(Task).where(col(Task.id) == task_id).where(
                (col(Task.status) == "open")
                | ((col(Task.status) == "claimed") & (col(Task.assignee) == user.name))
            ).values(status="claimed", assignee=user.name)
        else:
            stmt = update(Task).where(col(Task.id) == task_id, col(Task.status) == "claimed")
            if user.role != "admin":
                stmt = stmt.where(col(Task.assignee) == user.name)
            stmt = stmt.values(status="open", assignee=None)
        changed = session.execute(stmt).rowcount  # type: ignore[attr-defined]
        task = session.get(Task, task_id)
        assert task is not None
        session.refresh(task)
        if changed and before["assignee"] != task.assignee:  # an assignment changed: audited
            audit(session, user.name, "task", task_id, "claimed" if claim else "released",
                  before, {"status": task.status, "assignee": task.assignee})
    if not changed:
        if task.status in ("done", "cancelled"):
            raise ApiError(409, "task_not_open", f"the task is {task.status}")
        if claim:
            raise ApiError(409, "claimed_by_other", f"claimed by {task.assignee}",
                           {"assignee": task.assignee})
        raise ApiError(409, "not_claimed_by_you", "only the assignee can release this task")
    return task_public(task)


@router.post("/{task_id}/assign", response_model=TaskPublic,
             responses={403: {}, 404: {}, 409: {}, 422: {}, 503: {}})
async def assign_task(task_id: str, body: TaskAssign, svc: ServicesDep,
                      user: UserDep) -> dict[str, Any]:
    """Ops or admin hands a task to a person who may act on it (its own role, the escalation
    role once escalated, or admin), taking it over from its assignee: on the case's timeline
    and in the audit trail."""
    if user.role not in SEES_ALL:
        raise ApiError(403, "forbidden", "only ops or admin assign tasks")
    task = await svc.db(_load, svc, task_id, user, acting=False)
    if task.status not in ACTIVE_TASK_STATUSES:
        raise ApiError(409, "task_not_open", f"the task is {task.status}")
    role = await svc.db(_role_of, svc, body.to)
    if role is None:
        raise ApiError(422, "unknown_assignee", f"no one is called {body.to}",
                       {"field": "to"})
    if not _role_may_act(role, task):
        raise ApiError(422, "assignee_cannot_act",
                       f"{body.to} ({role}) may not work on a task for {task.role}",
                       {"field": "to", "role": role})
    await send_update(svc, task.workflow_id, "assign_task",
                      AssignTaskInput(task_id, body.to, Actor(user.name, user.role)), str)
    return await svc.db(_assign, svc, task_id, body.to, user)


def _role_of(svc: Any, name: str) -> str | None:
    """The role of the person a task is handed to (dev tokens are named dev-<role>)."""
    if svc.settings.is_dev and name.startswith("dev-"):
        return name[4:] if name[4:] in ROLES else None
    with session_scope(svc.engine, write=False) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == name,
                                                  ApiToken.revoked == False)).first()  # noqa: E712
    return row.role if row is not None else None


def _assign(svc: Any, task_id: str, to: str, user: User) -> dict[str, Any]:
    with session_scope(svc.engine) as session:
        task = session.get(Task, task_id, with_for_update=True)
        assert task is not None
        if task.status not in ACTIVE_TASK_STATUSES:
            raise ApiError(409, "task_not_open", f"the task is {task.status}")
        before = {"status": task.status, "assignee": task.assignee}
        task.status, task.assignee = "claimed", to
        session.add(task)
        audit(session, user.name, "task", task_id, "assigned", before,
              {"status": "claimed", "assignee": to})
        session.flush()
        session.refresh(task)
        return task_public(task)


@router.post("/{task_id}/complete", response_model=TaskOutcomePublic,
             responses={409: {}, 422: {}, 503: {}})
async def complete_task(task_id: str, body: TaskComplete, svc: ServicesDep,
                        user: UserDep) -> Any:
    return await complete_as(svc, task_id, user, body)


async def complete_as(svc: Any, task_id: str, user: User, body: TaskComplete) -> TaskOutcome:
    """Complete a task as ``user``: the one code path of the API route and the web UI. Raises
    ApiError (403/404/409, and the workflow Update's 422/409 through send_update)."""
    task = await svc.db(_load, svc, task_id, user, acting=True)
    if task.status in ("done", "cancelled"):
        raise ApiError(409, "task_not_open", f"the task is already {task.status}")
    if task.status == "claimed" and task.assignee != user.name and user.role != "admin":
        raise ApiError(409, "claimed_by_other", f"claimed by {task.assignee}",
                       {"assignee": task.assignee})
    outcome = await send_update(
        svc, task.workflow_id, "complete_task",
        CompleteTaskInput(task_id, body.decision, body.data, body.comment,
                          Actor(user.name, user.role)),
        TaskOutcome,
    )
    return outcome
