"""Demo data for SHOPFLOW_ENV=dev: a small catalogue with stock. Idempotent."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import Engine

from shopflow.db import insert_ignore, session_scope
from shopflow.models import InventoryItem, Product
from shopflow.models.types import utcnow
from shopflow.services.inventory import receive

DEMO_PRODUCTS = [  # sku, name, sample limit, stock, price (cents), specification, origin
    ("TEA-001", "龙井绿茶 Longjing green tea 250g", 5, 200, 16800, "250 g 罐装 tin",
     "杭州 Hangzhou"),
    ("CUP-002", "青瓷茶杯 Celadon tea cup", 3, 120, 4500, "120 ml", "龙泉 Longquan"),
    ("POT-003", "紫砂壶 Yixing clay teapot", 1, 30, 58000, "300 ml", "宜兴 Yixing"),
]


def seed_demo_data(engine: Engine) -> None:
    with session_scope(engine) as session:
        for sku, name, limit, stock, price, spec, origin in DEMO_PRODUCTS:
            insert_ignore(session, Product.__table__, [{
                "sku": sku, "name": name, "sample_limit": limit, "created_at": utcnow(),
                "price_cents": price, "specification": spec, "origin": origin}], ["sku"])
            insert_ignore(session, InventoryItem.__table__, [{
                "sku": sku, "on_hand": 0, "reserved": 0, "damaged": 0,
                "updated_at": utcnow()}], ["sku"])
            receive(session, sku, stock, "demo opening stock", "demo", f"demo-seed:{sku}")


def run_sample_demo(base_url: str, echo: Callable[[str], None], timeout: float = 120) -> str:
    """Walk one sample from application to archive through the HTTP API with the dev tokens,
    printing every step and the stock. Returns the sample id."""
    api = f"{base_url}/api/v1"

    def h(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer dev-{role}"}

    def stock() -> str:
        s = httpx.get(f"{api}/inventory/TEA-001", headers=h("ops")).raise_for_status().json()
        return f"stock TEA-001: on_hand {s['on_hand']}, reserved {s['reserved']}"

    def wait(what: str, probe: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.5)
        raise TimeoutError(f"gave up waiting for {what}")

    def task(sid: str, kind: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            items = httpx.get(f"{api}/tasks", params={"case_id": sid, "kind": kind},
                              headers=h("ops")).raise_for_status().json()["items"]
            return items[0] if items else None

        return wait(kind, probe)  # type: ignore[no-any-return]

    def decide(t: dict[str, Any], decision: str, **data: Any) -> None:
        r = httpx.post(f"{api}/tasks/{t['id']}/complete", headers=h(t["role"]),
                       json={"decision": decision, "data": data})
        r.raise_for_status()
        echo(f"  {t['kind']} → {decision} by dev-{t['role']}")

    run = uuid.uuid4().hex[:8]  # each run its own customer and parcel: the limit per
    # customer (SHOPFLOW_SAMPLE_LIMIT_PER_CUSTOMER) and the courier's tracking numbers hold
    r = httpx.post(f"{api}/samples", headers=h("channel"), json={
        "customer": {"id": f"demo-customer-{run}", "name": "李伟 Li Wei", "company": "West Lake Teahouse",
                     "email": "li.wei@example.com", "address": "杭州市西湖区 1 号"},
        "channel": "web", "items": [{"sku": "TEA-001", "quantity": 3}],
        "purpose": "evaluate for our tea house",
        "qualification_docs": [{"name": "business licence", "url": "https://example.com/lic.pdf"}],
    })
    r.raise_for_status()
    sid = r.json()["id"]
    echo(f"sample {sid} submitted ({r.json()['workflow_id']}); {stock()}")
    # The qualification document as a file (seed 000 1.2): the review approves only with one.
    httpx.post(f"{api}/samples/{sid}/documents", headers=h("channel"), files={"file": (
        "business-licence.pdf", b"%PDF-1.4\n%demo licence\n%%EOF\n", "application/pdf")},
        timeout=60,  # the case takes it once its first step ran (a cold worker: seconds)
    ).raise_for_status()
    echo("  qualification document uploaded: business-licence.pdf")
    decide(task(sid, "sample.preliminary_review"), "approve")
    review = task(sid, "sample.review")
    echo(f"  review context: credit {review['context']['credit_rating']}, "
         f"history {review['context']['purchase_history']}, "
         f"stock {review['context']['stock_available']}")
    decide(review, "approve", items=[{"sku": "TEA-001", "approved_quantity": 2}])
    echo(f"  approved 2 of 3; {stock()}")
    decide(task(sid, "sample.dispatch"), "shipped", courier="SF Express",
           tracking_no=f"SF{run}")
    echo(f"  shipped (registered with the courier); {stock()}")
    httpx.post(f"{api}/shipments/SF{run}/events", headers=h("warehouse"),
               json={"type": "delivered", "note": "signed by Li Wei"}).raise_for_status()
    echo("  the courier reports it delivered")
    echo("  waiting for the feedback request (SHOPFLOW_FEEDBACK_DELAY after delivery) …")

    def feedback_url() -> str | None:
        c = httpx.get(f"{api}/samples/{sid}", headers=h("ops")).raise_for_status().json()
        return (c.get("feedback") or {}).get("url")

    url = wait("the feedback request", feedback_url)
    token = url.rsplit("/", 1)[1]
    echo(f"  feedback form: {url}")
    httpx.post(f"{api}/feedback/{token}", json={"satisfaction": 5, "usage": "served to guests",
                                                "suggestions": "smaller tins"}).raise_for_status()
    echo("  customer answered 5/5")

    def archived() -> bool:
        c = httpx.get(f"{api}/samples/{sid}", headers=h("ops")).raise_for_status().json()
        return bool(c["status"] == "archived")

    wait("the archive", archived)
    echo(f"archived. dossier: {api}/samples/{sid}/dossier?format=html")
    return str(sid)
