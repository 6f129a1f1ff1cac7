"""Follow-ups: the one start path of ``followup-<order_no>`` (idempotent by its business key),
whether a customer may be contacted, and the follow-ups other processes recorded as due."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import col, select
from temporalio.client import Client

from shopflow.db import session_scope
from shopflow.models import Customer
from shopflow.models.orders import FollowupDue
from shopflow.services import cases
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.feedback_follow_up import (
    Contact,
    FeedbackFollowUp,
    FollowupInput,
    FollowupTimers,
)
from shopflow.workflows.shared import FollowupStart, FollowupStarted
from shopflow.workflows.vocab import CaseKind, FollowupStage

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
    return FollowupInput(
        case_id=followup_case_id(followup_workflow_id(req.order_no, req.reason)),
        order_no=req.order_no, customer_id=req.customer_id, reason=req.reason or "delivered",
        ref=req.ref, items=list(req.items), timers=timers_for(FollowupTimers, settings),
    )


async def start_followup(client: Client, settings: Settings, engine: Engine,
                         req: FollowupStart) -> FollowupStarted:
    """Start the follow-up unless it exists (running or finished): one per order and reason."""
    workflow_id = followup_workflow_id(req.order_no, req.reason)
    inp = followup_input(settings, req)
    started = await cases.start_once(client, settings, FeedbackFollowUp.run, inp, workflow_id)
    status = "started" if started else "already_started"
    await asyncio.to_thread(register_followup, engine, inp, workflow_id)
    return FollowupStarted(workflow_id, inp.case_id, status)


def register_followup(engine: Engine, inp: FollowupInput, workflow_id: str) -> None:
    with session_scope(engine) as session:
        cases.register_case(
            session, inp.case_id, CaseKind.FOLLOWUP, workflow_id, "open",
            FollowupStage.SCHEDULED, inp.customer_id,
            {"id": inp.case_id, "order_no": inp.order_no, "reason": inp.reason, "ref": inp.ref,
             "items": inp.items, "customer": {"id": inp.customer_id}, "feedback": None})


def contactable(engine: Engine, customer_id: str) -> Contact:
    """Whether the customer may be contacted, and how (for the person who calls them)."""
    with session_scope(engine, write=False) as session:
        customer = session.get(Customer, customer_id)
    profile: dict[str, Any] = {"id": customer_id}
    if customer is not None:
        profile = {"id": customer.id, "name": customer.name, "company": customer.company,
                   "email": customer.email, "phone": customer.phone, "locale": customer.locale}
    if customer is not None and NO_CONTACT_TAG in (customer.tags or []):
        return Contact(False, "customer is tagged no_contact", profile)
    return Contact(True, "", profile)


# --- follow-ups recorded as due by orders and returns -----------------------------------------

def due_rows(engine: Engine) -> list[dict[str, Any]]:
    with session_scope(engine, write=False) as session:
        rows = session.exec(select(FollowupDue).where(FollowupDue.status == "due",
                                                      col(FollowupDue.customer_id).is_not(None))
                            .order_by(col(FollowupDue.created_at)).limit(DUE_BATCH)).all()
        return [{"workflow_id": r.workflow_id, "order_no": r.order_no,
                 "customer_id": r.customer_id, "reason": r.reason, "source_id": r.source_id}
                for r in rows]


def mark_started(engine: Engine, workflow_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(update(FollowupDue).where(col(FollowupDue.workflow_id) == workflow_id,
                                                  col(FollowupDue.status) == "due")
                        .values(status="started"))


async def start_due(client: Client, settings: Settings, engine: Engine) -> list[str]:
    """Start the follow-ups other processes recorded as due but could not start themselves;
    each row becomes ``started``. Safe to run any time."""
    started = []
    for row in await asyncio.to_thread(due_rows, engine):
        result = await start_followup(client, settings, engine, FollowupStart(
            row["order_no"], row["customer_id"], row["reason"] or "delivered",
            ref=row["source_id"]))
        await asyncio.to_thread(mark_started, engine, row["workflow_id"])
        started.append(result.workflow_id)
    return started
