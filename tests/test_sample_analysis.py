"""Seed 000 5.2: the sample analysis in the KPIs, the stored (quarterly) report and the
dashboard: applications with approval and rejection rates (per channel), the time from request
to shipment, conversion per product and per channel."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Case, Order
from shopflow.models.types import utcnow
from shopflow.services.reports import compute_kpis
from shopflow.settings import Settings
from shopflow.ui.kpis import figures_of, sample_rows
from shopflow.workflows.care import KpiReport
from shopflow.workflows.care_payloads import ReportRequest
from tests.helpers import auth
from tests.test_ui_pages import sign_in


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def seed(engine: Engine) -> None:
    with Session(engine) as s:
        requests: list[tuple[str, str, str, str, datetime, datetime | None, list[Any]]] = [
            # id, customer, channel, status, filed, shipped, items (sku, approved)
            ("A1", "cu-1", "web", "archived", at(4, 1), at(4, 1, 10), [("TEA", 2), ("CUP", 1)]),
            ("A2", "cu-2", "web", "open", at(4, 2), at(4, 3, 2), [("TEA", 1)]),
            ("A3", "cu-3", "phone", "archived", at(4, 5), at(4, 7), [("CUP", 1), ("TEA", 0)]),
            ("A4", "cu-4", "phone", "rejected", at(4, 6), None, [("TEA", None)]),
            ("A5", "cu-5", "email", "cancelled", at(4, 8), None, [("CUP", None)]),
            ("A6", "cu-6", "email", "open", at(4, 9), None, [("TEA", None)]),
            ("A7", "cu-7", "web", "rejected", at(5, 2), None, [("TEA", None)]),  # next quarter
        ]
        for sid, cust, channel, status, filed, shipped, items in requests:
            s.add(Case(id=sid, kind="sample", workflow_id=f"sample-{sid}", status=status,
                       stage="archived", customer_id=cust, created_at=filed, updated_at=filed,
                       data={"channel": channel,
                             "items": [{"sku": k, "requested_quantity": 2,
                                        "approved_quantity": q} for k, q in items],
                             "shipment": {"shipped_at": shipped.isoformat()} if shipped
                             else None}))
        # cu-1 ordered after its sample (TEA, CUP, web); cu-3 too (CUP, phone); cu-2 did not
        for no, cust, created in (("O1", "cu-1", at(4, 20)), ("O3", "cu-3", at(5, 1)),
                                  ("O2", "cu-2", at(3, 1))):
            s.add(Order(order_no=no, customer_id=cust, status="paid", total_cents=100,
                        created_at=created))
        s.commit()


def test_the_sample_analysis_per_product_and_channel(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as s:
        got = compute_kpis(s, at(4, 1), at(5, 1))["samples"]
    # A1-A6 filed in April: approved A1 A2 A3 (a quantity approved), rejected A4, A5
    # cancelled, A6 open; rates of the decided (4)
    assert (got["applications"], got["approved"], got["rejected"], got["cancelled"],
            got["open"]) == (6, 3, 1, 1, 1)
    assert (got["approval_rate"], got["rejection_rate"]) == (0.75, 0.25)
    assert got["applications_by_channel"]["phone"] == {
        "applications": 2, "approved": 1, "rejected": 1, "cancelled": 0, "open": 0,
        "approval_rate": 0.5, "rejection_rate": 0.5}
    assert got["applications_by_channel"]["email"]["approval_rate"] is None  # none decided
    # request to shipment: A1 10 h, A2 26 h, A3 48 h
    assert (got["time_to_ship_hours_median"], got["time_to_ship_hours_p90"]) == (26.0, 48.0)
    assert (got["shipped"], got["converted"]) == (3, 2)
    assert got["conversion_by_product"] == {
        "CUP": {"shipped": 2, "converted": 2, "conversion_rate": 1.0},
        "TEA": {"shipped": 2, "converted": 1, "conversion_rate": 0.5}}  # A3's TEA: 0 approved
    assert got["conversion_by_channel"] == {
        "phone": {"shipped": 1, "converted": 1, "conversion_rate": 1.0},
        "web": {"shipped": 2, "converted": 1, "conversion_rate": 0.5}}

    shown = {k.key: k for k in figures_of({"samples": got})}
    assert shown["sample_applications"].value == 6
    assert shown["sample_approval"].text() == "75.0%"
    assert shown["sample_time_to_ship"].text() == "26.0 h"
    rows = sample_rows({"samples": got})
    assert {"by": "product", "group": "CUP", "shipped": 2, "converted": 2,
            "conversion_rate": 1.0} in rows
    assert [r["group"] for r in rows if r["by"] == "channel"] == ["phone", "web"]


async def test_the_quarterly_report_shows_it(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    seed(engine)
    with tenv.auto_time_skipping_disabled():
        result = await client.execute_workflow(
            KpiReport.run, ReportRequest(kind="quarterly", as_of="2025-07-01"),
            id=f"report-{uuid.uuid4().hex[:6]}", task_queue=settings.task_queue)
    assert result.id == "quarterly-2025-Q2"
    html = await api.get("/api/v1/reports/quarterly-2025-Q2", headers=auth("ops"))
    assert html.status_code == 200, html.text
    assert "Request to shipment, median" in html.text and "Samples per product" in html.text
    csv = (await api.get("/api/v1/reports/quarterly-2025-Q2", params={"format": "csv"},
                         headers=auth("ops"))).text.splitlines()
    # Q2 2025: A1-A7 filed (A7 rejected in May): 3 approved of 5 decided
    for row in ("samples,applications,7", "samples,approval_rate,0.6",
                "samples,time_to_ship_hours_median,26.0",
                "samples,conversion_by_product.CUP.conversion_rate,1.0",
                "samples,conversion_by_channel.web.shipped,2",
                "samples,applications_by_channel.phone.approval_rate,0.5"):
        assert row in csv, row


async def test_the_dashboard_shows_it(api: httpx.AsyncClient, engine: Engine) -> None:
    with Session(engine) as s:
        now = utcnow()
        s.add(Case(id="D1", kind="sample", workflow_id="sample-D1", status="archived",
                   stage="archived", customer_id="cu-d", created_at=now - timedelta(days=2),
                   updated_at=now, data={"channel": "phone", "items": [
                       {"sku": "TEA", "approved_quantity": 1}],
                       "shipment": {"shipped_at": (now - timedelta(days=1)).isoformat()}}))
        s.commit()
    await sign_in(api, "dev-ops")
    page = None
    for _ in range(50):  # the board computes in the background; the page shows the latest
        page = await api.get("/ui/dashboard")
        if 'data-testid="sample-conversion"' in page.text:
            break
        await asyncio.sleep(0.1)
    assert page is not None and 'data-testid="sample-conversion"' in page.text
    assert "Sample request to shipment, median" in page.text and "24.0 h" in page.text
