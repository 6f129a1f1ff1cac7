"""The human-task inbox: list, look, claim, release, complete (a Temporal Update)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, current_user
from shopflow.models.schemas import (
    PageOf,
    TaskAssign,
    TaskBulk,
    TaskBulkAnswer,
    TaskComplete,
    TaskOutcomePublic,
    TaskPublic,
)
from shopflow.security.links import LINK_ROLES
from shopflow.services import bulk as bulk_work
from shopflow.services import tasks
from shopflow.workflows.shared import Actor

router = APIRouter(prefix="/tasks", tags=["tasks"])
UserDep = Annotated[User, Depends(current_user)]


def actor(user: User) -> Actor:
    return Actor(user.name, user.role)


@router.get("", response_model=PageOf[TaskPublic])
async def list_tasks(
    svc: ServicesDep, user: UserDep, page: PageDep,
    status: Annotated[str, Query(pattern="^(open|claimed|done|cancelled|active)$")] = "active",
    kind: Annotated[str | None, Query(max_length=60)] = None,
    case_id: Annotated[str | None, Query(max_length=80)] = None,
    view: Annotated[str, Query(pattern=f"^({'|'.join(tasks.VIEWS)})$")] = "all",
    assignee: Annotated[str | None, Query(max_length=120)] = None,
) -> dict[str, Any]:
    """Tasks for the caller's role, due first. ``status=open`` (and the default ``active``) lists
    open and claimed tasks; ops and admin see every role's. ``view``: ``mine`` (assigned to
    me), ``unassigned``, ``team`` (my role's own tasks), ``overdue`` (past due or escalated);
    ``assignee``: one person's tasks (of those the caller sees)."""
    return await svc.db(tasks.list_tasks, svc.engine, actor(user), page.page, page.page_size,
                        status=status, kind=kind, case_id=case_id, view=view,
                        assignee=assignee)


@router.post("/bulk", response_model=TaskBulkAnswer, responses={422: {}})
async def bulk(body: TaskBulk, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    """One action on many tasks (up to 100): each goes through the path of the single route
    (a completion is that task's own Update, applied whole or refused) and gets its own result:
    done, or the status and error code the single route would have answered. 422 (naming the
    field) only when the request itself is wrong: ``complete`` without ``decision``, ``assign``
    without ``to``, a task named twice."""
    results = await bulk_work.run(svc.client, svc.engine, svc.settings, actor(user),
                                  body.action, body.task_ids, decision=body.decision,
                                  data=body.data, comment=body.comment, to=body.to,
                                  user=user if user.scoped else None)
    done = sum(1 for r in results if r["ok"])
    return {"action": body.action, "done": done, "failed": len(results) - done,
            "results": results}


@router.get("/{task_id}", response_model=TaskPublic)
async def get_task(task_id: str, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    task = await svc.db(tasks.load_task, svc.engine, task_id, actor(user), acting=False)
    return tasks.task_public(task, svc.settings, user.has(*LINK_ROLES))


@router.post("/{task_id}/claim", response_model=TaskPublic)
async def claim_task(task_id: str, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    return await svc.db(tasks.set_claim, svc.engine, task_id, actor(user), True)


@router.post("/{task_id}/release", response_model=TaskPublic)
async def release_task(task_id: str, svc: ServicesDep, user: UserDep) -> dict[str, Any]:
    return await svc.db(tasks.set_claim, svc.engine, task_id, actor(user), False)


@router.post("/{task_id}/assign", response_model=TaskPublic,
             responses={403: {}, 404: {}, 409: {}, 422: {}, 503: {}})
async def assign_task(task_id: str, body: TaskAssign, svc: ServicesDep,
                      user: UserDep) -> dict[str, Any]:
    """Ops, admin or the lead of the task's role (``SHOPFLOW_ROLE_LEADS``) hands a task to a
    person who may act on it (its own role, the escalation role once escalated, or admin),
    taking it over from its assignee: on the case's timeline and in the audit trail."""
    return await tasks.assign(svc.client(), svc.engine, svc.settings, task_id, body.to,
                              actor(user))


@router.post("/{task_id}/complete", response_model=TaskOutcomePublic,
             responses={409: {}, 422: {}, 503: {}})
async def complete_task(task_id: str, body: TaskComplete, svc: ServicesDep,
                        user: UserDep) -> Any:
    task = await svc.db(tasks.load_task, svc.engine, task_id, actor(user), acting=True)
    return await tasks.complete(svc.client(), task, actor(user), body.decision, body.data,
                                body.comment)
