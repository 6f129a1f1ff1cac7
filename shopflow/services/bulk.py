"""Bulk work (issue 17.2): one action on many tasks, orders shipped from a CSV, and one pick
list for many orders.

Each task goes through the same path as one task alone (``tasks.set_claim``, ``tasks.assign``,
``tasks.complete``: a completion is its workflow's ``complete_task`` Update, which applies
whole or refuses), and answers on its own: done, or why not, with the error codes of the
single routes. One task's refusal never stops the others."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.client import Client, RPCTimeoutOrCancelledError

from shopflow.db import session_scope
from shopflow.models import Order, OrderLine, Task
from shopflow.services import tasks
from shopflow.services.errors import Refused, forbidden, temporal_ambiguous
from shopflow.services.scoping import visible
from shopflow.settings import Settings
from shopflow.workflows.order_rules import address_text
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES

ACTIONS = ("claim", "assign", "release", "complete")
AT_ONCE = 4  # Updates in flight at a time: a page of tasks, not a burst at the server
MAX_ROWS = 500
SHIP_COLUMNS = ("order_no", "courier", "tracking_no")


def invalid(field: str, message: str) -> Refused:
    return Refused(422, "invalid_input", message, [{"loc": ["body", field], "msg": message,
                                                    "type": "value_error"}])


def check_request(action: str, task_ids: list[str], decision: str | None,
                  to: str | None) -> None:
    """What the whole request needs before any task is touched (422 naming the field)."""
    if len(set(task_ids)) != len(task_ids):
        raise invalid("task_ids", "a task is named twice")
    if action == "complete" and not decision:
        raise invalid("decision", "complete needs a decision")
    if action == "assign" and not to:
        raise invalid("to", "assign needs the person to hand the tasks to")


def refused(err: Refused) -> dict[str, Any]:
    return {"ok": False, "status": err.status, "code": err.code, "message": err.message,
            "details": err.details}


async def one(step: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """One task's result: the step's answer, or its refusal (Temporal's failures are refusals
    already, an outage 503: ``cases.send_update``; a call that timed out 503 as well)."""
    try:
        return {"ok": True, "status": 200, "code": None, "message": None, "details": None,
                **(await step())}
    except Refused as err:
        return refused(err)
    except RPCTimeoutOrCancelledError:
        return refused(temporal_ambiguous())


async def run(client: Callable[[], Client], engine: Engine, settings: Settings, actor: Actor,
              action: str, task_ids: list[str], *, decision: str | None = None,
              data: dict[str, Any] | None = None, comment: str = "",
              to: str | None = None, user: Any = None) -> list[dict[str, Any]]:
    """``action`` on each task, a few at a time; the results in the order of ``task_ids``.
    ``user`` (a channel token) sees only its channels' tasks: another's answers 404."""
    check_request(action, task_ids, decision, to)
    gate = asyncio.Semaphore(AT_ONCE)

    async def step(task_id: str) -> dict[str, Any]:
        if user is not None and not await asyncio.to_thread(visible, engine, user, "task",
                                                            task_id):
            raise Refused(404, "not_found", f"no task {task_id}")
        if action in ("claim", "release"):
            return {"task": await asyncio.to_thread(tasks.set_claim, engine, task_id, actor,
                                                    action == "claim")}
        if action == "assign":
            assert to is not None
            return {"task": await tasks.assign(client(), engine, settings, task_id, to, actor)}
        assert decision is not None
        task = await asyncio.to_thread(tasks.load_task, engine, task_id, actor, acting=True)
        outcome = await tasks.complete(client(), task, actor, decision, dict(data or {}),
                                       comment)
        return {"outcome": asdict(outcome)}

    async def guarded(task_id: str) -> dict[str, Any]:
        async with gate:
            return {"task_id": task_id, "task": None, "outcome": None,
                    **(await one(lambda: step(task_id)))}

    return list(await asyncio.gather(*(guarded(t) for t in task_ids)))


# --- orders shipped from a CSV ------------------------------------------------------------------

def parse_shipments(text: str) -> list[dict[str, Any]]:
    """``order_no,courier,tracking_no`` rows (a header row of those names is skipped, blank
    lines too). Each row: its line number, its values, or the problem with it."""
    if not text.strip():
        raise invalid("csv", "no rows: paste or upload order_no,courier,tracking_no lines")
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:  # a field over the csv module's limit
        raise invalid("csv", f"not CSV this service can read: {err}") from None
    rows: list[dict[str, Any]] = []
    for line_no, cells in enumerate(lines, start=1):
        values = [c.strip() for c in cells]
        if not any(values):
            continue
        if [v.lower() for v in values] == list(SHIP_COLUMNS):
            continue
        row: dict[str, Any] = {"line": line_no, "order_no": values[0] if values else "",
                               "courier": values[1] if len(values) > 1 else "",
                               "tracking_no": values[2] if len(values) > 2 else "",
                               "problem": None}
        missing = [name for name in SHIP_COLUMNS if not row[name]]
        if len(values) > 3:
            row["problem"] = "more than 3 columns (order_no,courier,tracking_no)"
        elif missing:
            row["problem"] = f"missing {', '.join(missing)}"
        elif any(len(row[name]) > 64 for name in SHIP_COLUMNS):
            row["problem"] = "a value is longer than 64 characters"
        rows.append(row)
        if len(rows) > MAX_ROWS:
            raise invalid("csv", f"more than {MAX_ROWS} rows: split the file")
    if not rows:
        raise invalid("csv", "no rows: paste or upload order_no,courier,tracking_no lines")
    return rows


def fulfil_task(engine: Engine, order_no: str) -> Task:
    """The order's open ``order.fulfil`` task (404: no such order; 409: nothing to ship now)."""
    with session_scope(engine, write=False) as session:
        task = session.exec(select(Task).where(
            Task.case_kind == "order", Task.case_id == order_no, Task.kind == "order.fulfil",
            col(Task.status).in_(ACTIVE_TASK_STATUSES)).order_by(col(Task.created_at))).first()
        if task is not None:
            return task
        order = session.get(Order, order_no)
    if order is None:
        raise Refused(404, "not_found", f"no order {order_no}")
    raise Refused(409, "not_ready_to_ship",
                  f"order {order_no} is {order.status}: it has no parcel to ship now",
                  {"status": order.status})


