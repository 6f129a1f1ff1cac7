"""The database reads behind the pages (blocking: run them through ``Services.db``). Each page
costs a handful of indexed queries with a LIMIT, whatever the number of cases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from shopflow.api.auth import User
from shopflow.db import session_scope
from shopflow.models import Case, Customer, Notice, Task
from shopflow.models.types import utcnow
from shopflow.services import invoices, tasks
from shopflow.services.cases import case_view, timeline_of
from shopflow.services.customers import purchase_history
from shopflow.services.inventory import availability
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES, SEES_ALL_TASKS

SEES_ALL = SEES_ALL_TASKS  # as the API: ops and admin see every role's tasks
ACTIVE = ACTIVE_TASK_STATUSES
TEAM_ROLES = ("cs", "reviewer", "warehouse", "finance", "ops", "product")  # ops hands tasks to


@dataclass
class Paged:
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def task_row(task: Task, now: datetime) -> dict[str, Any]:
    context = task.context or {}
    customer = context.get("customer") if isinstance(context.get("customer"), dict) else {}
    active = task.status in ACTIVE
    return {
        "id": task.id, "kind": task.kind, "role": task.role, "status": task.status,
        "case_id": task.case_id, "case_kind": task.case_kind, "workflow_id": task.workflow_id,
        "assignee": task.assignee, "due_at": task.due_at, "escalated": task.escalated,
        "overdue": active and (task.escalated or task.due_at < now),
        "customer": customer or {}, "created_at": task.created_at,
        "decision": task.decision, "completed_by": task.completed_by,
        "completed_at": task.completed_at, "context": context,
    }


# --- inbox ------------------------------------------------------------------------------------

def inbox(engine: Engine, user: User, *, kind: str | None, role: str | None, view: str,
          page: int, page_size: int, assignee: str | None = None) -> dict[str, Any]:
    """The inbox page: the API's task list (``tasks.task_conditions``) with the counts of its
    kinds and of its overdue tasks."""
    now = utcnow()
    actor = Actor(user.name, user.role)
    base = tasks.task_conditions(actor, role=role, view=view, assignee=assignee, now=now)
    conds = tasks.task_conditions(actor, role=role, view=view, kind=kind, assignee=assignee,
                                  now=now)
    with session_scope(engine, write=False) as session:
        kinds = session.exec(select(Task.kind, func.count()).where(*base)
                             .group_by(Task.kind).order_by(Task.kind)).all()
        total = session.exec(select(func.count()).select_from(Task).where(*conds)).one()
        overdue = session.exec(select(func.count()).select_from(Task).where(
            *conds, tasks.is_overdue_clause(now))).one()
        rows = session.exec(select(Task).where(*conds).order_by(col(Task.due_at), col(Task.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return {"tasks": Paged([task_row(t, now) for t in rows], total, page, page_size),
            "kinds": [(k, n) for k, n in kinds], "overdue": overdue}


# --- one task ---------------------------------------------------------------------------------

def task_page(engine: Engine, task: Task) -> dict[str, Any]:
    """What a person needs to decide, beyond the task's own context: the case, the customer's
    current profile and purchase history, and the stock available now for the task's items."""
    now = utcnow()
    with session_scope(engine, write=False) as session:
        case = session.get(Case, task.case_id)
        customer = _customer(session, case.customer_id if case else None)
        items = (task.context or {}).get("items")
        skus = [i["sku"] for i in items if isinstance(i, dict) and isinstance(i.get("sku"), str)] \
            if isinstance(items, list) else []
        stock_now = availability(session, skus) if skus else {}
        others = session.exec(select(Task).where(Task.case_id == task.case_id, Task.id != task.id)
                              .order_by(col(Task.created_at))).all()
    return {"task": task_row(task, now), "case": case_view(case) if case else None,
            "customer": customer, "stock_now": stock_now,
            "other_tasks": [task_row(t, now) for t in others]}


def form_context(engine: Engine, context: dict[str, Any], needs: tuple[str, ...]) -> dict[str, Any]:
    """The task's context plus what its form needs besides (``TaskForm.needs``):
    ``order_items``, the lines of the order the context names (``order_no``)."""
    ctx = dict(context)
    order_no = context.get("order_no")
    if "order_items" in needs and isinstance(order_no, str) and order_no:
        from shopflow.models import OrderLine

        with session_scope(engine, write=False) as session:
            lines = session.exec(select(OrderLine).where(OrderLine.order_no == order_no)
                                 .order_by(col(OrderLine.line_no))).all()
        ctx["order_items"] = [{"sku": x.sku, "name": x.name, "quantity": x.quantity}
                              for x in lines]
    return ctx


def _customer(session: Session, customer_id: str | None) -> dict[str, Any] | None:
    if not customer_id:
        return None
    c = session.get(Customer, customer_id)
    if c is None:
        return None
    return {**c.model_dump(mode="json"), "purchase_history": purchase_history(session, c.id)}


# --- cases ------------------------------------------------------------------------------------

def case_kinds(engine: Engine) -> list[str]:
    with session_scope(engine, write=False) as session:
        return [k for k in session.exec(select(Case.kind).distinct().order_by(Case.kind))]


