"""The human-task inbox: who sees and may act on a task, lists, claims, completing one (an Update
to its workflow), and the inbox rows the workflows open, escalate and close.

A person is an ``Actor`` (name and role); admin may act on every task, ops and admin see all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, func, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import ApiToken, Case, Customer, Task
from shopflow.models.types import utcnow
from shopflow.security.links import present_feedback
from shopflow.services.audit import audit
from shopflow.services.cases import send_update
from shopflow.services.errors import RETRY_AFTER_SECONDS, Refused, forbidden
from shopflow.settings import Settings
from shopflow.workflows.shared import (
    Actor,
    AssignTaskInput,
    CaseTasksCancel,
    CompleteTaskInput,
    TaskClose,
    TaskCreate,
    TaskEscalate,
    TaskOutcome,
)
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES, ROLES, SEES_ALL_TASKS, Role, TaskStatus

# The list filter: "active" (the default) and "open" list open and claimed tasks.
LIST_STATUSES = ("open", "claimed", "done", "cancelled", "active")
# The inbox views (``GET /tasks?view=``, the inbox page's tabs).
VIEWS = ("all", "mine", "unassigned", "team", "overdue")


# --- who may do what --------------------------------------------------------------------------

def role_may_act(role: str, task: Task) -> bool:
    """Its own role always; the escalation role (ops) once the task is overdue; admin."""
    return role in (Role.ADMIN, task.role) or (task.escalated and role == task.escalation_role)


def may_act(actor: Actor, task: Task) -> bool:
    return role_may_act(actor.role, task)


def may_see(actor: Actor, task: Task) -> bool:
    return actor.role in SEES_ALL_TASKS or role_may_act(actor.role, task)


def is_overdue(task: Task, now: datetime) -> bool:
    # An escalated task is overdue by definition (its workflow's clock said so).
    return task.status in ACTIVE_TASK_STATUSES and (task.escalated or task.due_at < now)


def task_public(task: Task, settings: Settings | None = None,
                may_see_link: bool = False) -> dict[str, Any]:
    """The task as the API shows it. A context's customer form link (a sample's feedback call)
    is never shown as its ref; its ``url`` only to those who call customers, given
    ``settings``."""
    data = task.model_dump(mode="json")
    data["overdue"] = is_overdue(task, utcnow())
    present_context_links(data["context"], settings, may_see_link)
    return data


def present_context_links(context: dict[str, Any], settings: Settings | None,
                          may_see_link: bool) -> None:
    if not isinstance(context.get("feedback"), dict):
        return
    if settings is None or not may_see_link:
        context["feedback"] = {k: v for k, v in context["feedback"].items()
                               if k not in ("link", "token", "url")}
        return
    present_feedback(settings, may_see_link, context)


# --- reads ------------------------------------------------------------------------------------

def load_task(engine: Engine, task_id: str, actor: Actor, *, acting: bool) -> Task:
    """The task, if ``actor`` may see it (``acting``: may decide it); 404/403 otherwise."""
    with session_scope(engine, write=False) as session:
        task = session.get(Task, task_id)
    if task is None:
        raise Refused(404, "not_found", f"no task {task_id}")
    if not (may_act(actor, task) if acting else may_see(actor, task)):
        raise forbidden(f"this task is for role {task.role}")
    return task


def is_overdue_clause(now: datetime) -> Any:
    return (col(Task.due_at) < now) | col(Task.escalated)


def task_conditions(actor: Actor, *, status: str = "active", view: str = "all",
                    kind: str | None = None, case_id: str | None = None,
                    role: str | None = None, assignee: str | None = None,
                    now: datetime | None = None) -> list[Any]:
    """The WHERE clauses of an inbox: the tasks ``actor`` sees (its role's, or every role's for
    ops and admin, narrowed to ``role``), in ``status``, through one of ``VIEWS``:
    ``mine`` (assigned to me), ``unassigned``, ``team`` (my role's own tasks; admin: all) and
    ``overdue`` (past due or escalated); ``assignee``: one person's."""
    conds: list[Any] = []
    if status in ("open", "active"):
        conds.append(col(Task.status).in_(ACTIVE_TASK_STATUSES))
    else:
        conds.append(Task.status == status)
    if actor.role not in SEES_ALL_TASKS:
        conds.append((col(Task.role) == actor.role) | (col(Task.escalation_role) == actor.role))
    elif role:
        conds.append(Task.role == role)
    if kind:
        conds.append(Task.kind == kind)
    if case_id:
        conds.append(Task.case_id == case_id)
    if assignee:
        conds.append(Task.assignee == assignee)
    if view == "mine":
        conds.append(Task.assignee == actor.name)
    elif view == "unassigned":
        conds.append(col(Task.assignee).is_(None))
    elif view == "team" and actor.role != Role.ADMIN:
        conds.append((col(Task.role) == actor.role) | (col(Task.escalation_role) == actor.role))
    elif view == "overdue":
        conds.append(is_overdue_clause(now or utcnow()))
    return conds


def list_tasks(engine: Engine, actor: Actor, page: int, page_size: int, *,
               status: str = "active", kind: str | None = None,
               case_id: str | None = None, view: str = "all",
               assignee: str | None = None) -> dict[str, Any]:
    """Tasks for the actor's role (ops and admin: every role's), due first, in one of
    ``VIEWS``, or one person's (``assignee``)."""
    conds = task_conditions(actor, status=status, view=view, kind=kind, case_id=case_id,
                            assignee=assignee)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Task).where(*conds)).one()
        rows = session.exec(select(Task).where(*conds)
                            .order_by(col(Task.due_at), col(Task.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return {"items": [task_public(t) for t in rows], "total": total, "page": page,
            "page_size": page_size}


def workload(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Open work per person and role (ops' view): each assignee's claimed tasks and how many
    are overdue, then each role's unassigned ones (person None)."""
    now = now or utcnow()
    late = func.sum(case((is_overdue_clause(now), 1), else_=0))
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(Task.assignee, Task.role, func.count(), late)
                            .where(col(Task.status).in_(ACTIVE_TASK_STATUSES))
                            .group_by(Task.assignee, Task.role)).all()
    out = [{"person": person, "role": role, "open": int(n), "overdue": int(o or 0)}
           for person, role, n, o in rows]
    return sorted(out, key=lambda r: (r["person"] is None, -r["open"], r["person"] or "",
                                      r["role"]))


# --- a person's commands ----------------------------------------------------------------------

def set_claim(engine: Engine, task_id: str, actor: Actor, claim: bool) -> dict[str, Any]:
    """Claim (or release) a task; 409 when someone else holds it or it is no longer open."""
    before_task = load_task(engine, task_id, actor, acting=True)
    before = {"status": before_task.status, "assignee": before_task.assignee}
    with session_scope(engine) as session:
        if claim:
            # Atomic: only an open task, or one this person already holds, can be claimed.
            stmt = update(Task).where(col(Task.id) == task_id).where(
                (col(Task.status) == TaskStatus.OPEN)
                | ((col(Task.status) == TaskStatus.CLAIMED) & (col(Task.assignee) == actor.name))
            ).values(status=TaskStatus.CLAIMED, assignee=actor.name)
        else:
            stmt = update(Task).where(col(Task.id) == task_id,
                                      col(Task.status) == TaskStatus.CLAIMED)
            if actor.role != Role.ADMIN:
                stmt = stmt.where(col(Task.assignee) == actor.name)
            stmt = stmt.values(status=TaskStatus.OPEN, assignee=None)
        changed = session.execute(stmt).rowcount  # type: ignore[attr-defined]
        task = session.get(Task, task_id)
        assert task is not None
        session.refresh(task)
        if changed and before["assignee"] != task.assignee:  # an assignment changed: audited
            audit(session, actor.name, "task", task_id, "claimed" if claim else "released",
                  before, {"status": task.status, "assignee": task.assignee})
    if not changed:
        if task.status in (TaskStatus.DONE, TaskStatus.CANCELLED):
            raise Refused(409, "task_not_open", f"the task is {task.status}")
        if claim:
            raise Refused(409, "claimed_by_other", f"claimed by {task.assignee}",
                               {"assignee": task.assignee})
        raise Refused(409, "not_claimed_by_you", "only the assignee can release this task")
    return task_public(task)


def check_may_complete(task: Task, actor: Actor) -> None:
    if task.status in (TaskStatus.DONE, TaskStatus.CANCELLED):
        raise Refused(409, "task_not_open", f"the task is already {task.status}")
    if task.status == TaskStatus.CLAIMED and task.assignee != actor.name \
            and actor.role != Role.ADMIN:
        raise Refused(409, "claimed_by_other", f"claimed by {task.assignee}",
                           {"assignee": task.assignee})


async def complete(client: Client, task: Task, actor: Actor, decision: str,
                   data: dict[str, Any], comment: str = "") -> TaskOutcome:
    """Send a decision to the task's workflow (the one path of the API and the pages); the
    workflow's validator answers 422/409 synchronously. ``task`` from ``load_task(acting=True)``."""
    check_may_complete(task, actor)
    async with catching_up():
        return await send_update(
            client, task.workflow_id, "complete_task",
            CompleteTaskInput(task.id, decision, data, comment, actor), TaskOutcome)


@asynccontextmanager
async def catching_up() -> AsyncIterator[None]:
    """An open task row whose workflow does not know the task (yet): a workflow task that wrote
    the row with a local activity was lost (Temporal or the worker stopped) and runs again
    shortly. Retryable (503 + Retry-After), not 404: the inbox shows the task."""
    try:
        yield
    except Refused as err:
        if err.code != "task_not_found":
            raise
        raise Refused(503, "task_not_ready",
                      "the case is catching up and has not reopened this task yet; "
                      "try again shortly", headers={"Retry-After": RETRY_AFTER_SECONDS}) from err


def role_of(engine: Engine, dev: bool, name: str) -> str | None:
    """The role of the person a task is handed to (dev tokens are named dev-<role>)."""
    with session_scope(engine, write=False) as session:
        return _role_in(session, dev, name)


def _role_in(session: Session, dev: bool, name: str) -> str | None:
    if dev and name.startswith("dev-"):
        return name[4:] if name[4:] in ROLES else None
    row = session.exec(select(ApiToken).where(ApiToken.name == name,
                                              ApiToken.revoked == False)).first()  # noqa: E712
    return row.role if row is not None else None


def is_lead(leads: Mapping[str, Sequence[str]], actor: Actor) -> bool:
    """A role lead: named under their own role in ``SHOPFLOW_ROLE_LEADS`` (``leads``)."""
    return actor.name in leads.get(actor.role, ())


def may_assign(leads: Mapping[str, Sequence[str]], actor: Actor, task: Task) -> bool:
    """Ops and admin hand any task over; a role lead hands over their own role's tasks."""
    return actor.role in SEES_ALL_TASKS or (is_lead(leads, actor) and task.role == actor.role)


def people(engine: Engine, dev: bool, roles: Sequence[str]) -> list[str]:
    """Who holds a live token of one of ``roles`` (and, in dev, the dev-<role> names): the
    people a task may be handed to."""
    with session_scope(engine, write=False) as session:
        names = list(session.exec(select(ApiToken.name).where(
            col(ApiToken.role).in_(list(roles)), ApiToken.revoked == False)  # noqa: E712
            .order_by(col(ApiToken.name)).limit(500)).all())
    return [*(f"dev-{r}" for r in roles if dev), *names]


async def assign(client: Client, engine: Engine, settings: Settings, task_id: str, to: str,
                 actor: Actor) -> dict[str, Any]:
    """Ops, admin or the task role's lead hands a task to a person who may act on it (its own
    role, the escalation role once escalated, or admin), taking it over from its assignee: on
    the case's timeline (the ``assign_task`` Update) and in the audit trail."""
    task = await asyncio.to_thread(load_task, engine, task_id, actor, acting=False)
    if not may_assign(settings.role_leads, actor, task):
        raise forbidden("only ops, admin or the role's lead assign tasks")
    if task.status not in ACTIVE_TASK_STATUSES:
        raise Refused(409, "task_not_open", f"the task is {task.status}")
    role = await asyncio.to_thread(role_of, engine, settings.is_dev, to)
    if role is None:
        raise Refused(422, "unknown_assignee", f"no one is called {to}", {"field": "to"})
    if not role_may_act(role, task):
        raise Refused(422, "assignee_cannot_act",
                      f"{to} ({role}) may not work on a task for {task.role}",
                      {"field": "to", "role": role})
    async with catching_up():
        await send_update(client, task.workflow_id, "assign_task",
                          AssignTaskInput(task_id, to, actor), str)
    return await asyncio.to_thread(_assigned, engine, task_id, to, actor)


def _assigned(engine: Engine, task_id: str, to: str, actor: Actor) -> dict[str, Any]:
    with session_scope(engine) as session:
        task = session.get(Task, task_id, with_for_update=True)
        assert task is not None
        if task.status not in ACTIVE_TASK_STATUSES:
            raise Refused(409, "task_not_open", f"the task is {task.status}")
        before = {"status": task.status, "assignee": task.assignee}
        task.status, task.assignee = TaskStatus.CLAIMED, to
        session.add(task)
        audit(session, actor.name, "task", task_id, "assigned", before,
              {"status": "claimed", "assignee": to})
        session.flush()
        session.refresh(task)
        return task_public(task)


# --- the inbox rows the workflows keep ----------------------------------------------------------

def create_task(engine: Engine, req: TaskCreate, rules: Mapping[str, str] | None = None,
                dev: bool = False) -> None:
    """The inbox row of a task a workflow opened (once). ``rules`` (``SHOPFLOW_ASSIGNMENT_RULES``,
    customer tag → person): a new task of a customer with such a tag is assigned to that
    person at once, if they may act on it (a key account's tasks go to its account manager)."""
    with session_scope(engine) as session:
        new = insert_ignore(session, Task, [{
            "id": req.task_id, "kind": req.kind, "role": req.role, "status": TaskStatus.OPEN,
            "case_id": req.case_id, "case_kind": req.case_kind,
            "workflow_id": req.workflow_id, "due_at": req.due_at, "escalated": False,
            "context": req.context, "decision": None,
            "created_at": req.created_at or req.due_at,
        }], ["id"])
        if new and rules:
            _apply_rules(session, req, rules, dev)


def _apply_rules(session: Session, req: TaskCreate, rules: Mapping[str, str], dev: bool) -> None:
    row = session.get(Case, req.case_id)
    customer_id = row.customer_id if row is not None else None
    if not customer_id:
        ctx_customer = req.context.get("customer")
        customer_id = ctx_customer.get("id") if isinstance(ctx_customer, dict) else None
    customer = session.get(Customer, customer_id) if isinstance(customer_id, str) else None
    if customer is None:
        return
    task = session.get(Task, req.task_id)
    assert task is not None
    for tag in customer.tags or []:
        person = rules.get(tag)
        role = _role_in(session, dev, person) if person else None
        if person and role is not None and role_may_act(role, task):
            task.status, task.assignee = TaskStatus.CLAIMED, person
            session.add(task)
            audit(session, f"rule:{tag}", "task", task.id, "assigned",
                  {"status": "open", "assignee": None}, {"status": "claimed", "assignee": person})
            return


def close_task(engine: Engine, req: TaskClose) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Task)
            .where(col(Task.id) == req.task_id, col(Task.status).in_(ACTIVE_TASK_STATUSES))
            .values(status=req.status, decision=req.decision, completed_by=req.actor,
                    completed_at=req.at)
        )


def escalate_task(engine: Engine, req: TaskEscalate) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Task)
            .where(col(Task.id) == req.task_id, col(Task.status).in_(ACTIVE_TASK_STATUSES))
            # Opened to the escalation role as well: the task keeps its own role and
            # assignee (a row escalated before this kept only the escalation role).
            .values(escalated=True, escalation_role=req.role)
        )


def cancel_open_tasks(engine: Engine, req: CaseTasksCancel) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Task)
            .where(col(Task.workflow_id) == req.workflow_id,
                   col(Task.status).in_(ACTIVE_TASK_STATUSES))
            .values(status=TaskStatus.CANCELLED, completed_at=req.at)
        )


def sync_task(engine: Engine, task_id: str, role: str, escalated: bool,
              due_at: datetime | None, context: dict[str, Any]) -> None:
    """Bring an open task up to date (a complaint's level): another role is added as its
    escalation role (its own role and assignee keep it: escalation never takes work away), the
    due time moves. ``context`` is merged into the task's."""
    with session_scope(engine) as session:
        task = session.get(Task, task_id, with_for_update=True)
        if task is None or task.status not in ACTIVE_TASK_STATUSES:
            return
        if role != task.role:
            task.escalation_role = role
        task.escalated = task.escalated or escalated
        if due_at is not None:
            task.due_at = due_at
        task.context = {**task.context, **context}
        session.add(task)
