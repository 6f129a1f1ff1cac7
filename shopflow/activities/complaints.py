"""Complaints: the complaints record, the handling task's inbox row, opening a complaint (from
the API or from another process), the return a quality complaint's resolution asks for, and the
complaints of an order."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Complaint, Customer, Task
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from shopflow.workflows.complaint import (
    ComplaintInput,
    ComplaintSnapshot,
    ComplaintTimers,
    ComplaintWorkflow,
    ReturnStart,
    TaskSync,
)
from shopflow.workflows.shared import Act, ComplaintOpen, CustomerData
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES

OPEN_TASK = ACTIVE_TASK_STATUSES


def new_complaint_id(seed: str | None = None) -> str:
    """``CP`` and 10 hex digits; a seed (an idempotency key, a follow-up) gives the same id."""
    digest = hashlib.sha256(seed.encode()).hexdigest() if seed else uuid.uuid4().hex
    return f"CP{digest[:10].upper()}"


def complaint_input(settings: Settings, complaint_id: str, customer: CustomerData, category: str,
                    description: str, channel: str, order_no: str | None,
                    submitted_by: str) -> ComplaintInput:
    s = settings
    return ComplaintInput(
        complaint_id=complaint_id, customer=customer, category=category,
        description=description, channel=channel, order_no=order_no or None,
        submitted_by=submitted_by,
        timers=ComplaintTimers(
            response_sla=s.complaint_response_sla.total_seconds(),
            resolution_sla=s.complaint_resolution_sla.total_seconds(),
            reopen_window=s.complaint_reopen_window.total_seconds(),
            feedback_reminder=s.feedback_reminder.total_seconds(),
            notice_send=s.notice_send_timeout.total_seconds(),
        ),
    )


async def start_complaint(client: Client, settings: Settings, inp: ComplaintInput) -> bool:
    """Start ``complaint-<id>``; False when it was started before (a retry: nothing new).
    Temporal errors propagate (the API maps them; an activity retries)."""
    try:
        await client.start_workflow(
            ComplaintWorkflow.run, inp, id=f"complaint-{inp.complaint_id}",
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


def register_complaint(engine: Engine, inp: ComplaintInput) -> None:
    """Make the complaint visible at once; its workflow keeps both rows current."""
    now = utcnow()
    workflow_id = f"complaint-{inp.complaint_id}"
    with session_scope(engine) as session:
        insert_ignore(session, Case.__table__, [{
            "id": inp.complaint_id, "kind": "complaint", "workflow_id": workflow_id,
            "status": "open", "stage": "handling", "customer_id": inp.customer.id,
            "data": {"id": inp.complaint_id, "complaint_no": inp.complaint_id,
                     "customer": {"id": inp.customer.id, "name": inp.customer.name,
                                  "company": inp.customer.company},
                     "order_no": inp.order_no, "category": inp.category,
                     "description": inp.description, "channel": inp.channel, "level": 0,
                     "messages": [], "feedback": None, "history": []},
            "version": 0, "created_at": now, "updated_at": now}], ["id"])
        insert_ignore(session, Complaint.__table__, [{
            "id": inp.complaint_id, "workflow_id": workflow_id, "customer_id": inp.customer.id,
            "order_no": inp.order_no, "category": inp.category, "channel": inp.channel,
            "description": inp.description, "status": "open", "level": 0, "escalations": 0,
            "reopened": 0, "version": 0, "created_at": now, "updated_at": now}], ["id"])


def complaints_for_order(session: Session, order_no: str) -> list[dict[str, Any]]:
    """The complaints tied to an order, oldest first (for GET /orders/{order_no})."""
    rows = session.exec(select(Complaint).where(Complaint.order_no == order_no)
                        .order_by(col(Complaint.created_at), col(Complaint.id)))
    return [{"id": c.id, "workflow_id": c.workflow_id, "category": c.category,
             "status": c.status, "level": c.level,
             "created_at": c.created_at.isoformat(),
             "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
             "url": f"/api/v1/complaints/{c.id}"} for c in rows]


class ComplaintActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client

    @activity.defn(name=Act.COMPLAINT_RECORD)
    def record(self, snap: ComplaintSnapshot) -> None:
        values = asdict(snap)
        at = values.pop("at")
        with session_scope(self.engine) as session:
            insert_ignore(session, Complaint.__table__, [{
                **values, "version": 0, "created_at": at, "updated_at": at}], ["id"])
            # Activities of one case may finish out of order; the newest snapshot wins.
            session.execute(
                update(Complaint)
                .where(col(Complaint.id) == snap.id, col(Complaint.version) < snap.version)
                .values(**{k: v for k, v in values.items() if k not in ("id", "workflow_id")},
                        updated_at=at)
            )

    @activity.defn(name=Act.COMPLAINT_TASK_SYNC)
    def task_sync(self, req: TaskSync) -> None:
        with session_scope(self.engine) as session:
            task = session.get(Task, req.task_id, with_for_update=True)
            if task is None or task.status not in OPEN_TASK:
                return
            if req.role != task.role:
                # A level up opens the task to that role as well; its own role and assignee
                # keep it (escalation never takes work away).
                task.escalation_role = req.role
            task.escalated = task.escalated or req.escalated
            if req.due_at is not None:
                task.due_at = req.due_at
            task.context = {**task.context, "level": req.level}
            session.add(task)

    @activity.defn(name=Act.COMPLAINT_OPEN)
    async def open(self, req: ComplaintOpen) -> dict[str, str]:
        if self.client is None:
            raise RuntimeError("complaints.open needs a Temporal client")
        complaint_id = new_complaint_id(f"open|{req.key}")
        customer = await asyncio.to_thread(self._customer, req.customer_id)
        inp = complaint_input(self.settings, complaint_id, customer, req.category,
                              req.description, req.channel, req.order_no, req.opened_by)
        await start_complaint(self.client, self.settings, inp)
        await asyncio.to_thread(register_complaint, self.engine, inp)
        return {"id": complaint_id, "workflow_id": f"complaint-{complaint_id}"}

    def _customer(self, customer_id: str) -> CustomerData:
        with session_scope(self.engine, write=False) as session:
            c = session.get(Customer, customer_id)
            if c is None:
                return CustomerData(id=customer_id)
            return CustomerData(id=c.id, name=c.name, company=c.company, email=c.email,
                                phone=c.phone, address=c.address, locale=c.locale)

    @activity.defn(name=Act.COMPLAINT_START_RETURN)
    async def start_return(self, req: ReturnStart) -> dict[str, Any]:
        """Start the return a quality complaint's resolution asks for, through the returns
        process when this installation has one; otherwise record the request for cs."""
        starter = _return_starter()
        if starter is None or self.client is None:
            return {"status": "requested", "order_no": req.order_no, "kind": req.kind,
                    "items": req.items,
                    "note": "the returns process is not available: start the return by hand"}
        return await starter(self.client, self.settings, self.engine, req)


def _return_starter() -> Any:
    """The returns process's entry point for other processes, if it exists in this tree."""
    try:
        from shopflow.activities import returns  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(returns, "start_return_for_complaint", None)