def cases(engine: Engine, *, kind: str | None, status: str | None, stage: str | None,
          q: str | None, open_only: bool, page: int, page_size: int,
          scope: Any = None) -> Paged:
    conds: list[Any] = [] if scope is None else [scope]  # a channel token's own cases
    if kind:
        conds.append(Case.kind == kind)
    if status:
        conds.append(Case.status == status)
    if stage:
        conds.append(Case.stage == stage)
    if open_only:
        conds.append(col(Case.closed_at).is_(None))
    if q:
        conds.append((Case.id == q) | (Case.customer_id == q) | (Case.workflow_id == q))
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Case).where(*conds)).one()
        rows = session.exec(select(Case).where(*conds)
                            .order_by(col(Case.created_at).desc(), col(Case.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
        items = [{"id": c.id, "kind": c.kind, "status": c.status, "stage": c.stage,
                  "customer_id": c.customer_id, "customer": _name(c.data),
                  "created_at": c.created_at, "updated_at": c.updated_at,
                  "closed_at": c.closed_at} for c in rows]
    return Paged(items, total, page, page_size)


def _name(data: dict[str, Any]) -> str:
    customer = data.get("customer") if isinstance(data, dict) else None
    if isinstance(customer, dict):
        return " · ".join(str(x) for x in (customer.get("name"), customer.get("company")) if x)
    return ""


def case_page(engine: Engine, kind: str, case_id: str) -> dict[str, Any] | None:
    now = utcnow()
    with session_scope(engine, write=False) as session:
        case = session.get(Case, case_id)
        if case is None or case.kind != kind:
            return None
        tasks = session.exec(select(Task).where(Task.case_id == case_id)
                             .order_by(col(Task.created_at), col(Task.id))).all()
        notices = session.exec(select(Notice).where(Notice.case_id == case_id)
                               .order_by(col(Notice.id))).all()
        view = case_view(case)
        if kind == "order":  # the tax invoice lives beside the case (services/invoices.py)
            view["tax_invoice"] = _tax_invoice(session, case_id)
        return {
            "case": view,
            "tasks": [task_row(t, now) for t in tasks],
            "timeline": timeline_of(session, case_id),
            "notices": [{"id": n.id, "kind": n.kind, "recipient": n.recipient,
                         "channel": n.channel, "locale": n.locale, "subject": n.subject,
                         "status": n.status, "attempts": n.attempts,
                         "last_error": n.last_error, "created_at": n.created_at,
                         "sent_at": n.sent_at} for n in notices],
            "customer": _customer(session, case.customer_id),
        }


def _tax_invoice(session: Session, order_no: str) -> dict[str, Any] | None:
    """The order's tax invoice as its page shows it: number, state, title, tax ID, total and
    the credit notes' numbers and amounts."""
    found = invoices.of_order(session, order_no)
    if found is None:
        return None
    return {"invoice_no": found["invoice_no"] or "—", "status": found["status"],
            "title": found["title"], "tax_id": found["tax_id"] or "",
            "total": found["total"], "tax": found["tax"],
            "credit_notes": [f"{n['invoice_no']} -{n['total']:.2f}" for n in found["credit_notes"]],
            "balance": found["balance"]}


# --- dashboard --------------------------------------------------------------------------------

def dashboard(engine: Engine, days: int = 14) -> dict[str, Any]:
    now = utcnow()
    today = now.date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), now.tzinfo)
    overdue_cond = [col(Task.status).in_(ACTIVE), (col(Task.due_at) < now) | col(Task.escalated)]
    with session_scope(engine, write=False) as session:
        open_rows = session.exec(
            select(Case.kind, Case.stage, func.count()).where(col(Case.closed_at).is_(None))
            .group_by(Case.kind, Case.stage).order_by(Case.kind, Case.stage)).all()
        overdue_total = session.exec(select(func.count()).select_from(Task)
                                     .where(*overdue_cond)).one()
        overdue = session.exec(select(Task).where(*overdue_cond).order_by(col(Task.due_at))
                               .limit(10)).all()
        open_tasks = session.exec(select(Task.role, func.count()).where(
            col(Task.status).in_(ACTIVE)).group_by(Task.role).order_by(Task.role)).all()
        created = _per_day(session, Case.created_at, since)
        closed = _per_day(session, Case.closed_at, since)
    day_list = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    kinds = sorted({k for k, _, _ in open_rows} | {k for (_, k) in created} | {k for (_, k) in closed})
    per_kind: dict[str, dict[str, int]] = {}
    for kind, stage, n in open_rows:
        per_kind.setdefault(kind, {})[stage] = n
    return {
        "now": now,
        "open_by_kind": per_kind,
        "open_total": sum(n for _, _, n in open_rows),
        "open_tasks_by_role": [(r, n) for r, n in open_tasks],
        "overdue_total": overdue_total,
        "overdue": [task_row(t, now) for t in overdue],
        "day_labels": day_list,
        "kinds": kinds,
        "created": {k: [created.get((d, k), 0) for d in day_list] for k in kinds},
        "closed": {k: [closed.get((d, k), 0) for d in day_list] for k in kinds},
    }


def _per_day(session: Session, column: Any, since: datetime) -> dict[tuple[str, str], int]:
    day = func.date(column)
    rows = session.exec(select(day, Case.kind, func.count()).where(column >= since)
                        .group_by(day, Case.kind)).all()
    return {(str(d), k): n for d, k, n in rows}
