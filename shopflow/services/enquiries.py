"""Enquiries (咨询, seed 003): the one start path of ``enquiry-<id>`` (database first, then
Temporal), and the order an enquiry is handed over to."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client

from shopflow.db import session_scope
from shopflow.models import Case, Order
from shopflow.models.enquiry_schemas import EnquiryCreate
from shopflow.services import cases
from shopflow.services.errors import business_error, never_reached_temporal
from shopflow.services.scoping import record_channel
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.enquiry import EnquiryInput, EnquiryTimers, EnquiryWorkflow
from shopflow.workflows.shared import CustomerData, EnquiryOrder, ErrorType
from shopflow.workflows.vocab import CaseKind


def enquiry_workflow_id(enquiry_id: str) -> str:
    return f"enquiry-{enquiry_id}"


def new_enquiry_id(seed: str | None = None) -> str:
    """``EQ`` and 24 hex digits (96 bits, random or derived from an idempotency key)."""
    digest = hashlib.sha256(seed.encode()).hexdigest() if seed else secrets.token_hex(12)
    return f"EQ{digest[:24].upper()}"


def register(engine: Engine, inp: EnquiryInput) -> bool:
    """The case row, visible at once (True when new); the workflow keeps it current."""
    c = inp.customer
    with session_scope(engine) as session:
        return cases.register_case(
            session, inp.enquiry_id, CaseKind.ENQUIRY, enquiry_workflow_id(inp.enquiry_id),
            "open", "answering", c.id,
            {"id": inp.enquiry_id, "enquiry_no": inp.enquiry_id,
             "customer": {"id": c.id, "name": c.name, "company": c.company},
             "channel": inp.channel, "subject": inp.subject, "question": inp.question,
             "order_no": inp.order_no, "outcome": None})


async def create(client: Client, settings: Settings, engine: Engine, body: EnquiryCreate,
                 submitted_by: str, seed: str | None,
                 may_update_customer: bool) -> tuple[dict[str, Any], bool]:
    """Take a customer's question: its channel recorded, the case row written, then its
    workflow started (a start Temporal never took leaves nothing behind). The answer, and
    whether this call started the workflow."""
    enquiry_id = new_enquiry_id(seed)
    inp = EnquiryInput(
        enquiry_id=enquiry_id, channel=body.channel, question=body.question,
        subject=body.subject, order_no=body.order_no, submitted_by=submitted_by,
        customer=CustomerData(**body.customer.model_dump(), source=submitted_by,
                              overwrite=may_update_customer),
        timers=timers_for(EnquiryTimers, settings))
    await asyncio.to_thread(record_channel, engine, enquiry_id, body.channel, submitted_by)
    new = await asyncio.to_thread(register, engine, inp)
    workflow_id = enquiry_workflow_id(enquiry_id)
    try:
        started = await cases.start_once(client, settings, EnquiryWorkflow.run, inp, workflow_id)
    except BaseException as err:
        if new and never_reached_temporal(err):
            await asyncio.to_thread(cases.forget_case, engine, enquiry_id)
        raise
    return {"id": enquiry_id, "workflow_id": workflow_id, "status": "open"}, started


def order_for(engine: Engine, req: EnquiryOrder) -> dict[str, Any]:
    """The order an enquiry is handed over to: one of its customer's (422 otherwise)."""
    with session_scope(engine, write=False) as session:
        order = session.get(Order, req.order_no)
        if order is None:
            raise business_error(ErrorType.INVALID, "unknown_order", f"no order {req.order_no}",
                                 field="order_no")
        if order.customer_id != req.customer_id:
            raise business_error(ErrorType.INVALID, "order_of_another_customer",
                                 f"order {req.order_no} belongs to another customer",
                                 field="order_no")
        return {"order_no": order.order_no, "status": order.status,
                "url": f"/api/v1/orders/{order.order_no}"}


def list_enquiries(engine: Engine, page: int, page_size: int, *, status: str | None = None,
                   customer_id: str | None = None, outcome: str | None = None,
                   scope: Any = None) -> tuple[list[dict[str, Any]], int]:
    """Enquiries newest first, by status, customer and outcome (``scope``: a channel token's
    own)."""
    conds: list[Any] = [Case.kind == CaseKind.ENQUIRY]
    if status:
        conds.append(Case.status == status)
    if customer_id:
        conds.append(Case.customer_id == customer_id)
    if outcome:
        conds.append(Case.data["outcome"].as_string() == outcome)
    if scope is not None:
        conds.append(scope)
    rows, total = cases.page_of(engine, conds, page, page_size)
    return [{"id": c.id, "workflow_id": c.workflow_id, "status": c.status, "stage": c.stage,
             "customer_id": c.customer_id, "channel": c.data.get("channel"),
             "subject": c.data.get("subject") or "", "question": c.data.get("question") or "",
             "outcome": c.data.get("outcome"), "created_at": c.created_at,
             "closed_at": c.closed_at} for c in rows], total
