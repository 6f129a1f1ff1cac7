"""Server time of each web page with a big database: N cases (default 10,000) of every process,
their tasks, timelines, notices, orders, complaints and feedback, in a fresh SQLite file.

Each page is requested R times (default 30) in-process through the ASGI app (no network, no
Temporal: the pages only read the database), after one warm-up request; p50/p95/max are printed
against the goal of 300 ms. The dashboard is measured twice: with its KPI figures computed for
every request (cold) and as most requests find them (computed at most every 30 s).

    .venv/bin/python -m bench.ui_pages [N] [R]
"""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, text
from sqlmodel import SQLModel, select

import shopflow.models  # noqa: F401  (every table)
from shopflow.api.app import create_app
from shopflow.db import make_engine, session_scope
from shopflow.models import (
    Case,
    Complaint,
    Customer,
    FeedbackRequest,
    InventoryItem,
    Notice,
    Order,
    Product,
    Task,
    TimelineEvent,
)
from shopflow.models.types import utcnow
from shopflow.settings import Settings
from shopflow.ui import kpis

GOAL_MS = 300.0
KINDS = [("sample", 0.45), ("order", 0.35), ("return", 0.10), ("complaint", 0.10)]
FLOW = {  # open stages and the task (kind, role) a case waits on there
    "sample": [("preliminary_review", "sample.preliminary_review", "cs"),
               ("review", "sample.review", "reviewer"), ("dispatch", "sample.dispatch", "warehouse"),
               ("awaiting_feedback", None, None)],
    "order": [("payment", None, None), ("fulfilment", "order.fulfil", "warehouse"),
              ("in_transit", None, None)],
    "return": [("review", "return.review", "cs"), ("inspection", "return.inspection", "warehouse"),
               ("refund", "return.refund", "finance")],
    "complaint": [("handling", "complaint.handle", "cs")],
}
END = {"sample": "archived", "order": "completed", "return": "refunded", "complaint": "closed"}


