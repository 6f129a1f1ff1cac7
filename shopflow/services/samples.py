"""Samples (seed 000): checking an application, starting ``sample-<id>`` (the one start path),
the customer's answers, cancelling, the shipping slip and the dossier."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.client import Client

from shopflow.db import session_scope
from shopflow.models import Customer, Product
from shopflow.models.schemas import SampleCreate
from shopflow.services import cases
from shopflow.services.customers import sample_limit_view
from shopflow.services.errors import Refused, never_reached_temporal
from shopflow.services.scoping import record_channel
from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.sample_approval import (
    InfoInput,
    SampleApproval,
    SampleInput,
    SampleItem,
    SampleTimers,
)
from shopflow.workflows.shared import Actor, CancelInput, CustomerData
from shopflow.workflows.vocab import CaseKind, SampleStage, SampleStatus


def sample_workflow_id(sample_id: str) -> str:
    return f"sample-{sample_id}"


def new_sample_id(seed: str | None = None) -> str:
    """24 hex digits (96 random bits); a seed (derived from an idempotency key) gives the same
    id."""
    return seed or secrets.token_hex(12)


def check_application(engine: Engine, body: SampleCreate,
                      settings: Settings | None = None) -> None:
    """The 422s of the contract, before anything starts: contact and address (seed 000 1.1,
    3.1: the parcel goes there, customer service calls), the items, and (with settings) the
    customer's sample limit per period (409)."""
    if not (body.customer.phone or "").strip() and not (body.customer.email or "").strip():
        raise Refused(422, "missing_field", "a phone number or an e-mail address is required",
                      {"field": "customer.phone", "loc": ["customer", "phone"]})
    if not (body.customer.address or "").strip():
        raise Refused(422, "missing_field", "the address the samples go to is required",
                      {"field": "customer.address", "loc": ["customer", "address"]})
    skus = [i.sku for i in body.items]
    if len(set(skus)) != len(skus):
        raise Refused(422, "duplicate_sku", "each SKU may appear once")
    with session_scope(engine, write=False) as session:
        products = {p.sku: p for p in session.exec(select(Product).where(col(Product.sku).in_(skus)))}
    for i, item in enumerate(body.items):
        product = products.get(item.sku)
        if product is None:
            raise Refused(422, "unknown_sku", f"unknown SKU {item.sku}", {"loc": ["items", i]})
        if item.quantity > product.sample_limit:
            raise Refused(422, "quantity_above_sample_limit",
                               f"at most {product.sample_limit} of {item.sku} as samples",
                               {"loc": ["items", i], "sample_limit": product.sample_limit})
    if settings is not None and settings.sample_limit_per_customer:
        with session_scope(engine, write=False) as session:
            limit = sample_limit_view(session, settings, body.customer.id)
        if limit["used"] >= limit["limit"]:
            raise Refused(409, "sample_limit_reached",
                          f"customer {body.customer.id} had {limit['used']} sample requests in "
                          f"the last {limit['period_days']} days: the limit is {limit['limit']} "
                          "(SHOPFLOW_SAMPLE_LIMIT_PER_CUSTOMER)",
                          {"field": "customer.id", **limit})


def sample_input(settings: Settings, sample_id: str, body: SampleCreate,
                 submitted_by: str, may_update_customer: bool = False) -> SampleInput:
    """``may_update_customer``: customer service may change a known customer's contact
    details; a channel's differing details become a proposal (services.proposals)."""
    return SampleInput(
        sample_id=sample_id,
        customer=CustomerData(**body.customer.model_dump(), source=submitted_by,
                              overwrite=may_update_customer),
        channel=body.channel,
        items=[SampleItem(i.sku, i.quantity) for i in body.items],
        purpose=body.purpose,
        qualification_docs=[d.model_dump() for d in body.qualification_docs],
        timers=timers_for(SampleTimers, settings),
        submitted_by=submitted_by,
    )


async def start_sample(client: Client, settings: Settings, inp: SampleInput) -> bool:
    """Start ``sample-<id>``; False when it was started before (a retry: nothing new)."""
    return await cases.start_once(client, settings, SampleApproval.run, inp,
                                  sample_workflow_id(inp.sample_id))


async def create(client: Client, settings: Settings, engine: Engine, body: SampleCreate,
                 submitted_by: str, seed: str | None,
                 may_update_customer: bool = False) -> tuple[dict[str, Any], bool]:
    """File a checked application: start its workflow and show the case at once. The answer,
    and whether this call started the workflow (False: a retry of the same request)."""
    inp = sample_input(settings, new_sample_id(seed), body, submitted_by, may_update_customer)
    # Database first, then Temporal (docs/HACKING.md, "Creating a case"): with the database
    # down nothing starts; a start Temporal never took takes the row back (503, no case).
    await asyncio.to_thread(record_channel, engine, inp.sample_id, body.channel, submitted_by)
    new = await asyncio.to_thread(register_sample, engine, inp)
    try:
        started = await start_sample(client, settings, inp)
    except BaseException as err:
        if new and never_reached_temporal(err):
            await asyncio.to_thread(cases.forget_case, engine, inp.sample_id)
        raise
    return {"id": inp.sample_id, "workflow_id": sample_workflow_id(inp.sample_id),
            "status": SampleStatus.OPEN.value}, started


def register_sample(engine: Engine, inp: SampleInput) -> bool:
    """Make the request visible at once; its workflow writes the case from then on."""
    c = inp.customer
    with session_scope(engine) as session:
        return cases.register_case(
            session, inp.sample_id, CaseKind.SAMPLE, sample_workflow_id(inp.sample_id),
            SampleStatus.OPEN, SampleStage.PRELIMINARY_REVIEW, c.id,
            {"id": inp.sample_id, "channel": inp.channel, "purpose": inp.purpose,
             "customer": {"id": c.id, "name": c.name, "company": c.company},
             "items": [{"sku": i.sku, "requested_quantity": i.quantity,
                        "approved_quantity": None} for i in inp.items],
             "shipment": None, "feedback": None})


async def answer_info(client: Client, engine: Engine, sample_id: str, text: str,
                      actor: str) -> dict[str, Any]:
    """The customer's answer to the preliminary review's question."""
    wf = cases.case_workflow_id(engine, CaseKind.SAMPLE, sample_id)
    return await cases.send_update(client, wf, "provide_info", InfoInput(text, actor), dict)


async def cancel(client: Client, engine: Engine, sample_id: str, reason: str,
                 actor: Actor) -> dict[str, Any]:
    wf = cases.case_workflow_id(engine, CaseKind.SAMPLE, sample_id)
    await cases.send_update(client, wf, "request_cancel", CancelInput(reason, actor), str)
    return {"id": sample_id, "status": "cancelled"}


def slip(engine: Engine, settings: Settings, sample_id: str) -> tuple[dict[str, Any],
                                                                     dict[str, Any]]:
    """The case and its customer for the shipping slip (409 before the approval)."""
    view = cases.case_detail(engine, settings, CaseKind.SAMPLE, sample_id)
    if not any(i.get("approved_quantity") for i in view.get("items", [])):
        raise Refused(409, "not_approved", "the slip exists once the sample is approved")
    customer: dict[str, Any] = {}
    if view.get("customer_id"):
        with session_scope(engine, write=False) as session:
            c = session.get(Customer, view["customer_id"])
            customer = c.model_dump(mode="json") if c else {}
    return view, customer
