"""Complaints (seed 003): filing one (from the API, the pages or another process: the one start
path), the complaints row the workflow keeps, the handling task's inbox row, lists, and the
customer's messages and escalation."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Complaint, Customer, Order
from shopflow.models.complaint_schemas import ComplaintCreate
from shopflow.models.types import utcnow
from shopflow.services import cases, tasks
from shopflow.services.errors import Refused, never_reached_temporal
from shopflow.services.scoping import record_channel
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.complaint import (
    ComplaintInput,
    ComplaintTimers,
    ComplaintWorkflow,
    CustomerEscalation,
    CustomerMessage,
)
from shopflow.workflows.shared import (
    ComplaintOpen,
    ComplaintOpened,
    ComplaintSnapshot,
    CustomerData,
    TaskSync,
)
from shopflow.workflows.vocab import CaseKind, ComplaintStage, ComplaintStatus


def complaint_workflow_id(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


def new_complaint_id(seed: str | None = None) -> str:
    """``CP`` and 24 hex digits (96 bits, random or derived); a seed (an idempotency key, a
    follow-up) gives the same id."""
    digest = hashlib.sha256(seed.encode()).hexdigest() if seed else secrets.token_hex(12)
    return f"CP{digest[:24].upper()}"


def complaint_input(settings: Settings, complaint_id: str, customer: CustomerData, category: str,
                    description: str, channel: str, order_no: str | None,
                    submitted_by: str) -> ComplaintInput:
    return ComplaintInput(
        complaint_id=complaint_id, customer=customer, category=category,
        description=description, channel=channel, order_no=order_no or None,
        submitted_by=submitted_by, timers=timers_for(ComplaintTimers, settings),
    )


async def start_complaint(client: Client, settings: Settings, inp: ComplaintInput) -> bool:
    """Start ``complaint-<id>``; False when it was started before (a retry: nothing new)."""
    return await cases.start_once(client, settings, ComplaintWorkflow.run, inp,
                                  complaint_workflow_id(inp.complaint_id))


def register_complaint(engine: Engine, inp: ComplaintInput) -> bool:
    """Make the complaint visible at once; its workflow keeps both rows current. True when
    the rows are new."""
    now = utcnow()
    workflow_id = complaint_workflow_id(inp.complaint_id)
    c = inp.customer
    with session_scope(engine) as session:
        new = cases.register_case(
            session, inp.complaint_id, CaseKind.COMPLAINT, workflow_id, ComplaintStatus.OPEN,
            ComplaintStage.HANDLING, c.id,
            {"id": inp.complaint_id, "complaint_no": inp.complaint_id,
             "customer": {"id": c.id, "name": c.name, "company": c.company},
             "order_no": inp.order_no, "category": inp.category,
             "description": inp.description, "channel": inp.channel, "level": 0,
             "messages": [], "feedback": None, "history": []})
        insert_ignore(session, Complaint, [{
            "id": inp.complaint_id, "workflow_id": workflow_id, "customer_id": c.id,
            "order_no": inp.order_no, "category": inp.category, "channel": inp.channel,
            "description": inp.description, "status": ComplaintStatus.OPEN, "level": 0,
            "escalations": 0, "reopened": 0, "version": 0, "created_at": now,
            "updated_at": now}], ["id"])
    return new


async def file(client: Client, settings: Settings, engine: Engine, inp: ComplaintInput
               ) -> tuple[dict[str, Any], bool]:
    """Start the complaint and show it at once. The answer, and whether this call started the
    workflow (False: a retry of the same request)."""
    # Database first, then Temporal (docs/HACKING.md, "Creating a case").
    new = await asyncio.to_thread(register_complaint, engine, inp)
    try:
        started = await start_complaint(client, settings, inp)
    except BaseException as err:
        if new and never_reached_temporal(err):
            await asyncio.to_thread(cases.forget_case, engine, inp.complaint_id, Complaint)
        raise
    return {"id": inp.complaint_id, "workflow_id": complaint_workflow_id(inp.complaint_id),
            "status": ComplaintStatus.OPEN.value}, started


async def create(client: Client, settings: Settings, engine: Engine, body: ComplaintCreate,
                 submitted_by: str, seed: str | None,
                 may_update_customer: bool) -> tuple[dict[str, Any], bool]:
    """File a checked complaint (``POST /complaints`` and the complaint form): its channel
    recorded, its customer upserted (customer service may change a known customer's details;
    a channel's differing details become a proposal), its workflow started."""
    complaint_id = new_complaint_id(seed)
    await asyncio.to_thread(record_channel, engine, complaint_id, body.channel, submitted_by)
    inp = complaint_input(
        settings, complaint_id,
        CustomerData(**body.customer.model_dump(), source=submitted_by,
                     overwrite=may_update_customer),
        body.category, body.description, body.channel, body.order_no, submitted_by)
    return await file(client, settings, engine, inp)


def check_order(engine: Engine, order_no: str | None, customer_id: str) -> None:
    """A complaint about an order names one of the customer's orders (422 otherwise)."""
    if order_no is None:
        return
    with session_scope(engine, write=False) as session:
        order = session.get(Order, order_no)
    if order is None:
        raise Refused(422, "unknown_order", f"no order {order_no}", {"loc": ["body", "order_no"]})
    if order.customer_id != customer_id:
        raise Refused(422, "order_of_another_customer",
                      f"order {order_no} belongs to another customer",
                      {"loc": ["body", "order_no"]})


def customer_data(engine: Engine, customer_id: str) -> CustomerData:
    with session_scope(engine, write=False) as session:
        c = session.get(Customer, customer_id)
        if c is None:
            return CustomerData(id=customer_id)
        return CustomerData(id=c.id, name=c.name, company=c.company, email=c.email,
                            phone=c.phone, address=c.address, locale=c.locale)


async def open_for_process(client: Client, settings: Settings, engine: Engine,
                           req: ComplaintOpen) -> ComplaintOpened:
    """Open a complaint for another process (a follow-up); ``req.key`` makes the id, so a retry
    opens the same complaint."""
    complaint_id = new_complaint_id(f"open|{req.key}")
    customer = await asyncio.to_thread(customer_data, engine, req.customer_id)
    inp = complaint_input(settings, complaint_id, customer, req.category, req.description,
                          req.channel, req.order_no, req.opened_by)
    await file(client, settings, engine, inp)
    return ComplaintOpened(complaint_id, complaint_workflow_id(complaint_id))


# --- reads ------------------------------------------------------------------------------------

def complaints_for_order(session: Session, order_no: str) -> list[dict[str, Any]]:
    """The complaints tied to an order, oldest first (for GET /orders/{order_no})."""
    rows = session.exec(select(Complaint).where(Complaint.order_no == order_no)
                        .order_by(col(Complaint.created_at), col(Complaint.id)))
    return [{"id": c.id, "workflow_id": c.workflow_id, "category": c.category,
             "status": c.status, "level": c.level,
             "created_at": c.created_at.isoformat(),
             "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
             "url": f"/api/v1/complaints/{c.id}"} for c in rows]


def list_complaints(engine: Engine, page: int, page_size: int, *, scope: Any = None,
                    **filters: str | None) -> tuple[list[Complaint], int]:
    """Complaints newest first, filtered by status, category, customer_id, order_no (and
    ``scope``: a channel token's own)."""
    conds = [getattr(Complaint, name) == value for name, value in filters.items()
             if value is not None]
    if scope is not None:
        conds.append(scope)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Complaint).where(*conds)).one()
        rows = session.exec(select(Complaint).where(*conds)
                            .order_by(col(Complaint.created_at).desc(), col(Complaint.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), total


# --- the customer's side ------------------------------------------------------------------------

async def customer_message(client: Client, engine: Engine, complaint_id: str, text: str,
                           actor: str) -> dict[str, Any]:
    """The customer writes back; while the complaint waits on them this resumes its clocks."""
    wf = cases.case_workflow_id(engine, CaseKind.COMPLAINT, complaint_id)
    return await cases.send_update(client, wf, "customer_message", CustomerMessage(text, actor),
                                   dict)


async def customer_escalate(client: Client, engine: Engine, complaint_id: str, reason: str,
                            actor: str) -> dict[str, Any]:
    """The customer escalates: a complaint being handled once its first-response time has
    passed (one level up), or a resolved one (it reopens one level up)."""
    wf = cases.case_workflow_id(engine, CaseKind.COMPLAINT, complaint_id)
    return await cases.send_update(client, wf, "customer_escalate",
                                   CustomerEscalation(reason, actor), dict)


# --- what the workflow writes -------------------------------------------------------------------

def record_snapshot(engine: Engine, snap: ComplaintSnapshot) -> None:
    values = asdict(snap)
    at = values.pop("at")
    with session_scope(engine) as session:
        insert_ignore(session, Complaint, [{
            **values, "version": 0, "created_at": at, "updated_at": at}], ["id"])
        # Activities of one case may finish out of order; the newest snapshot wins.
        session.execute(
            update(Complaint)
            .where(col(Complaint.id) == snap.id, col(Complaint.version) < snap.version)
            .values(**{k: v for k, v in values.items() if k not in ("id", "workflow_id")},
                    updated_at=at)
        )


def sync_task(engine: Engine, req: TaskSync) -> None:
    """The handling task follows the complaint's level: its role, flag and due time."""
    tasks.sync_task(engine, req.task_id, req.role, req.escalated, req.due_at,
                    {"level": req.level})