def seed(engine: Engine, n: int, rnd: random.Random) -> dict[str, int]:
    now = utcnow()
    skus = [f"SKU-{i:03d}" for i in range(50)]
    customers = [f"cust-{i:05d}" for i in range(max(n // 5, 10))]
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in (
        "products", "inventory", "customers", "cases", "tasks", "timeline_events", "notices",
        "orders", "complaints", "feedback_requests")}
    for sku in skus:
        rows["products"].append(Product(sku=sku, name=f"产品 {sku}", sample_limit=5).model_dump())
        rows["inventory"].append(InventoryItem(sku=sku, on_hand=rnd.randint(0, 500),
                                               reserved=rnd.randint(0, 20)).model_dump())
    for cid in customers:
        rows["customers"].append(Customer(id=cid, name=f"客户 {cid}", company="某某贸易有限公司",
                                          email=f"{cid}@example.com", tags=[],
                                          credit_rating=rnd.choice("ABCD")).model_dump())
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    for i in range(n):
        kind = rnd.choices(kinds, weights)[0]
        case_id = f"{kind[:1]}{i:06d}"
        wf = f"{kind}-{case_id}"
        cid = rnd.choice(customers)
        created = now - timedelta(days=rnd.uniform(0, 90))
        closed = rnd.random() < 0.7 and created < now - timedelta(hours=2)
        flow = FLOW[kind]
        step = len(flow) if closed else rnd.randrange(len(flow))
        stage = END[kind] if closed else flow[step][0]
        items = [{"sku": rnd.choice(skus), "requested_quantity": rnd.randint(1, 5),
                  "approved_quantity": None, "quantity": rnd.randint(1, 5),
                  "unit_price": round(rnd.uniform(5, 300), 2)} for _ in range(rnd.randint(1, 4))]
        closed_at = created + timedelta(days=rnd.uniform(0.1, 10)) if closed else None
        if closed_at and closed_at > now:
            closed_at = now - timedelta(minutes=5)
        data = {"id": case_id, "customer": {"id": cid, "name": f"客户 {cid}", "company": "某某贸易"},
                "items": items, "purpose": "试用 trial", "channel": rnd.choice(["web", "phone"]),
                "shipment": {"courier": "顺丰速运", "tracking_no": f"SF{i:010d}",
                             "shipped_at": (created + timedelta(hours=20)).isoformat()}
                if closed else None}
        rows["cases"].append(Case(id=case_id, kind=kind, workflow_id=wf,
                                  status=END[kind] if closed else "open", stage=stage,
                                  customer_id=cid, data=data, version=5, created_at=created,
                                  updated_at=closed_at or created, closed_at=closed_at).model_dump())
        at, seq = created, 0

        def event(type_: str, message: str, actor: str = "system", case_id: str = case_id,
                  wf: str = wf, **extra: Any) -> None:
            nonlocal at, seq
            seq += 1
            at = at + timedelta(minutes=rnd.uniform(1, 600))
            rows["timeline_events"].append(TimelineEvent(
                case_id=case_id, workflow_id=wf, seq=seq, at=min(at, now), actor=actor,
                type=type_, message=message, data=extra).model_dump(exclude={"id"}))

        event("submitted", f"{kind} received via web", "dev-channel")
        for j, (st, task_kind, role) in enumerate(flow[:step + (0 if closed else 1)]):
            if task_kind is None:
                event("stage", st)
                continue
            opened = min(at, now)
            is_open = not closed and j == step
            due = opened + timedelta(hours=24)
            task_id = f"{wf}:{j + 1}:{task_kind}"
            event("task_opened", f"{task_kind} for {role}", task_id=task_id)
            done_at = None if is_open else min(opened + timedelta(hours=rnd.uniform(0.2, 30)), now)
            rows["tasks"].append(Task(
                id=task_id, kind=task_kind, role=role, status="open" if is_open else "done",
                case_id=case_id, case_kind=kind, workflow_id=wf, due_at=due,
                escalated=is_open and due < now and rnd.random() < 0.5,
                context={"customer": data["customer"], "items": items, "credit_rating": "B",
                         "purchase_history": {"orders_count": 3, "orders_value": 420.0},
                         "stock_available": {it["sku"]: 100 for it in items}},
                decision=None if is_open else {"decision": "approve", "data": {}, "comment": ""},
                completed_by=None if is_open else rnd.choice(["alice", "bob", "carol", "dave"]),
                completed_at=done_at, created_at=opened).model_dump())
            if not is_open:
                event("task_completed", f"{task_kind}: approve", "alice", task_id=task_id)
        if closed:
            event("shipped", f"顺丰速运 SF{i:010d}", "dev-warehouse")
            event(END[kind], "closed")
        for k in range(rnd.randint(1, 4)):
            rows["notices"].append(Notice(
                dedup_key=f"{wf}:n{k}", case_id=case_id, kind=f"{kind}_notice_{k}",
                recipient=f"{cid}@example.com", subject=f"您的{kind}进展 update {k}",
                body_text="…", status=rnd.choice(["sent", "logged", "failed"]),
                created_at=created + timedelta(hours=k)).model_dump(exclude={"id"}))
        if kind == "order":
            shipped = created + timedelta(hours=rnd.uniform(2, 48)) if closed else None
            rows["orders"].append(Order(
                order_no=case_id, customer_id=cid, status="completed" if closed else "received",
                total_cents=sum(it["quantity"] * round(it["unit_price"] * 100) for it in items),
                created_at=created,
                workflow_id=wf, shipped_at=shipped if shipped and shipped < now else None
            ).model_dump())
        if kind == "complaint":
            rows["complaints"].append(Complaint(
                id=case_id, workflow_id=wf, customer_id=cid, category="delivery",
                created_at=created, first_response_at=created + timedelta(hours=3),
                response_sla_met=True, resolved_at=closed_at, resolution_sla_met=closed,
                escalations=rnd.randint(0, 2)).model_dump())
        if kind == "sample" and closed:
            answered = rnd.random() < 0.6
            rows["feedback_requests"].append(FeedbackRequest(
                token=f"tok-{case_id}", case_id=case_id, workflow_id=wf, kind="sample",
                status="answered" if answered else "closed",
                response={"satisfaction": rnd.randint(1, 5)} if answered else None,
                created_at=created + timedelta(days=1)).model_dump())
    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    with session_scope(engine) as session:
        for name, batch in rows.items():
            for k in range(0, len(batch), 2000):
                session.execute(insert(tables[name]), batch[k:k + 2000])
    return {name: len(batch) for name, batch in rows.items()}


async def measure(client: httpx.AsyncClient, path: str, repeat: int,
                  before: Any = None) -> tuple[list[float], int]:
    r = await client.get(path)  # warm-up (template compile, first query plans)
    status = r.status_code
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        r = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        status = max(status, r.status_code)
    return times, status


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    page = await client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    r = await client.post("/ui/login", data={"csrf_token": csrf.group(1), "token": token})
    assert r.status_code == 303, r.text


async def main(n: int, repeat: int) -> None:
    path = Path(tempfile.mkdtemp(prefix="shopflow-ui-bench-")) / "shopflow.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    t0 = time.perf_counter()
    counts = seed(engine, n, random.Random(7))  # noqa: S311 (reproducible made-up data)
    print(f"seeded {path} in {time.perf_counter() - t0:.1f}s: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    with session_scope(engine, write=False) as s:
        review = s.exec(select(Task.id).where(Task.kind == "sample.review", Task.status == "open")
                        .limit(1)).first()
        closed_sample = s.exec(select(Case.id).where(Case.kind == "sample",
                                                     Case.status == "archived").limit(1)).first()
        order = s.exec(select(Case.id).where(Case.kind == "order").limit(1)).first()
        ret = s.exec(select(Case.id).where(Case.kind == "return").limit(1)).first()
        complaint = s.exec(select(Case.id).where(Case.kind == "complaint").limit(1)).first()
        customer = s.exec(select(Case.customer_id).where(Case.kind == "order").limit(1)).first()
        open_tasks = s.exec(select(func.count()).select_from(Task).where(Task.status == "open")).one()
    settings = Settings(_env_file=None, env="dev",  # type: ignore[call-arg]
                        database_url=f"sqlite:///{path}")
    app = create_app(settings, engine=engine)
    ui = app.state.ui
    pages = [
        ("sign-in page", "", "/ui/login", None),
        ("inbox (reviewer)", "dev-reviewer", "/ui/inbox", None),
        ("inbox (reviewer, kind filter)", "dev-reviewer", "/ui/inbox?kind=sample.review", None),
        ("inbox (ops, all roles)", "dev-ops", "/ui/inbox", None),
        (f"inbox (ops, last page of {open_tasks} tasks)", "dev-ops",
         f"/ui/inbox?page={max(1, -(-open_tasks // 20))}", None),
        ("task (sample review)", "dev-reviewer", f"/ui/tasks/{review}", None),
        ("case (archived sample)", "dev-ops", f"/ui/cases/sample/{closed_sample}", None),
        ("case (order)", "dev-ops", f"/ui/cases/order/{order}", None),
        ("case (return)", "dev-ops", f"/ui/cases/return/{ret}", None),
        ("case (complaint)", "dev-ops", f"/ui/cases/complaint/{complaint}", None),
        ("new order form (channel)", "dev-channel", "/ui/orders/new", None),
        ("inbox (warehouse)", "dev-warehouse", "/ui/inbox", None),
        ("cases (all)", "dev-ops", "/ui/cases", None),
        ("cases (open orders)", "dev-ops", "/ui/cases?kind=order&open=true", None),
        ("cases (last page)", "dev-ops", f"/ui/cases?page={-(-n // 20)}", None),
        ("cases (customer search)", "dev-ops", f"/ui/cases?q={customer}", None),
        ("dashboard (KPIs ready)", "dev-ops", "/ui/dashboard", "settle"),
        ("dashboard (90 days, KPIs ready)", "dev-ops", "/ui/dashboard?period=90&days=90",
         "settle"),
        ("dashboard (KPIs refreshing in background)", "dev-ops", "/ui/dashboard", "expire"),
        ("inbox (while KPIs refresh in background)", "dev-reviewer", "/ui/inbox", "expire"),
        ("dashboard (no KPIs yet: waits 0.1 s)", "dev-ops", "/ui/dashboard?period=7",
         ui.kpis.clear),
    ]
    clients: dict[str, httpx.AsyncClient] = {}

    def refreshing() -> None:
        ui.kpis.expire()
        asyncio.get_running_loop().create_task(ui.kpis.get(app.state.services, 90))
    print(f"\n{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  status")
    worst = 0.0
    try:
        for name, token, url, before in pages:
            if token not in clients:
                clients[token] = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                   base_url="http://bench")
                if token:
                    await sign_in(clients[token], token)
            if before == "settle":  # let the warm-up's background refresh finish first
                await clients[token].get(url)
                await ui.kpis.settled()
                before = None
            elif before == "expire":  # a 90-day refresh runs in the background meanwhile
                await ui.kpis.settled()
                before = refreshing
            times, status = await measure(clients[token], url, repeat, before)
            p50 = statistics.median(times)
            p95 = sorted(times)[max(0, int(round(0.95 * len(times))) - 1)]
            worst = max(worst, p95)
            flag = "ok" if p95 < GOAL_MS and status == 200 else "OVER GOAL" if status == 200 else ""
            print(f"{name:44} {p50:8.1f} {p95:8.1f} {max(times):8.1f}  {status} {flag}")
    finally:
        for c in clients.values():
            await c.aclose()
    for days in (30, 90):
        took = []
        for _ in range(3):
            end = utcnow()
            took.append(kpis.compute(engine, end - timedelta(days=days), end)["seconds"] * 1000)
        print(f"{f'KPI figures, {days} days (background)':44} {statistics.median(took):8.1f} "
              f"{max(took):8.1f} {max(took):8.1f}  (off the request path)")
    print("\nquery plans (the composite indexes of tasks and cases):")
    plans = {
        "inbox of a role": "SELECT id FROM tasks WHERE status IN ('open', 'claimed') AND "
                           "role = 'reviewer' ORDER BY due_at, id LIMIT 20",
        "dashboard open cases": "SELECT kind, stage, count(*) FROM cases WHERE closed_at IS NULL "
                                "GROUP BY kind, stage",
    }
    with engine.connect() as conn:
        for name, sql in plans.items():
            detail = "; ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            print(f"  {name:22} {detail}")
    print(f"\nworst p95 {worst:.1f} ms; goal < {GOAL_MS:.0f} ms per page "
          f"({'met' if worst < GOAL_MS else 'NOT met'}); {n} cases, {repeat} requests per page")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [10_000, 30][len(args):])))