async def ship(client: Callable[[], Client], engine: Engine, actor: Actor,
               text: str) -> list[dict[str, Any]]:
    """Mark orders shipped from CSV rows, each through its order's ``order.fulfil`` task (the
    same Update as the task page): one result per row, in order; a bad row is named, the others
    go on."""
    rows = parse_shipments(text)
    seen: set[str] = set()
    results = []
    for row in rows:  # one at a time: a file may name an order twice
        base = {k: row[k] for k in ("line", *SHIP_COLUMNS)}
        if row["problem"]:
            results.append({**base, **refused(Refused(422, "invalid_row", row["problem"],
                                                      {"line": row["line"]}))})
            continue
        if row["order_no"] in seen:
            results.append({**base, **refused(Refused(
                409, "duplicate_row", f"order {row['order_no']} is on an earlier line"))})
            continue
        seen.add(row["order_no"])

        async def step(row: dict[str, Any] = row) -> dict[str, Any]:
            task = await asyncio.to_thread(fulfil_task, engine, row["order_no"])
            if not tasks.may_act(actor, task):
                raise forbidden(f"this task is for role {task.role}")
            outcome = await tasks.complete(client(), task, actor, "shipped",
                                           {"courier": row["courier"],
                                            "tracking_no": row["tracking_no"]})
            return {"task_id": task.id, "case_status": outcome.case_status}

        results.append({**base, "task_id": None, "case_status": None, **(await one(step))})
    return results


# --- one pick list for many orders ---------------------------------------------------------------

def order_nos_of(engine: Engine, task_ids: list[str], actor: Actor) -> list[str]:
    """The orders behind the tasks ``actor`` may see (an order's task, or a task naming one)."""
    found: list[str] = []
    for task_id in task_ids:
        try:
            task = tasks.load_task(engine, task_id, actor, acting=False)
        except Refused:
            continue
        order_no = task.case_id if task.case_kind == "order" else (task.context or {}).get(
            "order_no")
        if isinstance(order_no, str) and order_no not in found:
            found.append(order_no)
    return found


def pick_list(engine: Engine, order_nos: list[str]) -> dict[str, Any]:
    """One pick list for many orders: each order's lines and address, and the total of each
    SKU to take from the shelves (with the orders it goes to)."""
    with session_scope(engine, write=False) as session:
        orders = {o.order_no: o for o in session.exec(
            select(Order).where(col(Order.order_no).in_(order_nos)))}
        lines = session.exec(select(OrderLine).where(col(OrderLine.order_no).in_(order_nos))
                             .order_by(col(OrderLine.order_no), col(OrderLine.line_no))).all()
    totals: dict[str, dict[str, Any]] = {}
    per_order: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        per_order.setdefault(line.order_no, []).append(
            {"sku": line.sku, "name": line.name, "quantity": line.quantity})
        total = totals.setdefault(line.sku, {"sku": line.sku, "name": line.name, "quantity": 0,
                                             "orders": []})
        total["quantity"] += line.quantity
        total["orders"].append(line.order_no)
    return {
        "orders": [{"order_no": no, "channel": orders[no].channel,
                    "payment_method": orders[no].payment_method,
                    "address": address_text(orders[no].shipping_address),
                    "items": per_order.get(no, [])} for no in order_nos if no in orders],
        "totals": sorted(totals.values(), key=lambda t: str(t["sku"])),
        "missing": [no for no in order_nos if no not in orders],
    }
