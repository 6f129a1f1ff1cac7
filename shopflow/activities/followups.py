"""Follow-ups: starting one (idempotently, by its business key) from any process, and whether a
customer may be contacted."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Customer
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from shopflow.workflows.feedback_follow_up import (
    ContactCheck,
    FeedbackFollowUp,
    FollowupInput,
    FollowupTimers,
)
from shopflow.workflows.shared import Act, FollowupStart

NO_CONTACT_TAG = "no_contact"
DUE_BATCH = 200


def followup_workflow_id(order_no: str, reason: str = "delivered") -> str:
    """``followup-<order_no>`` for a delivery, ``followup-<order_no>-<reason>`` otherwise."""
    return f"followup-{order_no}" if reason in ("", "delivered") else f"followup-{order_no}-{reason}"


def followup_case_id(workflow_id: str) -> str:
    if len(workflow_id) <= 80:
        return workflow_id
    return "followup-" + hashlib.sha256(workflow_id.encode()).hexdigest()[:32]


def followup_input(settings: Settings, req: FollowupStart) -> FollowupInput:
    s = settings
    return FollowupInput(
        case_id=followup_case_id(followup_workflow_id(req.order_no, req.reason)),
        order_no=req.order_no, customer_id=req.customer_id, reason=req.reason or "delivered",
        ref=req.ref, items=list(req.items),
        timers=FollowupTimers(
            task_due=s.task_due.total_seconds(),
            feedback_delay=s.feedback_delay.total_seconds(),
            feedback_reminder=s.feedback_reminder.total_seconds(),
            feedback_close=s.feedback_close.total_seconds(),
            notice_send=s.notice_send_timeout.total_seconds(),
        ),
    )


async def start_followup(client: Client, settings: Settings, engine: Engine,
                         req: FollowupStart) -> dict[str, str]:
    """Start the follow-up unless it exists (running or finished): one per order and reason."""
    workflow_id = followup_workflow_id(req.order_no, req.reason)
    inp = followup_input(settings, req)
    status = "started"
    try:
        await client.start_workflow(
            FeedbackFollowUp.run, inp, id=workflow_id, task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        status = "already_started"
    await asyncio.to_thread(_register, engine, inp, workflow_id)
    return {"workflow_id": workflow_id, "case_id": inp.case_id, "status": status}


def _register(engine: Engine, inp: FollowupInput, workflow_id: str) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        insert_ignore(session, Case.__table__, [{
            "id": inp.case_id, "kind": "followup", "workflow_id": workflow_id, "status": "open",
            "stage": "scheduled", "customer_id": inp.customer_id,
            "data": {"id": inp.case_id, "order_no": inp.order_no, "reason": inp.reason,
                     "ref": inp.ref, "items": inp.items, "customer": {"id": inp.customer_id},
                     "feedback": None},
            "version": 0, "created_at": now, "updated_at": now}], ["id"])


def contactable(engine: Engine, customer_id: str) -> dict[str, Any]:
    """Whether the customer may be contacted, and how (for the person who calls them)."""
    with session_scope(engine, write=False) as session:
        customer = session.get(Customer, customer_id)
    profile = {"id": customer_id}
    if customer is not None:
        profile = {"id": customer.id, "name": customer.name, "company": customer.company,
                   "email": customer.email, "phone": customer.phone, "locale": customer.locale}
    if customer is not None and NO_CONTACT_TAG in (customer.tags or []):
        return {"contactable": False, "reason": "customer is tagged no_contact",
                "customer": profile}
    return {"contactable": True, "reason": "", "customer": profile}


class FollowupActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client

    @activity.defn(name=Act.FOLLOWUP_START)
    async def start(self, req: FollowupStart) -> dict[str, str]:
        if self.client is None:
            raise RuntimeError("followups.start needs a Temporal client (build_activities client=)")
        return await start_followup(self.client, self.settings, self.engine, req)

    @activity.defn(name=Act.FOLLOWUP_START_DUE)
    async def start_due(self) -> list[str]:
        """Start the follow-ups other processes recorded as due (``followups_due``) but could
        not start themselves; each row becomes ``started``. Safe to run any time."""
        if self.client is None:
            raise RuntimeError("followups.start_due needs a Temporal client")
        rows = await asyncio.to_thread(_due_rows, self.engine)
        started = []
        for row in rows:
            result = await start_followup(self.client, self.settings, self.engine, FollowupStart(
                row["order_no"], row["customer_id"], row["reason"] or "delivered",
                ref=row["source_id"]))
            await asyncio.to_thread(_mark_started, self.engine, row["workflow_id"])
            started.append(result["workflow_id"])
        return started

    @activity.defn(name=Act.FOLLOWUP_CONTACT)
    def contact(self, req: ContactCheck) -> dict[str, Any]:
        return contactable(self.engine, req.customer_id)


def _due_model() -> Any:
    """The orders' ``followups_due`` table, if this installation has it."""
    try:
        return getattr(importlib.import_module("shopflow.models.orders"), "FollowupDue", None)
    except ImportError:
        return None


def _due_rows(engine: Engine) -> list[dict[str, Any]]:
    model = _due_model()
    if model is None:
        return []
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(model).where(model.status == "due",
                                                col(model.customer_id).is_not(None))
                            .order_by(col(model.created_at)).limit(DUE_BATCH)).all()
        return [{"workflow_id": r.workflow_id, "order_no": r.order_no,
                 "customer_id": r.customer_id, "reason": r.reason, "source_id": r.source_id}
                for r in rows]


def _mark_started(engine: Engine, workflow_id: str) -> None:
    model = _due_model()
    with session_scope(engine) as session:
        session.execute(update(model).where(col(model.workflow_id) == workflow_id,
                                            col(model.status) == "due").values(status="started"))
